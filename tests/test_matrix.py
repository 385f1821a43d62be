"""The support matrix: docs/platforms.md against what tools/run_matrix.py ran, and the fallback
on other Python implementations (PyPy), for real.

The table check needs the result file of a matrix run (.cache/matrix/results.json, or
SECRETSCOPE_MATRIX_RESULTS): without one it skips on a developer's machine and fails in CI.
Inside a matrix run (SECRETSCOPE_MATRIX_ENTRY set) it skips: run_matrix.py --check-docs makes
the same check once every interpreter has run.

The PyPy test runs the interpreter named by SECRETSCOPE_PYPY (run_matrix.py sets it to the
Debian unstable pypy3 it prepares), else the one run_matrix.py left in .cache/sysroots, else
pypy3 on PATH.  Without any: a skip here, a failure in CI.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._support.environment import IN_CI, ROOT, skip_locally_fail_in_ci


def _run_matrix_module():
    if "run_matrix" in sys.modules:
        return sys.modules["run_matrix"]
    spec = importlib.util.spec_from_file_location("run_matrix", ROOT / "tools" / "run_matrix.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_matrix"] = module  # dataclasses looks the module up while defining Entry
    spec.loader.exec_module(module)
    return module


def test_the_whole_matrix_passes():
    """Every interpreter of the support matrix, each running the whole suite: CPython 3.10-3.15
    on x86-64, PyPy's fallback subset, and CPython 3.11 and 3.15 on AArch64 under emulation (SVE
    off, 128 and 512 bits); then docs/platforms.md's table against the results.

    It downloads interpreters and takes minutes, so it runs in CI (which runs the README's test
    command) or when SECRETSCOPE_RUN_MATRIX=1; elsewhere it skips with that reason."""
    if os.environ.get("SECRETSCOPE_MATRIX_ENTRY") or os.environ.get("SECRETSCOPE_ARM64_EMULATED"):
        pytest.skip("inside a matrix run or an emulated run: the outer run does this")
    if not (IN_CI or os.environ.get("SECRETSCOPE_RUN_MATRIX")):
        pytest.skip("the matrix runs in CI or with SECRETSCOPE_RUN_MATRIX=1 (python3 tools/run_matrix.py "
                    "--arch all --check-docs)")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "run_matrix.py"), "--arch", "all", "--check-docs"],
                          cwd=ROOT, capture_output=True, text=True, timeout=3600)
    summary = [line for line in proc.stdout.splitlines() if line.startswith("matrix:")]
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert summary and " 0 failed" in summary[-1], summary


def test_support_table_matches_the_matrix_run():
    if os.environ.get("SECRETSCOPE_MATRIX_ENTRY") or os.environ.get("SECRETSCOPE_ARM64_EMULATED"):
        pytest.skip("inside a matrix run: tools/run_matrix.py --check-docs checks the table after every "
                    "interpreter has run")
    rm = _run_matrix_module()
    path = Path(os.environ.get("SECRETSCOPE_MATRIX_RESULTS") or rm.DEFAULT_RESULTS)
    results = rm.load_results(path)
    if results is None:
        skip_locally_fail_in_ci(f"no matrix results in {path}: run python3 tools/run_matrix.py first")
    problems = rm.docs_problems(results, rm.DOCS.read_text())
    assert problems == [], "\n".join(problems)
    assert [r["name"] for r in results["entries"] if r["status"] == "failed"] == []


def test_support_table_generation_keeps_other_architectures():
    """--write-docs/--check-docs replace the rows of the architectures that ran, no others."""
    rm = _run_matrix_module()
    doc = "\n".join([
        "intro", rm.BEGIN, rm.HEADER,
        "| x86-64 | CPython 3.9 | default (GIL) | native | yes | yes | yes | yes | whole suite: passes |",
        "| AArch64 | CPython 3.11 | default (GIL), QEMU_CPU=max | native | yes | yes | no | no | whole suite: passes |",
        rm.END, "outro"])
    entry = {"name": "cpython-3.12", "arch": "amd64", "kind": "pyenv", "label": "CPython 3.12", "suite": "full",
             "status": "passed", "interpreter": {"version": "3.12.1", "implementation": "cpython",
                                                 "free_threaded": False},
             "protection": {"backend": "native", "registers": True, "stack": True, "heap": True,
                            "signal_stacks": True, "reason": None}}
    results = {"arches": ["amd64"], "order": ["cpython-3.12"], "entries": [entry]}
    problems = rm.docs_problems(results, doc)
    assert "  - | x86-64 | CPython 3.9 | default (GIL) | native | yes | yes | yes | yes | whole suite: passes |" in problems
    assert not any("AArch64" in p for p in problems)
    want = rm.expected_rows(results, rm.doc_rows(doc))
    assert want == ["| x86-64 | CPython 3.12 | default (GIL) | native | yes | yes | yes | yes | whole suite: passes |",
                    "| AArch64 | CPython 3.11 | default (GIL), QEMU_CPU=max | native | yes | yes | no | no | "
                    "whole suite: passes |"]


def _pypy() -> str:
    python = os.environ.get("SECRETSCOPE_PYPY")
    if python:
        return python
    stamp = ROOT / ".cache" / "sysroots" / "amd64-unstable-pypy3" / ".matrix-pypy3.json"
    try:
        python = json.loads(stamp.read_text())["python"]
        if os.access(python, os.X_OK):
            return python
    except (OSError, ValueError, KeyError):
        pass
    python = shutil.which("pypy3")
    if python is None:
        skip_locally_fail_in_ci("no PyPy here: python3 tools/run_matrix.py --only pypy3 prepares Debian unstable's "
                     "pypy3 (or: apt-get install pypy3, or set SECRETSCOPE_PYPY)")
    return python


def test_pypy_gets_the_fallback_and_says_why():
    pypy = _pypy()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETSCOPE_")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONNOUSERSITE"] = "1"
    child = "from tests._support.fallback_child import main; main()"
    r = subprocess.run([pypy, "-c", child], capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["impl"] == "pypy"
    assert got["backend"] == "fallback" and got["claims"] == [False, False, False, False]
    assert got["reason"] == "the native backend needs CPython; this is pypy"
    assert got["calls"] == [[42, False], [2, False]] and got["inside"] is False and got["enabled"] is False

    # SECRETSCOPE_REQUIRE_NATIVE=1 refuses, naming the platform and the reason
    r = subprocess.run([pypy, "-c", "import secretscope"], capture_output=True, text=True,
                       env={**env, "SECRETSCOPE_REQUIRE_NATIVE": "1"}, cwd=str(ROOT), timeout=300)
    assert r.returncode != 0 and "NativeUnavailableError" in r.stderr
    assert "linux-" in r.stderr and "this is pypy" in r.stderr

    # the self-test CLI reports the fallback and exits 0
    r = subprocess.run([pypy, "-m", "secretscope"], capture_output=True, text=True, env=env, cwd=str(ROOT),
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "for PyPy" in r.stdout and "backend   fallback" in r.stdout and "this is pypy" in r.stdout


@pytest.mark.skipif(sys.implementation.name == "cpython", reason="runs on other implementations (the PyPy suite)")
def test_this_implementation_gets_the_fallback():
    import secretscope
    p = secretscope.protection()
    assert p.backend == "fallback" and not (p.registers or p.stack or p.heap or p.signal_stacks)
    assert sys.implementation.name in (p.reason or "")
