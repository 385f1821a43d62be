"""Installing the heap wrapper when the first scopes of a process start on several threads at once.

The wrapper is installed lazily, by the first scope.  Installing it copies the current allocator
into the wrapper's table (a ctypes copy, which releases the GIL) and then puts the wrapper on
top.  Two threads doing that at once could copy the wrapper itself as its own inner allocator:
every later free of that domain then loops forever (or recurses until the stack overflows).  It
happened intermittently in test_heap's stress test (a hang on 3.15, a crash on 3.13); here the
copy is slowed down and the threads' first scopes staggered, so that they certainly overlap.
"""
from __future__ import annotations

import subprocess
import textwrap

import pytest

from tests._support.environment import run_python

CODE = textwrap.dedent("""
    import ctypes, gc, threading, time
    from secretscope import do
    from secretscope._active import backend
    from secretscope import _heap
    from secretscope.diagnostics.memory_scan import MemoryScanner, make_bytes, bytes_sentinel_masked
    from secretscope.diagnostics.probe import Probe

    heap = backend.heap
    assert not heap.installed
    real = ctypes.memmove
    def slow_memmove(*args):
        time.sleep(0.05)              # GIL released mid-installation: the other threads go on
        return real(*args)
    _heap.ctypes.memmove = slow_memmove
    def first_scope(delay):
        time.sleep(delay)
        do(lambda: bytes(64))
    # the first thread installs domain 0 at ~50 ms and domain 1 at ~100 ms; the others start
    # their first scope in between
    threads = [threading.Thread(target=first_scope, args=(d,)) for d in (0, 0.06, 0.07, 0.08)]
    for t in threads: t.start()
    for t in threads: t.join()
    _heap.ctypes.memmove = real
    for i, domain in enumerate(_heap.DOMAINS):
        current, inner = _heap.current_allocator(domain), heap.domains[i]
        assert (current.ctx, current.malloc) == (heap.ours[i].ctx, heap.ours[i].malloc), "not installed"
        assert inner.malloc not in (heap.ours[i].malloc, 0), "the wrapper wraps itself"

    scanner = MemoryScanner(Probe(backend))   # and it zeroes, and frees go through
    obj = do(make_bytes, 7, 4096)
    del obj
    gc.collect()
    assert scanner.count_process(bytes_sentinel_masked(7)) == 0
    print("ok")
""")


def test_first_scopes_on_several_threads_install_the_wrapper_once(native):
    if not native.heap.available:
        pytest.skip(native.heap.reason)
    try:
        r = run_python(CODE, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the process hung: the heap wrapper became its own inner allocator")
    assert r.returncode == 0 and r.stdout.strip() == "ok", f"exit {r.returncode}\n{r.stdout}{r.stderr}"
