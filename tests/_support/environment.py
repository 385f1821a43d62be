"""Where the suite runs: the repository root, whether this is CI, whether the native backend is
expected, and a fresh interpreter with the package importable."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, NoReturn, Optional

import pytest

from secretscope._platform import native_unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent
IN_CI = bool(os.environ.get("CI"))
NATIVE_EXPECTED = native_unavailable_reason() is None and os.environ.get("SECRETSCOPE_BACKEND", "auto") != "fallback"


def skip_locally_fail_in_ci(reason: str, in_ci: Optional[str] = None) -> NoReturn:
    """A prerequisite is missing: CI must have it (a failure there, saying in_ci when given),
    elsewhere the test skips with the reason."""
    __tracebackhide__ = True  # pytest reports the caller's line, not this one
    if IN_CI:
        pytest.fail(in_ci or reason)
    pytest.skip(reason)


def pythonpath(first: Path = ROOT) -> str:
    """PYTHONPATH with `first` (the repository: secretscope and tests._support) before the caller's."""
    return os.pathsep.join(filter(None, [str(first), os.environ.get("PYTHONPATH", "")]))


def run_python(code: str, env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter (this one), with the package importable."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = pythonpath(cwd or ROOT)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, cwd=str(cwd or ROOT), timeout=timeout)
