"""Guarantee 3, native part: every block native code obtains from malloc and its family inside a
scope is zeroed when it is freed, whenever and on whichever thread that is.

The allocations go through a real GOT: libsecretscope_probe_alloc_<arch>.so (asm/*/probe_alloc)
calls malloc, calloc, ... through its own PLT/GOT entries like any native library, and copies a
sentinel into the block (pa_fill), which is then freed without wiping.  The process's writable
memory is scanned for the sentinel afterwards.  Every case has its control: the same allocation
without a scope leaves the sentinel behind (or, above the mmap threshold, is not zeroed by us).
"""
from __future__ import annotations

import ctypes
import gc
import itertools
import os
import shutil
import textwrap
import threading

import pytest

from secretscope import do, protection
from secretscope.diagnostics.memory_scan import MemoryScanner, bytes_sentinel_masked, make_bytes, writable_mappings
from tests._support.environment import run_python
from tests._support.probe_alloc import KINDS, Alloc, masked, probe_alloc_path, signature

_tags = itertools.count(1)
SMALL, LARGE = 200, 1 << 20     # LARGE is above glibc's mmap threshold (128 KiB by default)


@pytest.fixture(scope="module")
def nh(native):
    heap = native.native_heap
    if not heap.available:
        pytest.skip(heap.reason)
    do(lambda: None)  # the first scope installs the wrappers
    return heap


@pytest.fixture(scope="module")
def alloc(nh, native):
    a = Alloc(probe_alloc_path(native.arch))
    assert str(a.path) in nh.patched_objects, sorted(nh.patched_objects)  # loaded after the first scope
    return a




def _fill_and_keep(a: Alloc, how: str, size: int, tag: int) -> int:
    p = a.allocate(how, size)
    assert p, f"{how}({size}) failed"
    a.fill(p, size, masked(tag))
    return p


def _holding(scanner: MemoryScanner, tag: int, mappings: list[tuple[int, int]]) -> list[str]:
    """For a failure message: the mappings ("lo-hi") that hold the tag's sentinel, read again."""
    return [f"{lo:#x}-{hi:#x}" for lo, hi in mappings if scanner.count_process(masked(tag), [(lo, hi)])]


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("how", KINDS)
@pytest.mark.parametrize("scoped", [False, True], ids=["control", "scoped"])
def test_blocks_are_zeroed_when_freed_after_the_scope(alloc, nh, scanner, how, size, scoped):
    tag = next(_tags)
    copies = 1 if size == LARGE else 16
    zeroed = nh.stats[1]
    def make():
        return _fill_and_keep(alloc, how, size, tag)
    blocks = [do(make) if scoped else make() for _ in range(copies)]
    assert all(nh.lib.ss_native_recorded(p) != 2**64 - 1 for p in blocks) is scoped
    assert scanner.count_process(masked(tag)) >= copies * (size // 8)  # there while alive
    mappings = list(writable_mappings())
    for p in blocks:
        (alloc.free_got if how == "malloc_got" else alloc.free)(p)
    found = scanner.count_process(masked(tag), mappings)
    if scoped:
        assert found == 0, f"{how}: {found} sentinel words left after free, in {_holding(scanner, tag, mappings)}"
        assert nh.stats[1] - zeroed >= copies * size
    elif size == SMALL:
        assert found > 0, "negative control: a freed block keeps its contents without a scope"
    else:
        assert nh.stats[1] == zeroed, "negative control: nothing recorded, nothing zeroed"


@pytest.mark.parametrize("scoped", [False, True], ids=["control", "scoped"])
def test_freed_inside_the_scope(alloc, scanner, scoped):
    tag = next(_tags)

    def work():
        for _ in range(16):
            alloc.free(_fill_and_keep(alloc, "malloc", SMALL, tag))

    do(work) if scoped else work()
    found = scanner.count_process(masked(tag))
    assert (found == 0) if scoped else (found > 0)


@pytest.mark.parametrize("scoped", [False, True], ids=["control", "scoped"])
def test_realloc_leaves_no_old_copy(alloc, scanner, scoped):
    tag = next(_tags)

    fences, moved_from = [], []

    def grow():
        p = _fill_and_keep(alloc, "malloc", 4096, tag)
        fences.append(alloc.malloc(32))   # right behind it: realloc cannot grow in place
        for n in (16 << 10, 64 << 10, 100 << 10):
            q = alloc.realloc(p, n)
            if q != p:
                moved_from.append(p)      # the old block held the sentinel (its first 4 KiB)
            p = q
            fences.append(alloc.malloc(32))
        return p

    p = do(grow) if scoped else grow()
    assert moved_from, "realloc never moved the block"
    left = sum(scanner.count(old, old + 4096, masked(tag)) for old in moved_from)
    if scoped:
        assert left == 0, f"{left} sentinel words in the blocks realloc moved away from"
        live = scanner.count_process(masked(tag))
        assert live == 512, f"{live - 512} words outside the live block"
    else:
        assert left > 0, "negative control: realloc leaves the old contents in the old block"
    for f in fences + [p]:
        alloc.free(f)


def test_allocated_on_one_thread_freed_on_another(alloc, scanner):
    tag = next(_tags)
    box = []
    producer = threading.Thread(target=lambda: box.extend(do(_fill_and_keep, alloc, "malloc", SMALL, tag)
                                                           for _ in range(16)))
    producer.start()
    producer.join()
    assert scanner.count_process(masked(tag)) >= 16 * (SMALL // 8)
    mappings = list(writable_mappings())
    consumer = threading.Thread(target=lambda: [alloc.free(p) for p in box])
    consumer.start()
    consumer.join()
    assert scanner.count_process(masked(tag), mappings) == 0


@pytest.mark.parametrize("scoped", [False, True], ids=["control", "scoped"])
def test_cxx_new_array(nh, scanner, alloc, scoped):
    try:
        cxx = ctypes.CDLL("libstdc++.so.6")
    except OSError:
        pytest.skip("libstdc++.so.6 is not installed")
    new = signature(cxx._Znam, ctypes.c_void_p, ctypes.c_size_t)      # operator new[](size_t)
    delete = signature(cxx._ZdaPv, None, ctypes.c_void_p)              # operator delete[](void *)
    assert any("libstdc++" in name for name in nh.patched_objects)
    tag = next(_tags)

    def make():
        p = new(SMALL)
        alloc.fill(p, SMALL, masked(tag))
        return p

    blocks = [do(make) if scoped else make() for _ in range(16)]
    mappings = list(writable_mappings())
    for p in blocks:
        delete(p)
    found = scanner.count_process(masked(tag), mappings)
    assert (found == 0) if scoped else (found > 0)


@pytest.mark.parametrize("scoped", [False, True], ids=["control", "scoped"])
def test_library_loaded_after_the_first_scope(nh, scanner, native, tmp_path, scoped):
    copy = tmp_path / f"libsecretscope_probe_alloc_copy-{int(scoped)}.so"
    shutil.copyfile(probe_alloc_path(native.arch), copy)
    assert nh.installed
    a = Alloc(copy)  # a new object in the link map
    assert str(copy) in nh.patched_objects
    tag = next(_tags)
    blocks = [do(_fill_and_keep, a, "malloc", SMALL, tag) if scoped else _fill_and_keep(a, "malloc", SMALL, tag)
              for _ in range(16)]
    mappings = list(writable_mappings())
    for p in blocks:
        a.free(p)
    found = scanner.count_process(masked(tag), mappings)
    assert (found == 0) if scoped else (found > 0)


def test_pymalloc_large_blocks_are_recorded_once_in_each_table(nh, native, scanner):
    """pymalloc hands requests above 512 bytes to malloc (through libpython's GOT): the block is
    recorded by heap.S and by native.S; each free must remove its own record."""
    tag = 0x5E  # tests/_support/residue.py: this module's tag for make_bytes
    objs = [do(make_bytes, tag, 4096) for _ in range(32)]
    addresses = [id(o) for o in objs]
    assert all(nh.lib.ss_native_recorded(a) != 2**64 - 1 for a in addresses)  # malloc'd, recorded
    del objs
    gc.collect()
    assert scanner.count_process(bytes_sentinel_masked(tag)) == 0
    assert [a for a in addresses if nh.lib.ss_native_recorded(a) != 2**64 - 1] == []  # no stale record


def test_side_table_shrinks_when_blocks_are_freed(alloc, nh):
    base_capacity = 4096  # NTABLE_MIN in native.S
    live_before = nh.tracked.value
    blocks = do(lambda: [alloc.malloc(16) for _ in range(200_000)])
    assert nh.stats[3] >= 262_144, nh.stats[3]  # grew to hold them
    for p in blocks:
        alloc.free(p)
    del blocks  # the list itself was allocated inside the scope too (recorded through libpython)
    gc.collect()
    # a few blocks the interpreter allocated inside the scope may stay alive (caches)
    assert nh.tracked.value - live_before <= 16, (nh.tracked.value, live_before)
    assert nh.stats[3] <= max(base_capacity, 8 * nh.tracked.value), nh.stats[3]  # memory given back


def test_protection_reports_native_heap(nh):
    p = protection()
    assert p.native_heap is nh.covered
    assert p.native_heap, p.reason


_CHILD = textwrap.dedent("""
    import ctypes, os, sys, threading
    from tests._support.probe_alloc import Alloc, probe_alloc_path
    from secretscope import do, protection
    from secretscope._active import backend
    do(lambda: None)
""")


def test_fork_while_other_threads_allocate_inside_scopes(native, nh):
    code = _CHILD + textwrap.dedent(f"""
        a = Alloc(probe_alloc_path({native.arch!r}))
        stop = False
        def hammer():
            while not stop:
                do(lambda: [a.free(a.malloc(64)) for _ in range(200)])
        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads: t.start()
        for i in range(30):
            pid = os.fork()
            if pid == 0:
                do(lambda: [a.free(a.malloc(64)) for _ in range(100)])   # the child's scopes work
                a.free(a.malloc(64))
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert status == 0, status
        stop = True
        for t in threads: t.join()
        print("ok")
    """)
    r = run_python(code, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_dlclose_after_patching(native, nh, tmp_path):
    copy = tmp_path / "libsecretscope_probe_alloc_unloaded.so"
    shutil.copyfile(probe_alloc_path(native.arch), copy)
    code = _CHILD + textwrap.dedent(f"""
        import _ctypes, gc
        a = Alloc(__import__("pathlib").Path({str(copy)!r}))
        assert {str(copy)!r} in backend.native_heap.patched_objects
        kept = do(lambda: [a.malloc(64) for _ in range(10)])  # recorded, outlive the library
        handle = a.lib._handle
        del a; gc.collect()
        _ctypes.dlclose(handle)
        assert not any({str(copy)!r} in line for line in open("/proc/self/maps"))
        libc = ctypes.CDLL(None)
        libc.free.argtypes = [ctypes.c_void_p]
        for p in kept:
            libc.free(p)                      # out of our sight: stale records stay
        b = Alloc(probe_alloc_path({native.arch!r}))
        do(lambda: [b.free(b.malloc(64)) for _ in range(1000)])   # addresses reused: clamped zeroing
        p = protection()
        assert p.native_heap, p.reason
        print("ok")
    """)
    r = run_python(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


_RSS_CHILD = _CHILD + textwrap.dedent("""
    a = Alloc(probe_alloc_path(ARCH))
    n = 2_000_000
    many = signature(a.lib.pa_malloc_many, None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t)
    free_many = signature(a.lib.pa_free_many, None, ctypes.c_void_p, ctypes.c_size_t)
    blocks = (ctypes.c_void_p * n)()
    run = (lambda: do(many, blocks, n, 16)) if SCOPED else (lambda: many(blocks, n, 16))
    run()
    recorded = backend.native_heap.tracked.value
    free_many(blocks, n)
    del blocks
    def rss_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    print(recorded, rss_kib(), backend.native_heap.stats[3])
""")


def test_side_table_memory_is_given_back(native, nh):
    """After a scope recorded 2 million blocks and they were freed, the process's RSS is within
    10 % of the same run without a scope (the table shrank and was unmapped)."""
    figures = {}
    for scoped in (False, True):
        code = _RSS_CHILD.replace("ARCH", repr(native.arch)).replace("SCOPED", str(scoped))
        code = code.replace("import Alloc, probe_alloc_path", "import Alloc, probe_alloc_path, signature")
        r = run_python(code, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        figures[scoped] = [int(x) for x in r.stdout.split()]
    (_, rss_plain, _), (recorded, rss_scoped, capacity) = figures[False], figures[True]
    assert recorded >= 2_000_000  # the scope really recorded them (the table held 2 M entries)
    assert capacity <= 8192, capacity
    assert rss_scoped <= rss_plain * 1.10, (rss_scoped, rss_plain)


def test_an_allocation_that_cannot_be_recorded_fails(native, nh):
    """When the side table cannot grow (address space exhausted), the allocation returns NULL with
    errno ENOMEM instead of handing out a block that would not be zeroed."""
    if os.environ.get("SECRETSCOPE_ARM64_EMULATED"):
        pytest.skip("under qemu-user RLIMIT_AS limits the emulator's own address space, not the guest's")
    code = _CHILD + textwrap.dedent(f"""
        import resource
        a = Alloc(probe_alloc_path({native.arch!r}))
        malloc = ctypes.CDLL(str(a.path), use_errno=True).pa_malloc
        malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
        def vm_kib():
            for line in open("/proc/self/status"):
                if line.startswith("VmSize:"):
                    return int(line.split()[1])
        def fill():
            blocks = []
            while len(blocks) < 4_000_000:
                p = malloc(16)
                if not p:
                    return blocks, ctypes.get_errno()
                blocks.append(p)
            return blocks, 0
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, ((vm_kib() + 64 * 1024) * 1024, hard))
        blocks, err = do(fill)
        refused = backend.native_heap.stats[2]
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        for p in blocks:
            a.free(p)
        print(err, refused, len(blocks))
    """)
    r = run_python(code, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    err, refused, count = (int(x) for x in r.stdout.split())
    assert err == 12 and refused >= 1, (err, refused, count)  # ENOMEM, and it was ours


def test_a_wrapper_overwritten_by_lazy_binding_is_put_back(alloc, nh, scanner):
    """A thread inside the loader's lazy resolver for a slot while it is patched writes the resolved
    function last; the next check (protection(), a thread's first scope) writes the wrapper again.
    Simulated here by writing the real malloc back into the probe object's slots."""
    malloc_wrappers = {row[0] for row in nh.wrappers}
    for slot, wrapper, relro in nh._written[str(alloc.path)]:
        if wrapper in malloc_wrappers:
            assert nh._write_slot(slot, nh.allocator("malloc"), relro)
    tag = next(_tags)
    rebound = nh.rebound
    protection()
    assert nh.rebound > rebound
    blocks = [do(_fill_and_keep, alloc, "malloc", SMALL, tag) for _ in range(16)]
    mappings = list(writable_mappings())
    for p in blocks:
        alloc.free(p)
    assert scanner.count_process(masked(tag), mappings) == 0


def test_chains_to_what_a_slot_was_bound_to(native, nh, tmp_path):
    """An interposer that rewrote a library's GOT before us (as memray does) stays in the chain:
    the wrapper written over its slot calls it.  Played by PyMem_RawMalloc/PyMem_RawFree (functions
    that wrap malloc/free) written into a fresh library's slots before the first scope of a child;
    tracemalloc, which traces the raw domain, proves the calls went through them."""
    copy = tmp_path / "libsecretscope_probe_alloc_interposed.so"
    shutil.copyfile(probe_alloc_path(native.arch), copy)
    code = textwrap.dedent(f"""
        import ctypes, sys, tracemalloc
        from tests._support.probe_alloc import Alloc, masked
        from secretscope import do
        from secretscope._active import backend
        from secretscope.diagnostics.memory_scan import MemoryScanner
        from secretscope._native_heap import PT_DYNAMIC, PT_GNU_RELRO, PT_LOAD
        from secretscope.diagnostics.probe import Probe
        a = Alloc(__import__("pathlib").Path({str(copy)!r}))
        nh = backend.native_heap
        objects = nh._collect_objects()[0]
        nh._resolve_past_the_main_program(objects)
        fake = {{0: ctypes.cast(ctypes.pythonapi.PyMem_RawMalloc, ctypes.c_void_p).value,
                 9: ctypes.cast(ctypes.pythonapi.PyMem_RawFree, ctypes.c_void_p).value}}
        (obj,) = [o for o in objects if o.name == {str(copy)!r}]
        segs = obj.segments()
        loads = [(s, s + z) for k, s, z, _ in segs if k == PT_LOAD]
        relro = [(s, s + z) for k, s, z, _ in segs if k == PT_GNU_RELRO]
        dyn = [s for k, s, _, _ in segs if k == PT_DYNAMIC][0]
        for slot in nh._find_slots(obj, dyn, loads):   # the interposer's work, before our first scope
            if slot.kind in fake:
                assert nh._write_slot(slot.address, fake[slot.kind], relro)
        do(lambda: None)                               # installs: wraps what the slots hold
        assert any(r[0] == fake[0] and r[9] == fake[9] for r in nh.families), nh.families
        # reported: the interposed chain is not the C library's own (protection().limits)
        assert nh.foreign_objects() == 1, nh.families
        from secretscope import protection
        assert [x for x in protection().limits if x.startswith("native heap: 1 object")], protection().limits
        scanner = MemoryScanner(Probe(backend))
        tracemalloc.start()
        def make():
            p = a.malloc(200)
            a.fill(p, 200, masked(4242))
            return p
        blocks = [do(make) for _ in range(16)]
        traced = tracemalloc.get_traced_memory()[0]
        assert all(nh.lib.ss_native_recorded(p) != 2**64 - 1 for p in blocks)
        for p in blocks:
            a.free(p)
        freed = traced - tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print("ok", int(freed >= 16 * 150), scanner.count_process(masked(4242)))  # traced: went through them
    """)
    r = run_python(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok 1 0", r.stdout + r.stderr


def test_allocator_pointers_a_library_repointed_are_left_alone(native, nh):
    """CPython's _decimal points libmpdec's allocator variables (data relocations against malloc)
    at PyMem_Malloc: those are variables, not bindings, and must neither be wrapped nor make the
    object look bound to two allocators."""
    r = run_python("import decimal; from secretscope import do, protection; do(lambda: None); "
                   "decimal.Decimal(2).sqrt(); p = protection(); print(p.native_heap, p.reason)")
    assert r.returncode == 0 and r.stdout.strip() == "True None", r.stdout + r.stderr
