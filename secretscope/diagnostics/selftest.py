"""The live self-test of `python -m secretscope`: a known secret through the stack and the
registers, inside and outside a scope, with the residue each leaves."""
from __future__ import annotations

import dataclasses
import json
import platform
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, TextIO, Tuple

from .._active import backend, do
from .._protection import Protection
from . import banner
from .._threads import alternate_signal_stack, current_thread_bounds

if TYPE_CHECKING:
    from .probe import Probe

KiB: int = 1024
MiB: int = 1024 * 1024


@dataclass
class Check:
    name: str
    unprotected: str      # what the control left
    protected: str        # what the scope left
    control_found: bool   # the control found residue (the check can fail)
    clean: bool           # the scope left none
    claimed: bool         # protection() claims this guarantee

    @property
    def verdict(self) -> str:
        if not self.claimed:
            return "not claimed"
        if not self.clean:
            return "FAIL"
        return "ok" if self.control_found else "ok (control found nothing: inconclusive)"


def _stack_check(probe: Probe, depth: int, stride: int, tag: int, label: str) -> Check:
    def run(scoped: bool) -> int:
        # Distinct tags: the control's leftovers above the trampoline must not count
        # against the scope (they were never below its entry stack pointer).
        mark = tag | 0x80 if scoped else tag
        stack_low = current_thread_bounds()[0]
        write, written = probe.stack_writer(depth, stride, mark)
        do(write) if scoped else write()
        low, _ = written()
        return probe.count(min(stack_low, low), probe.stack_pointer() - 256, mark)

    before, after = run(False), run(True)
    return Check(label, f"{before} words", f"{after} words", before > 0, after == 0, True)


def _in_thread(fn: Callable[[], Check]) -> Check:
    box: List[Check] = []
    t = threading.Thread(target=lambda: box.append(fn()))
    t.start()
    t.join()
    return box[0]


def _register_check(probe: Probe, tag: int) -> List[Check]:
    from .probe import sentinel
    pattern = sentinel(tag)
    control = probe.spill_after(probe.plain_vectorcall(), probe.regs_fill, tag)
    scoped = probe.spill_after(backend.addresses["ss_call"], probe.regs_fill, tag)  # type: ignore[union-attr]
    held, left = control.holding(pattern), scoped.holding(pattern)
    return [
        Check("registers", f"{len(held)} registers", f"{len(left)} registers" + (f" ({', '.join(left)})" if left else ""),
              bool(held), not left, True),
        Check("MXCSR status flags", f"{control.mxcsr_flags:#04x}", f"{scoped.mxcsr_flags:#04x}",
              control.mxcsr_flags != 0, scoped.mxcsr_flags == 0, True),
    ]


def _heap_check(probe: Probe, tag: int, claimed: bool) -> Check:
    import gc

    from .memory_scan import MemoryScanner, bytes_sentinel_masked, make_bytes
    scanner = MemoryScanner(probe)
    try:
        def run(scoped: bool) -> int:
            mark = tag | 0x80 if scoped else tag
            objs = [do(make_bytes, mark, 4096) if scoped else make_bytes(mark, 4096) for _ in range(16)]
            del objs
            gc.collect()
            return scanner.count_process(bytes_sentinel_masked(mark))

        before, after = run(False), run(True)
    finally:
        scanner.mem.close()
    return Check("heap (16 x 4 KiB bytes, freed)", f"{before} words", f"{after} words", before > 0, after == 0,
                 claimed)


def _free_list_check(probe: Probe, tag: int, claimed: bool) -> Check:
    """20 floats whose bits are the secret, dropped: parked on the float free list, or not."""
    import struct

    from .._freelists import _Memory  # pyright: ignore[reportPrivateUsage]
    from .memory_scan import MemoryScanner, bytes_sentinel_masked, make_bytes
    from .probe import masked_bytes
    scanner, mem = MemoryScanner(probe), _Memory()
    try:
        def run(scoped: bool) -> Tuple[int, int]:
            mark = tag | 0x80 if scoped else tag

            def body() -> Tuple[int, ...]:
                floats = [struct.unpack("<d", make_bytes(mark, 8))[0] for _ in range(20)]
                return tuple(id(x) for x in floats)
            addresses = do(body) if scoped else body()
            process = scanner.count_process(bytes_sentinel_masked(mark))   # before any copy below
            word = bytes(b ^ 0xA5 for b in masked_bytes(mark))
            kept = sum(1 for a in addresses if mem.read(a + 16, 8) == word)
            return kept, process

        (before, _), (after, process) = run(False), run(True)
    finally:
        scanner.mem.close()
        mem.close()
    return Check("free list (20 floats, parked)", f"{before} floats", f"{after + process} words", before > 0,
                 after == 0 and process == 0, claimed)


def _native_heap_check(probe: Probe, tag: int) -> Check:
    """A native buffer: blocks from malloc through a library's own PLT/GOT (the probe-alloc
    object), filled with the secret and freed without wiping."""
    import ctypes

    from .memory_scan import MemoryScanner
    from .._loader import library_path, load_verified
    from .probe import masked

    lib = load_verified(library_path("probe-alloc"))
    malloc, free, fill = lib.pa_malloc, lib.pa_free, lib.pa_fill
    malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    free.restype, free.argtypes = None, [ctypes.c_void_p]
    fill.restype, fill.argtypes = None, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64]
    scanner = MemoryScanner(probe)
    try:
        def run(scoped: bool) -> int:
            mark = tag | 0x80 if scoped else tag

            def make() -> int:
                block = malloc(4096)
                fill(block, 4096, masked(mark))
                return int(block)

            blocks = [do(make) if scoped else make() for _ in range(16)]
            for block in blocks:
                free(block)
            return scanner.count_process(masked(mark))

        before, after = run(False), run(True)
    finally:
        scanner.mem.close()
    return Check("native heap (16 x 4 KiB malloc, freed)", f"{before} words", f"{after} words", before > 0,
                 after == 0, True)


def _signal_check(probe: Probe, tag: int) -> Check:
    """A signal arriving with the secret in every register, on a thread with an alternate
    signal stack: its frame must not survive the scope there."""
    import faulthandler
    import signal

    from .probe import masked

    was_enabled = faulthandler.is_enabled()
    faulthandler.enable()  # gives this thread an alternate signal stack
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: None)  # CPython installs it SA_ONSTACK
    try:
        low, size = alternate_signal_stack() or (0, 0)

        def run(scoped: bool) -> int:
            mark = tag | 0x80 if scoped else tag
            probe.signal_setup(mark, signal.SIGUSR1)
            do(probe.regs_fill_signal) if scoped else probe.regs_fill_signal()
            return probe.count_any_offset(low, low + size, masked(mark))

        before, after = run(False), run(True)
    finally:
        signal.signal(signal.SIGUSR1, previous)
        if not was_enabled:
            faulthandler.disable()
    return Check("signal frame on the alternate stack", f"{before} words", f"{after} words", before > 0,
                 after == 0, True)


def coverage_report(p: Protection, out: TextIO) -> None:
    """The coverage lines: platform, backend, features, what is covered and why not."""
    yes = {True: "yes", False: "no"}
    print(f"platform  {p.platform}", file=out)
    print(f"backend   {p.backend}", file=out)
    if p.features:
        print(f"features  {' '.join(p.features)}", file=out)
    print(f"coverage  registers {yes[p.registers]}, stack {yes[p.stack]}, heap {yes[p.heap]}, "
          f"signal stacks {yes[p.signal_stacks]}, native heap {yes[p.native_heap]}", file=out)
    print(f"inherit   {yes[p.inherit]}: threads, thread-pool work and asyncio tasks a scope starts run in "
          f"a scope (SECRETSCOPE_INHERIT, secretscope.inherit())", file=out)
    if p.reason:
        print(f"not covered: {p.reason}", file=out)
    for limit in p.limits:  # exceptions of guarantees that hold (docs/guarantees.md, "Not covered")
        print(f"limit     {limit}", file=out)


def live_checks(p: Protection) -> List[Check]:
    """Every check of the live self-test this backend's claims call for (native backend only)."""
    # The probe binds CPython's C-API at import: only with the native backend (not on PyPy).
    from .probe import Probe
    probe = Probe(backend)  # type: ignore[arg-type]
    checks: List[Check] = [
        _stack_check(probe, 1 * KiB, 4096, 0x11, "stack 1 KiB"),
        _stack_check(probe, 64 * KiB, 4096, 0x12, "stack 64 KiB"),
        _stack_check(probe, 1 * MiB, 16 * 4096, 0x13, "stack 1 MiB, untouched gaps"),
        _in_thread(lambda: _stack_check(probe, 64 * KiB, 4096, 0x14, "stack 64 KiB, worker thread")),
        *_register_check(probe, 0x15),
    ]
    if p.heap:
        checks.append(_heap_check(probe, 0x16, True))
        checks.append(_free_list_check(probe, 0x18, True))
    if p.signal_stacks:
        checks.append(_signal_check(probe, 0x17))
    if p.native_heap:
        checks.append(_native_heap_check(probe, 0x19))
    return checks


def checks_report(p: Protection, checks: List[Check], out: TextIO) -> int:
    """The checks' table and the result line; the exit status (1 if a claimed protection fails)."""
    print("\nself-test: a known secret, without a scope / inside a scope", file=out)
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"  {c.name:<{width}}  without: {c.unprotected:<14} with: {c.protected:<14} {c.verdict}", file=out)
    for name, claimed in (("heap", p.heap), ("signal stacks", p.signal_stacks), ("native heap", p.native_heap)):
        if not claimed:
            print(f"  {name:<{width}}  not claimed by this backend: not tested", file=out)
    failed = [c.name for c in checks if c.claimed and not c.clean]
    print("\nresult: " + (f"FAILED: {', '.join(failed)}" if failed else "every claimed protection holds"), file=out)
    return 1 if failed else 0


def run(stream: TextIO, as_json: bool = False) -> int:
    """Print the report (as_json: one JSON object, see json_report) and return the exit status
    (1 if a claimed protection fails)."""
    p = backend.protection()
    if not as_json:
        coverage_report(p, stream)
    if p.backend != "native":
        if as_json:
            return json_report(stream, p, None)
        print("\nself-test: skipped (the fallback backend claims no protection)", file=stream)
        return 0
    checks = live_checks(p)
    return json_report(stream, p, checks) if as_json else checks_report(p, checks, stream)


def json_report(out: TextIO, p: Protection, checks: Optional[List[Check]]) -> int:
    """`python -m secretscope --json`: the coverage report and every self-test check as one JSON
    object (for provisioning scripts and monitoring); the exit status as for the text report.

    {"secretscope": version, "python": {...}, "protection": {every Protection field, "complete"},
     "selftest": {"ran": bool, "result": "ok" | "FAILED" | "skipped", "failed": [names],
                  "checks": [{"name", "without", "with", "verdict", "claimed", "control_found",
                              "clean", and any later Check field}]}}
    """
    from .. import __version__
    failed = [c.name for c in checks or () if c.claimed and not c.clean]
    report: Dict[str, Any] = {
        "secretscope": __version__,
        "python": {"implementation": platform.python_implementation(), "version": platform.python_version()},
        "protection": {**dataclasses.asdict(p), "complete": p.complete},
        "selftest": {
            "ran": checks is not None,
            "result": "skipped" if checks is None else "FAILED" if failed else "ok",
            "failed": failed,
            "checks": [_check_fields(c) for c in checks or ()],
        },
    }
    json.dump(report, out, indent=2)
    out.write("\n")
    return 1 if failed else 0


def _check_fields(c: Check) -> Dict[str, Any]:
    fields = dataclasses.asdict(c)
    return {"name": fields.pop("name"), "without": fields.pop("unprotected"), "with": fields.pop("protected"),
            "verdict": c.verdict, **fields}


def main(stream: TextIO, as_json: bool = False) -> int:
    """`python -m secretscope [selftest] [--json]`: the banner (text report only), then run."""
    if as_json:
        return run(stream, as_json=True)
    banner(stream)
    return run(stream)
