"""Benchmarks: `python -m secretscope bench` (also benchmarks/run.py).

Every figure is the median over repeats of timeit's per-call time, measured in
one run with the standard library's timer; ratios compare figures of the same
run.  Nothing here asserts a speed: timing belongs in benchmarks, not tests.
"""
from __future__ import annotations

import ctypes
import hashlib
import hmac
import os
import platform
import statistics
import sys
import timeit
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, TextIO, Tuple, cast

from .._active import backend, do
from .._native_heap import ALLOCATOR_NAMES
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
    """malloc/free of 64 bytes from a native library: bare (before the first scope), with the GOT
    wrappers installed, and inside a scope (every block recorded and zeroed).  The wrapper's own
    cost is measured on one loop (pa_loop_via, the same call sites) through pointers to libc's
    functions, to the wrappers, and to a bare `jmp *` trampoline into libc (pa_tramp_*: the floor
    any interposed function pays), interleaved so that the machine's noise hits all alike."""
    nh = getattr(backend, "native_heap", None)
    if lib is None or nh is None or not nh.installed:
        return []
    targets = _loop_targets(nh, lib)
    env: Dict[str, Any] = {"loop": lib.pa_loop, "via": lib.pa_loop_via, "do": do, "n": LOOP_BLOCKS, **targets}
    runs: Dict[str, List[float]] = {name: [] for name in ("libc", "wrappers", "trampoline", "plt") if
                                    name == "plt" or f"{name}_m" in targets}
    for _ in range(5):  # interleaved, round after round
        for name in runs:
            stmt = "loop(n, 64)" if name == "plt" else f"via(n, 64, {name}_m, {name}_f)"
            runs[name].append(per_call_ns(stmt, env, repeat) / LOOP_BLOCKS)
    med = {name: statistics.median(v) for name, v in runs.items()}
    rows: List[Row] = []
    if bare is not None:
        rows.append(("malloc+free 64 B outside scopes (PLT): before the first scope vs wrappers installed",
                     bare, med["plt"]))
    if "wrappers" in med:
        rows.append(("malloc+free 64 B outside scopes, one loop through pointers: libc vs the wrappers",
                     med["libc"], med["wrappers"]))
    if "trampoline" in med:
        rows.append(("  the same loop: libc vs a bare jmp trampoline (the floor of any interposer)",
                     med["libc"], med["trampoline"]))
    rows.append(("malloc+free 64 B inside a scope (recorded, zeroed)", med["plt"],
                 per_call_ns("do(loop, n, 64)", env, repeat) / LOOP_BLOCKS))
    return rows


def _loop_targets(nh: Any, lib: Any) -> Dict[str, int]:
    """Function addresses for pa_loop_via: libc's own malloc/free, the wrappers of the family
    the probe object's slots were given, and the probe object's bare trampolines into libc."""
    names = list(ALLOCATOR_NAMES)
    m, f = nh.allocator("malloc"), nh.allocator("free")
    out = {"libc_m": m, "libc_f": f}
    row = next((i for i, fam in enumerate(nh.families) if fam[names.index("malloc")] == m
                and fam[names.index("free")] == f), None)
    if row is not None:
        out["wrappers_m"] = nh.wrappers[row][names.index("malloc")]
        out["wrappers_f"] = nh.wrappers[row][names.index("free")]
    try:
        nxt = (ctypes.c_void_p * 2).in_dll(lib, "pa_tramp_next")
        nxt[0], nxt[1] = m, f
        out["trampoline_m"] = ctypes.cast(lib.pa_tramp_malloc, ctypes.c_void_p).value or 0
        out["trampoline_f"] = ctypes.cast(lib.pa_tramp_free, ctypes.c_void_p).value or 0
    except (AttributeError, ValueError):
        pass  # an older probe object without the trampolines
    return out


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


class _Primitives:
    """The probe's probe_loop_* routines, each repeating one primitive of a scope's erasure N times
    per ctypes call, timed per repetition; and the buffers they work on."""

    N = 2000

    def __init__(self, lib: Any, repeat: int) -> None:
        self.lib, self.repeat = lib, repeat
        self.vec = (ctypes.c_uint8 * 4096)()
        self._page = (ctypes.c_uint8 * 8192)()  # zero, like a recorded page nobody wrote
        self.page_addr = (ctypes.addressof(self._page) + 4095) & ~4095
        self._area = (ctypes.c_uint8 * (576 + 64))()  # an XSAVE area: legacy region + header
        self.area_addr = (ctypes.addressof(self._area) + 63) & ~63
        ctypes.c_uint32.from_address(self.area_addr + 24).value = 0x1F80  # MXCSR's init value
        self.buf = (ctypes.c_uint8 * 65536)()

    def loop(self, fn_name: str, *args: int) -> float:
        fn = getattr(self.lib, fn_name)
        fn.restype = None
        fn.argtypes = [ctypes.c_uint64] * (1 + len(args))
        env = {"fn": fn, "args": (self.N, *args)}
        return per_call_ns("fn(*args)", env, self.repeat) / self.N

    def syscall(self, number: int, *args: int) -> float:
        """One x86-64 system call with up to three arguments, timed."""
        return self.loop("probe_loop_syscall", number, *(list(args) + [0, 0, 0])[:3])


def _empty_scope_rows(repeat: int) -> List[Row]:
    """What an empty scope adds to a call, through do() and through @secret."""
    env: Dict[str, Any] = {"noop": _noop, "do": do, "snoop": secret(_noop)}
    plain = per_call_ns("noop()", env, repeat)
    scans_before = _native().scan_counts()
    scope = per_call_ns("do(noop)", env, repeat) - plain
    skipped = _skipped_share(scans_before)
    decorated = per_call_ns("snoop()", env, repeat) - plain
    return [
        (f"empty scope, do(): total added to a call{skipped}", scope, None),
        ("empty scope, @secret: total added (Python wrapper included)", decorated, None),
    ]


def _every_scope_rows(p: _Primitives) -> List[Row]:
    """What every scope does: the page-fault check (with cheaper calls for comparison) and the
    register zeroing, or the XRSTOR that replaces it when other state is in use."""
    buf = ctypes.addressof(p.buf)
    features = _native().feature_bits
    rows: List[Row] = [
        ("every scope: getrusage(RUSAGE_SELF), the page-fault check", p.syscall(SYS_GETRUSAGE, RUSAGE_SELF, buf), None),
        ("  for comparison: getrusage(RUSAGE_THREAD) (blind to other threads' faults)",
         p.syscall(SYS_GETRUSAGE, RUSAGE_THREAD, buf), None),
        ("  for comparison: the cheapest system call (getppid)", p.syscall(SYS_GETPPID), None),
    ]
    if features & 2:  # AVX
        rows.append(("every scope: XGETBV(1) + zeroing instructions (SSE/AVX/AVX-512 state)",
                     p.loop("probe_loop_regzero", 1 if features & 4 else 0), None))
    xcr0 = ctypes.c_uint64.in_dll(_native().lib, "ss_xcr0").value
    rows.append(("  instead, when other state is in use: XRSTOR to init state",
                 p.loop("probe_loop_xrstor", p.area_addr, xcr0 & 0xFF), None))
    return rows


def _recorded_page_rows(p: _Primitives) -> List[Row]:
    """Per page the scope recorded: read it when the zero check is on (still zero: done), zero it."""
    rows: List[Row] = []
    if _native().feature_bits & 32:  # the zero check
        rows.append(("per recorded page: read it (still zero: done)", p.loop("probe_loop_read", p.page_addr), None))
    rows.append(("per recorded page written since: zero 4 KiB", p.loop("probe_loop_zero", ctypes.addressof(p.buf), 4096),
                 None))
    return rows


def _scan_rows(p: _Primitives, low: int, here: int) -> List[Row]:
    """After page faults or a signal: the mincore scan of the stack, the sigaltstack query, and
    zeroing 64 KiB for scale.  low..here: this thread's stack below the caller."""
    vec = ctypes.addressof(p.vec)
    return [
        ("after page faults, the scan: mincore, one page (fixed cost)", p.syscall(SYS_MINCORE, p.page_addr, 4096, vec),
         None),
        (f"  mincore over this thread's stack below here ({(here - low) >> 10} KiB)",
         p.syscall(SYS_MINCORE, low, here - low, vec) if here - low <= 4096 * 4096 else float("nan"), None),
        ("  main thread: mincore on an unmapped page (growth probe)", p.syscall(SYS_MINCORE, 4096, 4096, vec), None),
        ("after a signal (or always, without rseq): sigaltstack query", p.syscall(SYS_SIGALTSTACK, 0, vec), None),
        ("zero 64 KiB", p.loop("probe_loop_zero", ctypes.addressof(p.buf), 65536), None),
    ]


def breakdown_rows(repeat: int) -> List[Row]:
    """Where an empty scope's time goes, from the primitives its erasure uses, timed one by one
    in this run (probe_loop_* repeat each primitive n times per ctypes call)."""
    from .._threads import current_thread_bounds
    from .probe import Probe
    probe = Probe(backend)  # type: ignore[arg-type]
    if not hasattr(probe.lib, "probe_loop_syscall"):
        return []
    primitives = _Primitives(probe.lib, repeat)
    low, here = current_thread_bounds()[0], probe.stack_pointer() & ~4095
    return [*_empty_scope_rows(repeat), *_every_scope_rows(primitives), *_recorded_page_rows(primitives),
            *_scan_rows(primitives, low, here)]


def busy_process_rows(repeat: int) -> List[Row]:
    """An empty scope while another thread (native, no GIL) keeps faulting pages in: the fault
    count changes between scopes, so they scan; the back-off skips the count for a while."""
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


def _native_bare(loop: Optional[Any], repeat: int) -> Optional[float]:
    """malloc+free of 64 bytes from the probe-alloc object's loop before any wrapper is installed
    (None when it already is, or there is no native heap); the loop warmed first."""
    nh = getattr(backend, "native_heap", None)
    if loop is None:
        return None
    loop.pa_loop(LOOP_BLOCKS * 10, 64)  # warm: the first calls pay for page faults and lazy binding
    if nh is None or not nh.available or nh.installed:
        return None
    return per_call_ns("loop(n, 64)", {"loop": loop.pa_loop, "n": LOOP_BLOCKS}, repeat) / LOOP_BLOCKS


def seed_rows(repeat: int) -> List[Row]:
    """The seed's shape: a native helper using 1 KiB to 1 MiB of stack, plain and in do()."""
    from .probe import Probe
    probe = Probe(backend)  # type: ignore[arg-type]
    env: Dict[str, Any] = {"do": do}
    rows: List[Row] = []
    for size, fn in probe.use_stack.items():
        label = f"{size // 1024} KiB" if size < 1 << 20 else "1 MiB"
        env.update(f=fn, g=secret(fn))
        plain = per_call_ns("f()", env, repeat)
        before = _native().scan_counts()
        scoped = per_call_ns("do(f)", env, repeat)
        rows.append((f"native helper using {label} of stack: do(f){_skipped_share(before)}", plain, scoped))
    return rows


def empty_call_rows(repeat: int) -> List[Row]:
    env: Dict[str, Any] = {"do": do, "noop": _noop, "snoop": secret(_noop)}
    return [
        ("decorated empty function vs plain", per_call_ns("noop()", env, repeat), per_call_ns("snoop()", env, repeat)),
        ("do(empty function) vs plain", per_call_ns("noop()", env, repeat), per_call_ns("do(noop)", env, repeat)),
    ]


def forms_rows(work: Callable[[], Any], repeat: int) -> List[Row]:
    """The three forms of scope around the same work."""
    env: Dict[str, Any] = {"do": do, "secret": secret, "hm": work}
    plain = per_call_ns("hm()", env, repeat)
    env["shm"] = secret(work)
    return [
        ("@secret", plain, per_call_ns("shm()", env, repeat)),
        ("do(f)", plain, per_call_ns("do(hm)", env, repeat)),
        ("with secret():", plain, per_call_ns("with secret():\n    hm()", env, repeat)),
    ]


def real_rows(work: List[Tuple[str, Callable[[], Any]]], repeat: int) -> List[Row]:
    env: Dict[str, Any] = {}
    rows: List[Row] = []
    for name, fn in work:
        env.update(w=fn, sw=secret(fn))
        rows.append((name, per_call_ns("w()", env, repeat), per_call_ns("sw()", env, repeat)))
    return rows


def measure(quick: bool = False) -> Dict[str, List[Row]]:
    """Every table, titled, in the order printed (each table that has rows here)."""
    repeat = 5 if quick else 15
    native = backend.name == "native"
    tables: Dict[str, List[Row]] = {}

    def add(title: str, rows: List[Row]) -> None:
        if rows:
            tables[title] = rows

    loop = _native_loop()
    native_bare = _native_bare(loop, repeat)
    add("heap wrapper, allocation-heavy loop (200 dicts of lists, strs, tuples, bytes)",
        heap_rows(repeat))  # first after the bare figures: it needs the process before any scope
    add("inheritance wrappers, outside scopes: standard library vs wrapper installed", inherit_rows(repeat))
    add(f"native heap wrappers, a native loop ({LOOP_BLOCKS} x malloc + free through a library's GOT)",
        native_heap_rows(native_bare, loop, repeat))
    if native:
        add("seed shape (Go: 1 KiB 17.1 -> 48.0 ns, 2.8x; 64 KiB 1019 -> 3055 ns, 3.0x)", seed_rows(repeat))
        add("where a scope's time goes (per operation, this run, main thread)", breakdown_rows(repeat))
    add("empty call", empty_call_rows(repeat))
    if native:
        add("interpreter free lists kept off during scopes (docs/free-lists.md)", free_list_rows(repeat))
        add("another thread taking page faults all the time (64 KiB mapped, touched, unmapped, in a loop)",
            busy_process_rows(repeat))
    work = workloads()
    add(f"forms, around: {work[0][0]}", forms_rows(work[0][1], repeat))
    add("real workloads, decorated", real_rows(work, repeat))
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
