"""Benchmarks: `python -m secretscope bench` (also benchmarks/run.py).

Every figure is the median over repeats of timeit's per-call time, measured in
one run with the standard library's timer; ratios compare figures of the same
run.  Nothing here asserts a speed: timing belongs in benchmarks, not tests.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import platform
import statistics
import sys
import timeit
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, TextIO, Tuple, cast

from .._active import backend, do
from .._scope import secret
from . import banner

if TYPE_CHECKING:
    from .._native import NativeBackend

Row = Tuple[str, float, Optional[float]]  # name, plain ns, scoped ns

# x86-64 system call numbers and arguments the breakdown times (probe_loop_syscall)
SYS_MINCORE, SYS_SIGALTSTACK, SYS_GETRUSAGE, SYS_GETPPID = 27, 131, 98, 110
RUSAGE_SELF, RUSAGE_THREAD = 0, 1


def _native() -> NativeBackend:
    """The backend, where only the native one gets here (the tables that time the assembly)."""
    return cast("NativeBackend", backend)


def per_call_ns(stmt: str, env: Dict[str, Any], repeat: int) -> float:
    timer = timeit.Timer(stmt, globals=env)
    number, _ = timer.autorange()
    number = max(1, number // 4)  # about 50 ms per repeat
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def _noop() -> None:
    return None


def workloads() -> List[Tuple[str, Callable[[], Any]]]:
    key, msg, salt = os.urandom(32), os.urandom(64), os.urandom(16)
    items: List[Tuple[str, Callable[[], Any]]] = [
        ("hmac-sha256, 64-byte message", lambda: hmac.new(key, msg, "sha256").digest()),
        ("pbkdf2_hmac sha256, 10 iterations", lambda: hashlib.pbkdf2_hmac("sha256", key, salt, 10)),
        ("scrypt n=1024 r=8 p=1", lambda: hashlib.scrypt(key, salt=salt, n=1024, r=8, p=1)),
    ]
    try:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        peer = X25519PrivateKey.generate().public_key()
        aes, nonce = AESGCM(key), os.urandom(12)
        items += [("X25519 generate + exchange (cryptography)", lambda: X25519PrivateKey.generate().exchange(peer)),
                  ("AES-256-GCM encrypt 64 bytes (cryptography)", lambda: aes.encrypt(nonce, msg, None))]
    except ImportError:
        pass
    return items


def _churn() -> None:
    """Allocation-heavy: build and drop many small objects (tuples, strs, lists, dicts)."""
    for i in range(200):
        d = {"k": [i, str(i), (i, i + 1)], "v": b"x" * 40}
        del d


LOOP_BLOCKS = 20000


def _native_loop() -> Optional[Any]:
    """The probe-alloc object: pa_loop does n times free(malloc(size)) through its own PLT/GOT,
    as a native library allocates (one foreign call for the whole loop); pa_loop_via the same
    through function pointers (libc's own malloc and free: the bare allocator)."""
    import ctypes
    if backend.name != "native":
        return None
    from .._loader import library_path, load_verified
    try:
        lib = load_verified(library_path("probe-alloc"))
    except Exception:  # noqa: BLE001 - a missing diagnostic object only drops the rows
        return None
    lib.pa_loop.restype, lib.pa_loop.argtypes = None, [ctypes.c_size_t, ctypes.c_size_t]
    lib.pa_loop_via.restype = None
    lib.pa_loop_via.argtypes = [ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
    return lib


def native_heap_rows(bare: Optional[float], lib: Optional[Any], repeat: int) -> List[Row]:
    """malloc/free of 64 bytes from a native library: bare (before the first scope, and through
    pointers to the allocator's own functions in the same process), with the GOT wrappers
    installed, and inside a scope (every block recorded and zeroed)."""
    nh = getattr(backend, "native_heap", None)
    if lib is None or nh is None or not nh.installed:
        return []
    real = nh.allocator("malloc"), nh.allocator("free")
    env: Dict[str, Any] = {"loop": lib.pa_loop, "via": lib.pa_loop_via, "do": do, "n": LOOP_BLOCKS,
                           "m": real[0], "f": real[1]}
    rows: List[Row] = []
    pairs = [(per_call_ns("via(n, 64, m, f)", env, repeat), per_call_ns("loop(n, 64)", env, repeat))
             for _ in range(3)]  # interleaved: the machine's noise hits both alike
    direct = statistics.median(p[0] for p in pairs) / LOOP_BLOCKS
    installed = statistics.median(p[1] for p in pairs) / LOOP_BLOCKS
    if bare is not None:
        rows.append(("malloc+free 64 B outside scopes: before the first scope vs wrappers installed",
                     bare, installed))
    rows.append(("malloc+free 64 B outside scopes: libc's own functions vs through the wrappers",
                 direct, installed))
    rows.append(("malloc+free 64 B inside a scope (recorded, zeroed)", installed,
                 per_call_ns("do(loop, n, 64)", env, repeat) / LOOP_BLOCKS))
    return rows


def heap_rows(repeat: int) -> List[Row]:
    """The wrapper's cost outside scopes: measured before it is installed (the bare interpreter's
    allocator) and after, in the same process; then the same loop inside a scope."""
    heap = getattr(backend, "heap", None)
    env: Dict[str, Any] = {"churn": _churn, "do": do}
    rows: List[Row] = []
    if heap is None or not heap.available:
        return rows
    if heap.installed:
        rows.append(("(wrapper already installed: bare figure unavailable)", per_call_ns("churn()", env, repeat), None))
    else:
        bare = per_call_ns("churn()", env, repeat)
        do(_noop)  # first scope: installs the wrapper
        rows.append(("churn outside scopes: bare allocator vs wrapper installed", bare,
                     per_call_ns("churn()", env, repeat)))
    plain = per_call_ns("churn()", env, repeat)
    rows.append(("churn inside a scope (every block recorded and zeroed)", plain, per_call_ns("do(churn)", env, repeat)))
    return rows


async def _anoop() -> None:
    return None


async def _run_tasks(n: int) -> None:
    import asyncio
    loop = asyncio.get_running_loop()
    for task in [loop.create_task(_anoop()) for _ in range(n)]:
        await task


def inherit_rows(repeat: int) -> List[Row]:
    """What the inheritance wrappers (_inherit.py) cost outside scopes: each operation with the
    standard library's own method (inherit(False) puts it back) and with the wrapper installed."""
    if backend.name != "native":
        return []
    import asyncio
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from .._inherit import inherit
    batch = 100
    pool = ThreadPoolExecutor(max_workers=1)
    loop = asyncio.new_event_loop()
    env: Dict[str, Any] = {"threading": threading, "noop": _noop, "pool": pool,
                           "tasks": lambda: loop.run_until_complete(_run_tasks(batch))}
    operations = [
        ("Thread(target=f).start() + join()", "t = threading.Thread(target=noop); t.start(); t.join()", 1),
        ("ThreadPoolExecutor.submit(f).result()", "pool.submit(noop).result()", 1),
        ("loop.create_task(coroutine), run to completion, per task", "tasks()", batch),
    ]
    rows: List[Row] = []
    previous = inherit(True)
    try:
        for name, stmt, per in operations:
            # alternated repeat by repeat, so that drift on a busy machine hits both alike
            timer = timeit.Timer(stmt, globals=env)
            number = max(1, timer.autorange()[0] // 4)
            times: Tuple[List[float], List[float]] = ([], [])
            for _ in range(repeat):
                for installed, into in ((False, times[0]), (True, times[1])):
                    inherit(installed)
                    into.append(timer.timeit(number) / number / per * 1e9)
            rows.append((name, statistics.median(times[0]), statistics.median(times[1])))
    finally:
        inherit(previous)
        pool.shutdown()
        loop.close()
    return rows


def breakdown_rows(repeat: int) -> List[Row]:
    """Where an empty scope's time goes, from the primitives its erasure uses, timed one by one
    in this run (probe_loop_* repeat each primitive n times per ctypes call)."""
    import ctypes

    from .probe import Probe
    from .._threads import current_thread_bounds
    probe = Probe(backend)  # type: ignore[arg-type]
    lib = probe.lib
    if not hasattr(lib, "probe_loop_syscall"):
        return []
    n = 2000
    vec = (ctypes.c_uint8 * 4096)()
    page = (ctypes.c_uint8 * 8192)()  # zero, like a recorded page nobody wrote
    page_addr = (ctypes.addressof(page) + 4095) & ~4095
    low = current_thread_bounds()[0]
    here = probe.stack_pointer() & ~4095
    area = (ctypes.c_uint8 * (576 + 64))()
    area_addr = (ctypes.addressof(area) + 63) & ~63
    ctypes.c_uint32.from_address(area_addr + 24).value = 0x1F80
    xcr0 = ctypes.c_uint64.in_dll(_native().lib, "ss_xcr0").value
    buf = (ctypes.c_uint8 * 65536)()

    def syscall(number: int, *args: int) -> float:
        """One x86-64 system call with up to three arguments, timed."""
        return loop("probe_loop_syscall", number, *(list(args) + [0, 0, 0])[:3])

    def loop(fn_name: str, *args: int) -> float:
        fn = getattr(lib, fn_name)
        fn.restype = None
        fn.argtypes = [ctypes.c_uint64] * (1 + len(args))
        env = {"fn": fn, "args": (n, *args)}
        return per_call_ns("fn(*args)", env, repeat) / n

    env: Dict[str, Any] = {"noop": _noop, "do": do, "snoop": secret(_noop)}
    plain = per_call_ns("noop()", env, repeat)
    scans_before = _native().scan_counts()
    scope = per_call_ns("do(noop)", env, repeat) - plain
    skipped = _skipped_share(scans_before)
    decorated = per_call_ns("snoop()", env, repeat) - plain
    features = _native().feature_bits
    avx, avx512, zerocheck = features & 2, features & 4, features & 32
    rows: List[Row] = [
        (f"empty scope, do(): total added to a call{skipped}", scope, None),
        ("empty scope, @secret: total added (Python wrapper included)", decorated, None),
        ("every scope: getrusage(RUSAGE_SELF), the page-fault check", syscall(SYS_GETRUSAGE, RUSAGE_SELF, ctypes.addressof(buf)),
         None),
        ("  for comparison: getrusage(RUSAGE_THREAD) (blind to other threads' faults)",
         syscall(SYS_GETRUSAGE, RUSAGE_THREAD, ctypes.addressof(buf)), None),
        ("  for comparison: the cheapest system call (getppid)", syscall(SYS_GETPPID), None),
    ]
    if avx:
        rows.append(("every scope: XGETBV(1) + zeroing instructions (SSE/AVX/AVX-512 state)",
                     loop("probe_loop_regzero", 1 if avx512 else 0), None))
    rows.append(("  instead, when other state is in use: XRSTOR to init state",
                 loop("probe_loop_xrstor", area_addr, xcr0 & 0xFF), None))
    if zerocheck:
        rows.append(("per recorded page: read it (still zero: done)", loop("probe_loop_read", page_addr), None))
    rows += [
        ("per recorded page written since: zero 4 KiB", loop("probe_loop_zero", ctypes.addressof(buf), 4096), None),
        ("after page faults, the scan: mincore, one page (fixed cost)",
         syscall(SYS_MINCORE, page_addr, 4096, ctypes.addressof(vec)), None),
        (f"  mincore over this thread's stack below here ({(here - low) >> 10} KiB)",
         syscall(SYS_MINCORE, low, here - low, ctypes.addressof(vec)) if here - low <= 4096 * 4096 else float("nan"),
         None),
        ("  main thread: mincore on an unmapped page (growth probe)",
         syscall(SYS_MINCORE, 4096, 4096, ctypes.addressof(vec)), None),
        ("after a signal (or always, without rseq): sigaltstack query", syscall(SYS_SIGALTSTACK, 0, ctypes.addressof(vec)),
         None),
        ("zero 64 KiB", loop("probe_loop_zero", ctypes.addressof(buf), 65536), None),
    ]
    return rows


def busy_process_rows(repeat: int) -> List[Row]:
    """An empty scope while another thread (native, no GIL) keeps faulting pages in: the fault
    count changes between scopes, so they scan; the back-off skips the count for a while."""
    import ctypes
    import threading

    from .._loader import library_path
    lib = ctypes.CDLL(str(library_path("probe", _native().arch)))
    fault_loop = getattr(lib, "probe_fault_loop", None)
    if fault_loop is None:
        return []
    fault_loop.restype = None
    fault_loop.argtypes = [ctypes.c_uint64, ctypes.c_void_p]
    stop = ctypes.c_uint64(0)
    faulter = threading.Thread(target=fault_loop, args=(1 << 62, ctypes.addressof(stop)), daemon=True)
    env: Dict[str, Any] = {"noop": _noop, "do": do}
    faulter.start()
    try:
        plain = per_call_ns("noop()", env, repeat)
        before = _native().scan_counts()
        scoped = per_call_ns("do(noop)", env, repeat)
        share = _skipped_share(before)
    finally:
        stop.value = 1
        faulter.join()
    return [(f"do(empty function) vs plain{share}", plain, scoped)]


def _floats() -> None:
    x = [i * 0.5 for i in range(50)]
    del x


def free_list_rows(repeat: int) -> List[Row]:
    """What keeping scopes off the free lists costs (freelists.S): the same scope with the lists
    left alone (the mechanism switched off for the measurement) and kept off."""
    import ctypes
    fl = getattr(backend, "free_lists", None)
    if fl is None:
        return []
    fl.ensure()
    if not fl.installed:
        return []
    counts = [ctypes.c_uint64.in_dll(fl.lib, name) for name in ("ss_fl_count", "ss_fl_zero_count", "ss_fl_chain_count")]
    env: Dict[str, Any] = {"do": do, "noop": _noop, "floats": _floats}
    rows: List[Row] = []
    for label, stmt in (("do(empty function)", "do(noop)"), ("do(50 floats made and dropped)", "do(floats)")):
        saved = [c.value for c in counts]
        for c in counts:
            c.value = 0
        try:
            off = per_call_ns(stmt, env, repeat)
        finally:
            for c, value in zip(counts, saved):
                c.value = value
        rows.append((f"{label}: lists left alone vs kept off ({len(fl.names)} lists)", off,
                     per_call_ns(stmt, env, repeat)))
    return rows


def _skipped_share(before: Optional[Tuple[int, int]]) -> str:
    """' (N% skipped the scan)': the share of this thread's scopes since `before` that zeroed
    recorded pages instead of scanning the stack (stack.S)."""
    after = _native().scan_counts() if before is not None else None
    if before is None or after is None:
        return ""
    scans, recorded = after[0] - before[0], after[1] - before[1]
    return f" ({100 * recorded / max(1, scans + recorded):.0f}% skipped the scan)"


def measure(quick: bool = False) -> Dict[str, List[Row]]:
    repeat = 5 if quick else 15
    tables: Dict[str, List[Row]] = {}
    env: Dict[str, Any] = {"do": do, "secret": secret}
    loop = _native_loop()
    nh = getattr(backend, "native_heap", None)
    if loop is not None:
        loop.pa_loop(LOOP_BLOCKS * 10, 64)  # warm: the first calls pay for page faults and lazy binding
    native_bare = (per_call_ns("loop(n, 64)", {"loop": loop.pa_loop, "n": LOOP_BLOCKS}, repeat) / LOOP_BLOCKS
                   if loop is not None and nh is not None and nh.available and not nh.installed else None)
    heap = heap_rows(repeat)  # first: it needs the process before any scope
    if heap:
        tables["heap wrapper, allocation-heavy loop (200 dicts of lists, strs, tuples, bytes)"] = heap
    inherit = inherit_rows(repeat)
    if inherit:
        tables["inheritance wrappers, outside scopes: standard library vs wrapper installed"] = inherit
    native = native_heap_rows(native_bare, loop, repeat)
    if native:
        tables[f"native heap wrappers, a native loop ({LOOP_BLOCKS} x malloc + free through a library's GOT)"] = native

    if backend.name == "native":
        from .probe import Probe
        probe = Probe(backend)  # type: ignore[arg-type]
        seed: List[Row] = []
        for size, fn in probe.use_stack.items():
            label = f"{size // 1024} KiB" if size < 1 << 20 else "1 MiB"
            env.update(f=fn, g=secret(fn))
            plain = per_call_ns("f()", env, repeat)
            before = _native().scan_counts()
            scoped = per_call_ns("do(f)", env, repeat)
            seed.append((f"native helper using {label} of stack: do(f){_skipped_share(before)}", plain, scoped))
        tables["seed shape (Go: 1 KiB 17.1 -> 48.0 ns, 2.8x; 64 KiB 1019 -> 3055 ns, 3.0x)"] = seed

    env.update(noop=_noop, snoop=secret(_noop))
    breakdown = breakdown_rows(repeat) if backend.name == "native" else []
    if breakdown:
        tables["where a scope's time goes (per operation, this run, main thread)"] = breakdown
    tables["empty call"] = [
        ("decorated empty function vs plain", per_call_ns("noop()", env, repeat), per_call_ns("snoop()", env, repeat)),
        ("do(empty function) vs plain", per_call_ns("noop()", env, repeat), per_call_ns("do(noop)", env, repeat)),
    ]

    free_lists = free_list_rows(repeat) if backend.name == "native" else []
    if free_lists:
        tables["interpreter free lists kept off during scopes (docs/free-lists.md)"] = free_lists

    busy = busy_process_rows(repeat) if backend.name == "native" else []
    if busy:
        tables["another thread taking page faults all the time (64 KiB mapped, touched, unmapped, in a loop)"] = busy

    forms: List[Row] = []
    work = workloads()
    env["hm"] = work[0][1]
    plain_hm = per_call_ns("hm()", env, repeat)
    env["shm"] = secret(work[0][1])
    forms.append(("@secret", plain_hm, per_call_ns("shm()", env, repeat)))
    forms.append(("do(f)", plain_hm, per_call_ns("do(hm)", env, repeat)))
    forms.append(("with secret():", plain_hm, per_call_ns("with secret():\n    hm()", env, repeat)))
    tables[f"forms, around: {work[0][0]}"] = forms

    real: List[Row] = []
    for name, fn in work:
        env.update(w=fn, sw=secret(fn))
        real.append((name, per_call_ns("w()", env, repeat), per_call_ns("sw()", env, repeat)))
    tables["real workloads, decorated"] = real
    return tables


def _fmt(ns: float) -> str:
    return f"{ns:,.0f} ns" if abs(ns) >= 100 else f"{ns:.1f} ns"


def _signed(ns: float) -> str:
    return ("+" if ns >= 0 else "-") + _fmt(abs(ns))


def table(title: str, rows: List[Row]) -> List[str]:
    """A table's lines: name, plain figure, then scoped figure, ratio and difference, in columns
    at least two spaces apart whatever the figures' widths."""
    width = max(len(r[0]) for r in rows)
    figures = [_fmt(v) for r in rows for v in r[1:] if v is not None]
    column = max(len(f) for f in figures) if figures else 0
    lines = [title]
    for name, plain, scoped in rows:
        extra = "" if scoped is None else f"  {_fmt(scoped):>{column}}  {scoped / plain:5.2f}x  ({_signed(scoped - plain)})"
        lines.append(f"  {name:<{width}}  {_fmt(plain):>{column}}{extra}")
    return lines


def run(out: TextIO, quick: bool = False) -> int:
    print(f"machine: {platform.machine()}, {platform.processor() or platform.platform()}; "
          f"CPython {sys.version.split()[0]}; backend {backend.name}", file=out)
    print("median per call over repeats (timeit); ratio = scoped / plain, same run\n", file=out)
    for title, rows in measure(quick).items():
        print("\n".join(table(title, rows)), file=out)
        print(file=out)
    return 0


def main(out: TextIO, quick: bool = False) -> int:
    """`python -m secretscope bench [--quick]`: the banner, then the benchmarks."""
    banner(out)
    return run(out, quick=quick)
