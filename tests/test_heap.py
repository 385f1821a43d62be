"""Guarantee 3: every PyMem/PyObject block allocated inside a scope is zeroed when it is freed.

bytes, str, bytearray and int objects holding a sentinel are created inside a scope (the pattern
is built there, from a masked form), dropped and collected; then the freed memory and the whole
process's writable memory are scanned.  The same objects created without a scope leave the
sentinel behind (the control: the test can fail).
"""
from __future__ import annotations

import gc
import itertools
import sys
import textwrap
import threading

import pytest

from secretscope.diagnostics.memory_scan import (bytes_sentinel_masked, int_sentinel_masked, make_bytes,
                                  make_int, writable_mappings)
from secretscope import do, protection, secret
from tests._support.environment import run_python

SIZES = {"small": 64, "medium": 4096, "large": 1 << 20}  # < pymalloc's 512, > 512, > mmap threshold
_tags = itertools.count(0xC0)  # tag ranges per test family: see tests/_support/residue.py




def _factory(kind):
    if kind == "bytes":
        return make_bytes, bytes_sentinel_masked
    if kind == "str":
        return (lambda tag, size: make_bytes(tag, size).decode("latin-1")), bytes_sentinel_masked
    if kind == "bytearray":
        return (lambda tag, size: bytearray(make_bytes(tag, size))), bytes_sentinel_masked
    return make_int, int_sentinel_masked


def _footprint(obj):
    return id(obj), sys.getsizeof(obj)


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("kind", ["bytes", "str", "bytearray", "int"])
@pytest.mark.parametrize("scoped", [False, True], ids=["control", "scoped"])
def test_objects_are_zeroed_when_freed(heap_scanner, native, kind, size, scoped):
    tag = next(_tags)
    make, word = _factory(kind)
    copies = 1 if size >= 1 << 20 else 64  # several: the scan's own allocations may reuse freed blocks
    zeroed_before = native.heap.stats[1]
    objs = [do(make, tag, size) if scoped else make(tag, size) for _ in range(copies)]
    assert heap_scanner.count_process(word(tag)) >= copies  # there while alive
    obj = objs[0]
    address, footprint = _footprint(obj)
    buffer = None
    if kind == "bytearray":
        import ctypes
        buffer = (ctypes.addressof((ctypes.c_char * len(obj)).from_buffer(obj)), len(obj))
    mappings = list(writable_mappings())
    del obj, objs
    gc.collect()
    freed = heap_scanner.count(address, address + footprint, word(tag))
    if buffer:
        freed += heap_scanner.count(buffer[0], buffer[0] + buffer[1], word(tag))
    anywhere = heap_scanner.count_process(word(tag), mappings)
    if scoped:
        assert (freed, anywhere) == (0, 0), f"{kind}: sentinel left in freed memory ({freed}) / process ({anywhere})"
        assert native.heap.stats[1] - zeroed_before >= size  # the wrapper zeroed at least the object
    elif size < (128 << 10):
        # below the mmap threshold the freed block stays in the process with its contents
        assert anywhere > 0, "negative control: the sentinel should survive without a scope"
    else:
        # above it, glibc may give the block back to the kernel: the control is that nothing
        # recorded or zeroed it
        assert native.heap.stats[1] - zeroed_before < size


@pytest.mark.parametrize("scoped", [False, True], ids=["control", "scoped"])
def test_bytearray_grown_inside_a_scope_leaves_no_copy(heap_scanner, scoped):
    tag = next(_tags)

    def grow():
        ba = bytearray()
        chunk = make_bytes(tag, 64)
        for _ in range(2000):  # reallocated many times, small to ~128 KiB
            ba += chunk
        return ba

    ba = do(grow) if scoped else grow()
    live = heap_scanner.count_process(bytes_sentinel_masked(tag))
    expected = len(ba) // 8
    if scoped:
        assert live == expected, f"{live - expected} copies of the secret outside the live bytearray"
    else:
        assert live > expected, "negative control: reallocation should leave old copies behind"
    del ba
    gc.collect()
    after = heap_scanner.count_process(bytes_sentinel_masked(tag))
    assert (after == 0) if scoped else (after > 0)


def test_freed_much_later_on_another_thread(heap_scanner):
    tag = next(_tags)
    box = {}

    def producer():
        box["obj"] = do(make_bytes, tag, 4096)
        box["small"] = do(make_int, tag, 64)

    t = threading.Thread(target=producer)
    t.start()
    t.join()
    threading.Event().wait(0.3)
    assert heap_scanner.count_process(bytes_sentinel_masked(tag)) >= 512

    def consumer():  # not in a scope, on yet another thread
        box.clear()
        gc.collect()

    t = threading.Thread(target=consumer)
    t.start()
    t.join()
    assert heap_scanner.count_process(bytes_sentinel_masked(tag)) == 0
    assert heap_scanner.count_process(int_sentinel_masked(tag)) == 0


def test_realloc_of_an_untracked_block_inside_a_scope_becomes_tracked(heap_scanner):
    tag = next(_tags)
    ba = bytearray(16)  # allocated outside the scope

    @secret
    def fill():
        ba.extend(make_bytes(tag, 8192))  # realloc inside the scope  # noqa: F821 (the cell, deleted below)

    fill()
    del ba
    gc.collect()
    assert heap_scanner.count_process(bytes_sentinel_masked(tag)) == 0


def test_protection_reports_heap(native):
    p = protection()
    assert p.heap is native.heap.available
    if p.heap:
        assert "heap" not in (p.reason or "")


TRACEMALLOC_ORDERS = {
    "start-scope-stop-scope": "tm.start(); check(); tm.stop(); check()",
    "scope-start-scope-stop-scope": "check(); tm.start(); check(); tm.stop(); check()",
    "start-keep-stop-free": "tm.start(); keep = do(make_bytes, 7, 4096); tm.stop(); del keep; gc.collect(); assert scan() == 0",
    "scope-start-keep-stop-free": "check(); tm.start(); keep = do(make_bytes, 7, 4096); tm.stop(); del keep; gc.collect(); assert scan() == 0",
    "start-stop-start-scope-stop": "tm.start(); tm.stop(); tm.start(); check(); tm.stop(); check()",
}

_PRELUDE = textwrap.dedent("""
    import gc, sys, tracemalloc as tm
    from secretscope.diagnostics.memory_scan import MemoryScanner, make_bytes, bytes_sentinel_masked
    from secretscope import do, protection
    from secretscope._active import backend
    from secretscope.diagnostics.probe import Probe
    scanner = MemoryScanner(Probe(backend))
    scan = lambda: scanner.count_process(bytes_sentinel_masked(7))
    def check():
        obj = do(make_bytes, 7, 4096)
        assert scan() >= 512
        del obj
        gc.collect()
        n = scan()
        assert n == 0, n
""")


@pytest.mark.parametrize("order", TRACEMALLOC_ORDERS.values(), ids=TRACEMALLOC_ORDERS.keys())
def test_tracemalloc_in_every_order(native, order):
    if not native.heap.available:
        pytest.skip(native.heap.reason)
    r = run_python(_PRELUDE + order + "\nassert protection().heap, protection().reason\nprint('ok')")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_bypass_is_detected_and_stale_records_are_dropped(native):
    if not native.heap.available:
        pytest.skip(native.heap.reason)
    code = _PRELUDE + textwrap.dedent("""
        import ctypes
        from secretscope._heap import DOMAINS, _set
        heap = backend.heap
        keep = do(make_bytes, 7, 4096)       # installs the wrapper, records blocks
        assert heap.tracked.value > 0
        for i, d in enumerate(DOMAINS):       # a C extension swaps allocators underneath us
            _set(d, ctypes.byref(heap.domains[i]))
        p = protection()                      # detection: records dropped, wrapper back on top
        assert not p.heap and "bypassed" in p.reason, p
        assert heap.tracked.value == 0
        del keep; gc.collect()                # freed while its record was dropped: no crash
        check()                               # and zeroing works again for new blocks
        print("ok")
    """)
    r = run_python(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_debug_allocator(native):
    r = run_python(_PRELUDE + "check(); ba = do(lambda: bytearray(make_bytes(7, 100000))); del ba; gc.collect(); "
                   "assert scan() == 0; print('ok')", env={"PYTHONMALLOC": "debug"})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_stress_threads_and_subinterpreter(native):
    if not native.heap.available:
        pytest.skip(native.heap.reason)
    code = _PRELUDE + textwrap.dedent("""
        import threading, time
        stop = time.monotonic() + 3
        errors = []
        def worker(n):
            try:
                keep = []
                while time.monotonic() < stop:
                    keep.append(do(lambda: [bytes(100) + b"x" * n for _ in range(50)]))
                    with __import__("secretscope").secret():
                        junk = bytearray(2000); junk += b"y" * 3000
                    if len(keep) > 20:
                        keep.clear()
                    [bytes(64) for _ in range(200)]
            except BaseException as e:
                errors.append(e)
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        sub = None
        try:
            import _interpreters as interpreters
        except ImportError:
            try:
                import _xxsubinterpreters as interpreters
            except ImportError:
                interpreters = None
        def in_sub():
            try:
                iid = interpreters.create()
                # 3.10-3.12 raise when the script fails; 3.13+ (_interpreters) return the error
                failure = interpreters.run_string(iid, "x = [bytes(100) for _ in range(100000)]; del x")
                interpreters.destroy(iid)
                if failure is not None:
                    errors.append(failure)
            except BaseException as e:
                errors.append(e)
        assert interpreters is not None, "no subinterpreter module on " + sys.version
        threads.append(threading.Thread(target=in_sub))
        for t in threads: t.start()
        for t in threads: t.join()
        assert not errors, errors
        gc.collect()
        check()
        print("ok", backend.heap.tracked.value, list(backend.heap.stats))
    """)
    r = run_python(code, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stdout + r.stderr


_RSS_CHILD = textwrap.dedent("""
    import gc
    from secretscope import do

    def rss_kib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

    do(lambda: None)  # the wrappers are installed in both runs
    make = lambda: [(i,) for i in range(2_000_000)]  # 2 M PyObject blocks (and the list)
    objs = do(make) if SCOPED else make()
    del objs
    gc.collect()
    print(rss_kib())
""")


def test_side_table_memory_is_given_back(native):
    """Issue 13 case 12 / issue 12's memory target for the PyMem side table: after a scope recorded
    2 million blocks and they were all freed, RSS is within 10 % of the same run without a scope.
    (Before the table shrank, ~64 MiB of table stayed mapped: the scoped run failed this.)"""
    if not native.heap.available:
        pytest.skip(native.heap.reason)
    rss = {}
    for scoped in (False, True):
        r = run_python(_RSS_CHILD.replace("SCOPED", str(scoped)), timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        rss[scoped] = int(r.stdout.split()[-1])
    assert rss[True] <= rss[False] * 1.10, rss
