"""End to end, guarantee 3 with real libraries: PyNaCl, argon2-cffi, pycryptodome, bcrypt,
cryptography and hashlib/hmac/blake2 keep key material in memory they get from libc's malloc.

A child (tests/_support/native_libs_child.py) forms a key from two masks, uses it with the library inside
a scope (or, for the control, without one), drops everything and collects; then the parent,
which knows the key and computes what derives from it, reads the child's writable memory through
/proc/<pid>/mem and counts 16-byte windows of each.  With a scope nothing may be found; without
one, copies must be found wherever the issue saw them (docs/guarantees.md, issue 12).

The libraries are the `test` extra of pyproject.toml.  Where one is not installed the test skips
saying so, except in CI (CI set), where a library of the extra that is missing fails.
"""
from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import sys
from typing import Dict, List, Tuple

import pytest

from tests._support.environment import ROOT, SUPPORT, pythonpath, skip_locally_fail_in_ci
from tests._support.native_libs import CASES

CHILD = SUPPORT / "native_libs_child.py"


def _writable_mappings(pid: int) -> List[Tuple[int, int, str]]:
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for row in f.read().splitlines():
            parts = row.split()
            name = parts[5] if len(parts) > 5 else ""
            if parts[1].startswith("rw") and name not in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                out.append((lo, hi, name or "[anon]"))
    return out


def _windows(value: bytes) -> List[bytes]:
    return [value[i:i + 16] for i in range(0, max(1, len(value) - 15), 8)]


def search_child(pid: int, targets: Dict[str, bytes]) -> Dict[str, List[str]]:
    """name -> mappings where a 16-byte window of that target was found."""
    hits: Dict[str, List[str]] = {name: [] for name in targets}
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for lo, hi, label in _writable_mappings(pid):
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            for name, value in targets.items():
                if any(w in data for w in _windows(value)):
                    hits[name].append(f"{label}@{lo:#x}")
    return hits


def run_case(name: str, scoped: bool) -> Tuple[Dict[str, List[str]], str]:
    key = secrets.token_bytes(32)
    m1 = secrets.token_bytes(32)
    m2 = bytes(a ^ b for a, b in zip(key, m1))
    env = dict(os.environ, PYTHONPATH=pythonpath())
    child = subprocess.Popen([sys.executable, str(CHILD), name, str(int(scoped)), m1.hex(), m2.hex()],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, cwd=str(ROOT))
    try:
        assert child.stdout is not None and child.stdin is not None
        line = child.stdout.readline()
        if not line.startswith("ready"):
            child.kill()
            _, err = child.communicate(timeout=30)
            pytest.fail(f"child failed: {line}{err}")
        hits = search_child(child.pid, CASES[name].targets(key))
        child.stdin.write("\n")
        child.stdin.flush()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return hits, line.strip()


def _known_missing() -> Dict[str, str]:
    """What tools/run_matrix.py could not install for this interpreter, and why."""
    raw = os.environ.get("SECRETSCOPE_MISSING_TEST_LIBS", "")
    return dict(item.split("=", 1) for item in raw.split(";") if "=" in item)


def _require(name: str) -> None:
    case = CASES[name]
    if importlib.util.find_spec(case.module) is None:
        known = _known_missing().get(case.package or "")
        if known:
            pytest.skip(known)
        message = f"{case.package} (pyproject.toml's test extra) is not installed for {sys.executable}"
        skip_locally_fail_in_ci(message, message + ", and tools/run_matrix.py did not report it uninstallable")


@pytest.mark.parametrize("name", CASES)
def test_scoped_run_leaves_no_key_material(native, name):
    _require(name)
    if not native.native_heap.available:
        pytest.skip(native.native_heap.reason)
    hits, line = run_case(name, scoped=True)
    assert line == "ready 1", f"protection().native_heap is False in the child: {line}"
    found = {k: v for k, v in hits.items() if v}
    assert not found, f"{name}: key material left after the scope: {found}"


@pytest.mark.parametrize("name", CASES)
def test_control_without_a_scope_finds_copies(native, name):
    _require(name)
    if not CASES[name].leaves_copies():
        pytest.skip(f"{name} leaves no copy even without a scope on this interpreter (nothing to control)")
    hits, _ = run_case(name, scoped=False)
    assert any(hits.values()), f"negative control: {name} should leave key material without a scope"
