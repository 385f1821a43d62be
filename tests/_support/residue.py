"""Helpers for residue tests: run a probe under each kind of scope, and scan stacks."""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Callable, Dict, Tuple

from secretscope import do, secret
from secretscope.diagnostics.probe import Probe
from secretscope._threads import current_thread_bounds

# Sentinel tags (the id byte of the 8-byte pattern), one range per test family, so that what one
# test leaves behind on purpose (controls, the broken-protection self-test) never matches another's:
#   0x0a-0x0d exceptions   0x11-0x19 and 0x91-0x99 the CLI self-test   0x20-0x57 stack residue
#   0x50-0x59 signals   0x5a registers   0x5c-0x5d blocks closed uncalled (test_block_pairing)
#   0x5e native heap (its other sentinels: 0xF5 NATIV + tag)   0x60-0x6f threads   0x70-0x7f generators/coroutines
#   0x80-0x8f scans skipped by the fault count (test_scan_skipping)   0xa0-0xb5 inherited work
#   (test_inherit)   free lists (test_free_lists): 0x00-0x09, 0x0e-0x10, 0x1a-0x1f, 0x5b, 0x5f, 0x90, 0x9a-0x9f, 0xb6-0xbf
#   (0x18/0x98 and 0x19/0x99: the free-list and native-heap self-test lines)   0xc0-0xff heap (0xf8-0xf9: test_block_pairing)
KiB = 1024
MiB = 1024 * KiB


def plain(write: Callable[[], None]) -> None:
    write()


def decorated(write: Callable[[], None]) -> None:
    secret(write)()


def via_do(write: Callable[[], None]) -> None:
    do(write)


def with_block(write: Callable[[], None]) -> None:
    with secret():
        write()


RUNNERS: Dict[str, Callable[[Callable[[], None]], None]] = {
    "plain": plain, "decorator": decorated, "do": via_do, "with": with_block,
}


def stack_residue(probe: Probe, runner: str, depth: int, stride: int, tag: int) -> Tuple[int, int]:
    """Plant the sentinel `depth` deep under `runner`; return (hits in the written range,
    hits anywhere in this thread's stack below the caller)."""
    # Bounds first: reading /proc/self/maps afterwards would itself overwrite the stack.
    stack_low = current_thread_bounds()[0]
    write, written = probe.stack_writer(depth, stride, tag)
    RUNNERS[runner](write)
    low, high = written()
    local = probe.count(low, high, tag)
    # the main thread's mapping may have grown down to `low` during the run
    whole = probe.count(min(stack_low, low), probe.stack_pointer() - 256, tag)
    return local, whole


def in_thread(fn: Callable[[], object], stack_size: int = 0) -> object:
    """Run fn on a fresh thread (optionally with a given stack size) and return its result."""
    box: Dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    old = threading.stack_size(stack_size) if stack_size else None
    try:
        t = threading.Thread(target=target)
        t.start()
    finally:
        if old is not None:
            threading.stack_size(old)
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


def is_main_thread() -> bool:
    return threading.get_native_id() == os.getpid()


def word_at(address: int) -> int:
    return ctypes.c_uint64.from_address(address).value
