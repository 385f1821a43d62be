"""Subinterpreters (issue 13, case 1).

The native state (the ss_api table, the thread slots, the heap wrapper) is process-wide and owned
by the main interpreter: a subinterpreter importing secretscope must not load or refill it (it
used to, and the main interpreter then called the dead interpreter's objects: garbage errors
while it lived, a segfault in scope_begin once it was destroyed).  In a subinterpreter every
scope raises SecretscopeError, `enabled()` is False and `protection()` says why.

Each test runs a child interpreter process that creates a subinterpreter of one kind (legacy,
through _testcapi.run_in_subinterp or the _interpreters/_xxsubinterpreters modules; isolated, with
its own GIL, where the version has it), imports secretscope there and tries every kind of scope,
keeps it alive while new main-interpreter threads enter scopes, destroys it, and then enters
scopes on new threads again.
"""
from __future__ import annotations

import sys

import pytest

from tests._support.environment import run_python

# Runs inside the subinterpreter; raises (making the run fail) if any check fails.
SUB_CODE = r'''
import os, sys
import secretscope
from secretscope import SecretscopeError, enabled, protection

p = protection()
assert p.backend == "fallback" and not (p.registers or p.stack or p.heap or p.signal_stacks), p
assert "subinterpreter" in p.reason, p.reason
assert not enabled()
# nothing native was loaded here, and the allocator wrapper was not installed from here
assert "secretscope._native" not in sys.modules and "secretscope._heap" not in sys.modules

from tests._support.scope_kinds import ATTEMPTS
for name, attempt in ATTEMPTS.items():
    try:
        attempt()
    except SecretscopeError as exc:
        assert "main interpreter" in str(exc) and "SECRETSCOPE_BACKEND=fallback" in str(exc), str(exc)
    else:
        raise AssertionError(f"a {name} scope ran in a subinterpreter")
os.write(1, b"SUB-OK\n")
'''

# The main interpreter's side; KIND and MAIN_FIRST are prepended.
MAIN_CODE = r'''
import os, sys, threading

def scopes_work():
    from secretscope import do, enabled, secret
    out = [secret(enabled)(), do(enabled)]
    with secret():
        out.append(enabled())
    return all(out) and not enabled()

def on_new_thread():
    box = []
    t = threading.Thread(target=lambda: box.append(scopes_work()))
    t.start()
    t.join()
    assert box == [True], box

def table_is_main():
    # the registration callback in ss_api is still the main interpreter's
    import ctypes
    from secretscope._active import backend
    from secretscope._native import _API_SLOTS
    api = (ctypes.c_void_p * len(_API_SLOTS)).in_dll(backend.lib, "ss_api")
    assert api[_API_SLOTS.index("register_cb")] == id(backend._register_cb)

if MAIN_FIRST:
    assert scopes_work()

def run_sub(code, while_alive):
    if KIND == "testcapi":
        import _testcapi
        assert _testcapi.run_in_subinterp(code) == 0, "the subinterpreter's checks failed"
        return
    if sys.version_info >= (3, 13):
        import _interpreters as interpreters
        interp = interpreters.create(KIND)
        run = lambda: interpreters.exec(interp, code)
    else:
        import _xxsubinterpreters as interpreters
        interp = interpreters.create(isolated=(KIND == "isolated")) if sys.version_info >= (3, 12) else interpreters.create()
        run = lambda: interpreters.run_string(interp, code)
    try:
        failure = run()
        assert failure is None, f"the subinterpreter's checks failed: {failure}"
        while_alive()
    finally:
        interpreters.destroy(interp)

def while_alive():
    for _ in range(3):
        on_new_thread()
    if MAIN_FIRST:
        table_is_main()

run_sub(SUB_CODE, while_alive)
# destroyed: new threads of the main interpreter register, the main thread keeps working
for _ in range(3):
    on_new_thread()
assert scopes_work()
table_is_main()
print("MAIN-OK")
'''

KINDS = ["testcapi", "legacy"] + (["isolated"] if sys.version_info >= (3, 12) else [])


def _available(kind: str) -> bool:
    try:
        if kind == "testcapi":
            import _testcapi
            return hasattr(_testcapi, "run_in_subinterp")
        __import__("_interpreters" if sys.version_info >= (3, 13) else "_xxsubinterpreters")
        return True
    except ImportError:
        return False


def _run_main(kind: str, main_first: bool, sub_code: str) -> None:
    """MAIN_CODE in a child interpreter process, running sub_code in a subinterpreter of `kind`;
    both sides must report success."""
    if not _available(kind):
        pytest.skip(f"this CPython has no {kind} subinterpreter API (_testcapi/_interpreters not built)")
    code = f"KIND = {kind!r}\nMAIN_FIRST = {main_first!r}\nSUB_CODE = {sub_code!r}\n" + MAIN_CODE
    r = run_python(code)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert r.stdout.split() == ["SUB-OK", "MAIN-OK"], r.stdout + r.stderr


@pytest.mark.parametrize("main_first", [True, False], ids=["main-imports-first", "sub-imports-first"])
@pytest.mark.parametrize("kind", KINDS)
def test_subinterpreter_never_touches_the_native_state(native, kind, main_first):
    _run_main(kind, main_first, SUB_CODE)


def test_required_native_fails_in_a_subinterpreter(native):
    if not _available("testcapi"):
        pytest.skip("this CPython has no _testcapi.run_in_subinterp")
    code = r'''
import _testcapi, secretscope
assert secretscope.protection().backend == "native"
sub = """
import os
try:
    import secretscope
except ImportError as exc:  # NativeUnavailableError is an ImportError
    assert "SECRETSCOPE_REQUIRE_NATIVE=1" in str(exc) and "subinterpreter" in str(exc), str(exc)
    os.write(1, b"REFUSED\\n")
"""
assert _testcapi.run_in_subinterp(sub) == 0
assert secretscope.do(secretscope.enabled)
'''
    r = run_python(code, env={"SECRETSCOPE_REQUIRE_NATIVE": "1"})
    assert r.returncode == 0 and r.stdout.split() == ["REFUSED"], r.stdout + r.stderr


# Uses scopes in the subinterpreter whatever they do there: what is checked is only that the main
# interpreter is unharmed (before the fix: a segfault in scope_begin once it was destroyed).
SUB_CODE_ANY_OUTCOME = r'''
import secretscope
for attempt in (lambda: secretscope.secret(secretscope.enabled)(), lambda: secretscope.do(secretscope.enabled)):
    try:
        attempt()
    except secretscope.SecretscopeError:
        pass
import os
os.write(1, b"SUB-OK\n")
'''


@pytest.mark.parametrize("kind", KINDS)
def test_main_interpreter_survives_a_destroyed_subinterpreter(native, kind):
    _run_main(kind, True, SUB_CODE_ANY_OUTCOME)
