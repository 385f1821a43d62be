"""Shared fixtures: the active backend and the residue probe.

On a platform with a native backend, falling back is a test failure, not a
skip: a silently unprotected run must never look green.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

import secretscope
from secretscope._platform import native_unavailable_reason
from secretscope._active import backend as _backend

ROOT = Path(__file__).resolve().parent.parent
IN_CI = bool(os.environ.get("CI"))
NATIVE_EXPECTED = native_unavailable_reason() is None and os.environ.get("SECRETSCOPE_BACKEND", "auto") != "fallback"


def pytest_report_header(config: pytest.Config) -> str:
    return f"secretscope: {secretscope.protection()}"


@pytest.fixture(scope="session")
def backend():
    return _backend


@pytest.fixture(scope="session")
def native(backend):
    if backend.name != "native":
        if NATIVE_EXPECTED:
            pytest.fail(f"native backend expected on this platform but not loaded: {backend.protection().reason}")
        pytest.skip(f"no native backend here: {backend.protection().reason}")
    return backend


@pytest.fixture(scope="session")
def probe(native):
    from secretscope.diagnostics.probe import Probe
    return Probe(native)


def run_python(code: str, env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter (this one), with the package importable."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd or ROOT), full_env.get("PYTHONPATH", "")]))
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, cwd=str(cwd or ROOT), timeout=timeout)
