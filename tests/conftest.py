"""Shared fixtures: the active backend, the residue probe and the memory scanner.

On a platform with a native backend, falling back is a test failure, not a
skip: a silently unprotected run must never look green.  The helpers the tests
import are the package tests._support (environment, residue, ...).
"""
from __future__ import annotations

import pytest

import secretscope
from secretscope._active import backend as _backend
from tests._support.environment import NATIVE_EXPECTED


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


@pytest.fixture(scope="module")
def scanner(probe):
    """A MemoryScanner over this process (one per test module: it holds /proc/self/mem open)."""
    from secretscope.diagnostics.memory_scan import MemoryScanner
    s = MemoryScanner(probe)
    yield s
    s.mem.close()


@pytest.fixture(scope="module")
def heap_scanner(native, scanner):
    """The scanner, where the heap guarantee is available (skips with the reason where not)."""
    if not native.heap.available:
        pytest.skip(native.heap.reason)
    return scanner
