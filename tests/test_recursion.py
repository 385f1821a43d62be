"""Runaway recursion through scopes ends in RecursionError, not in a crash (issue 13, case 6).

Each nesting level of a scope costs a little C stack on top of what the interpreter's own call
costs; the interpreter's recursion checks (the recursion limit, and from 3.12 its C-stack checks)
must still stop a runaway recursion before the thread's guard page.  A thread with a small stack
(threading.stack_size) at the default recursion limit is where this shows: with a 2 KiB mincore
vector per level on the stack, 3.10-3.13 crashed there, and 3.14 raised at a third of the depth
that functools.partial (a C-level call of the same kind) reaches.

The recursion runs in a child process, so that a crash fails the test instead of killing pytest.
"""
from __future__ import annotations

import json

import pytest

from tests._support.environment import run_python

CHILD = r"""
import functools, json, sys, threading
from secretscope import do, secret

def plain(n):
    return 0 if n == 0 else 1 + call(n - 1)

def deepest(f):
    # the deepest n for which f(n) returns; it must end in RecursionError
    global call
    call = f
    n, last_ok = 16, 0
    while n < 10 ** 6:
        try:
            f(n)
        except RecursionError:
            break
        last_ok, n = n, n * 2
    else:
        return None  # never stopped
    lo, hi = last_ok, n
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        try:
            f(mid)
            lo = mid
        except RecursionError:
            hi = mid
    return lo

kinds = {
    "partial": functools.partial(plain),
    "decorated": secret(plain),
    "do": functools.partial(do, plain),
}
result = {}
def run():
    for name, f in kinds.items():
        result[name] = deepest(f)
threading.stack_size(STACK_MIB << 20)
t = threading.Thread(target=run)
t.start()
t.join()
print(json.dumps(result))
"""


@pytest.mark.parametrize("stack_mib", [1, 2])
def test_recursion_through_scopes_raises_recursion_error(native, stack_mib):
    proc = run_python(CHILD.replace("STACK_MIB", str(stack_mib)), timeout=300)
    # a crash (SIGSEGV on the guard page) shows as a negative return code and no output
    assert proc.returncode == 0, f"child died with {proc.returncode}: {proc.stderr[-2000:]}"
    depths = json.loads(proc.stdout.strip().splitlines()[-1])
    assert depths["partial"], depths  # the reference: a C-level call per level
    for kind in ("decorated", "do"):
        assert depths[kind] is not None, f"{kind}: the recursion never stopped ({depths})"
    # comparable to functools.partial: the scope's own frame costs little per level.  (`do` is
    # reached through a partial and is a builtin, which 3.10/3.11 count against the recursion
    # limit as a second call per level: it stops at about half the depth, by RecursionError.)
    assert depths["decorated"] >= 0.8 * depths["partial"], depths
