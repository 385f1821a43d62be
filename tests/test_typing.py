"""The API as type checkers see it: mypy --strict and pyright strict flag exactly the lines of
tests/typecheck/usage.py marked `# expect-error` (wrong arguments or result of a @secret function,
of its __wrapped__, of a bound method, of do(); `async with secret():`) and accept every other
use (`__wrapped__`, `__name__`, methods, generators, coroutines, `with secret(): return ...`).

The checkers come with the `lint` extra: without it this skips, except in CI on the main
interpreter (.ci/run installs it), where it fails.  The package itself is checked by .ci/run.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._support.environment import ROOT, skip_locally_fail_in_ci

USAGE = ROOT / "tests" / "typecheck" / "usage.py"


def expected_lines() -> set[int]:
    lines = USAGE.read_text().splitlines()
    return {number for number, line in enumerate(lines, 1) if "# expect-error" in line}


def _require(module: str) -> None:
    if os.environ.get("SECRETSCOPE_MATRIX_ENTRY") or os.environ.get("SECRETSCOPE_ARM64_EMULATED"):
        pytest.skip("type checking runs once, on the main interpreter")
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed: pip install '.[lint]'"
        skip_locally_fail_in_ci(message)


def _flagged(output: str, pattern: str) -> set[int]:
    return {int(m.group(1)) for m in re.finditer(pattern, output)}


def test_expected_lines_are_marked():
    assert len(expected_lines()) >= 7


def test_mypy_flags_exactly_the_marked_lines(tmp_path: Path):
    _require("mypy")
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path),
                        "--python-version", "3.10", str(USAGE)], cwd=str(ROOT), capture_output=True, text=True,
                       timeout=600)
    flagged = _flagged(r.stdout, r"usage\.py:(\d+): error")
    assert flagged == expected_lines(), r.stdout + r.stderr


def test_pyright_flags_exactly_the_marked_lines():
    _require("basedpyright")
    exe = shutil.which("basedpyright", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                              os.environ.get("PATH", "")]))
    assert exe, "basedpyright is importable but its command is not on PATH"
    # pyproject.toml's [tool.basedpyright]: strict, Python 3.10
    r = subprocess.run([exe, str(USAGE)], cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    flagged = _flagged(r.stdout, r"usage\.py:(\d+):\d+ - error")
    assert flagged == expected_lines(), r.stdout + r.stderr
