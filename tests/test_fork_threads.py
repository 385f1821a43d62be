"""fork() from a worker thread (issue 13, case 4).

In the child the forking thread is the only one and its tid equals the child's pid, but it runs on
the worker's mmap'd stack, not on the `[stack]` mapping: it must be registered with its own bounds,
whether or not it had used a scope before the fork.  Each child also proves the scope erases there
(a sentinel planted inside a scope is gone, the same one planted without a scope is found).
"""
from __future__ import annotations

import os

import pytest

from tests._support.environment import run_python

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

# The child's checks; exit status 0 = all held, 1 = a check failed, 2 = a scope raised.
CHILD_CHECKS = """
import os, sys
from secretscope import do, enabled, secret
from secretscope._active import backend
from secretscope.diagnostics.probe import Probe
from tests._support.residue import KiB, stack_residue

probe = Probe(backend)


@secret
def decorated_enabled():
    return enabled()


def child_checks(tag):
    try:
        results = [decorated_enabled(), do(enabled)]
        with secret():
            results.append(enabled())
        results.append(not enabled())
        protected = stack_residue(probe, "decorator", 64 * KiB, 4096, tag)
        control = stack_residue(probe, "plain", 64 * KiB, 4096, tag + 1)
        ok = all(results) and protected == (0, 0) and control[0] > 0
        if not ok:
            print("child:", results, protected, control, file=sys.stderr)
        return 0 if ok else 1
    except BaseException as exc:
        print("child raised:", repr(exc), file=sys.stderr)
        return 2
"""


@pytest.mark.parametrize("used_before", [False, True], ids=["fresh-thread", "thread-used-a-scope"])
def test_fork_from_a_worker_thread(native, used_before):
    code = CHILD_CHECKS + f"""
import threading, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() of a multi-threaded process
statuses = []

def worker():
    if {used_before!r}:
        assert decorated_enabled()
    pid = os.fork()
    if pid == 0:
        os._exit(child_checks(0x6a))
    statuses.append(os.waitpid(pid, 0)[1])

t = threading.Thread(target=worker)
t.start()
t.join()
assert statuses and os.WIFEXITED(statuses[0]), statuses
sys.exit(os.WEXITSTATUS(statuses[0]))
"""
    r = run_python(code)
    assert r.returncode == 0, r.stderr


def test_multiprocessing_fork_pool_with_maxtasksperchild(native):
    # Pool(maxtasksperchild=1) replaces each worker after one task, forking from the pool's
    # worker-handler thread: every task after the first runs in a child of a worker thread.
    code = CHILD_CHECKS + """
import multiprocessing, warnings
warnings.simplefilter("ignore", DeprecationWarning)


def task(i):
    return child_checks(0x6c)


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1) as pool:
        results = pool.map(task, range(6), chunksize=1)
    print(results)
    sys.exit(0 if results == [0] * 6 else 1)
"""
    r = run_python(code)
    assert r.returncode == 0, r.stdout + r.stderr
