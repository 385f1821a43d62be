"""Stack bounds of the calling thread, handed to the native backend on its first scope.

The assembly keeps one slot per thread (keyed by the thread pointer) holding
the thread's stack bounds.  On the first scope of a thread it calls back into
`StackRegistry.register`, which finds the bounds here and records them; when
the thread's Python state is cleared the slot is released, so a later thread
whose control block lands at the same address never inherits stale bounds.

Where the bounds come from:
  - every thread: pthread_getattr_np (glibc and musl), which reports the exact
    usable stack, excluding the guard area;
  - but the thread running on the process's initial stack -- the `[stack]`
    mapping in /proc/self/maps -- gets that mapping instead.  It grows down on
    demand, so the backend re-probes its low end; `floor` is the lowest address
    it may ever reach (the end of the mapping below it, or top - RLIMIT_STACK).

Which thread that is is decided by the stack itself, not by the thread id: in
a child forked from a worker thread the only thread has tid == pid, yet it
runs on the worker's mmap'd stack, and the `[stack]` mapping is the dead
initial thread's.
"""
from __future__ import annotations

import ctypes
import os
import resource
import threading
from typing import Callable, Optional, Tuple

from ._interface import SLOTF_GROWSDOWN as SLOTF_GROWSDOWN  # re-exported (the table is _interface.py)

PAGE = os.sysconf("SC_PAGE_SIZE")

Bounds = Tuple[int, int, int, int]  # low, high, floor, flags


def _maps() -> list[tuple[int, int, str]]:
    rows: list[tuple[int, int, str]] = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            rows.append((lo, hi, parts[5] if len(parts) > 5 else ""))
    return rows


def main_thread_bounds() -> Bounds:
    rows = _maps()
    for i, (lo, hi, name) in enumerate(rows):
        if name == "[stack]":
            below = rows[i - 1][1] if i > 0 else 0
            floor = below + PAGE
            soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
            if soft != resource.RLIM_INFINITY:
                floor = max(floor, hi - soft)
            return lo, hi, min(floor, lo), SLOTF_GROWSDOWN
    raise OSError("no [stack] mapping in /proc/self/maps")


class _PthreadAttr(ctypes.Structure):
    _fields_ = [("_opaque", ctypes.c_byte * 128)]  # larger than any libc's pthread_attr_t


def pthread_bounds() -> Bounds:
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _PthreadAttr()
    libc.pthread_self.restype = ctypes.c_ulong
    self_ = ctypes.c_ulong(libc.pthread_self())
    err = libc.pthread_getattr_np(self_, ctypes.byref(attr))
    if err:
        raise OSError(err, f"pthread_getattr_np: {os.strerror(err)}")
    try:
        addr, size = ctypes.c_void_p(), ctypes.c_size_t()
        err = libc.pthread_attr_getstack(ctypes.byref(attr), ctypes.byref(addr), ctypes.byref(size))
        if err:
            raise OSError(err, f"pthread_attr_getstack: {os.strerror(err)}")
    finally:
        libc.pthread_attr_destroy(ctypes.byref(attr))
    low = addr.value or 0
    return low, low + size.value, low, 0


def _initial_stack() -> Optional[Tuple[int, int]]:
    """(low, high) of the `[stack]` mapping, or None when there is none."""
    for lo, hi, name in _maps():
        if name == "[stack]":
            return lo, hi
    return None


def current_thread_bounds() -> Bounds:
    bounds = pthread_bounds()
    # Only a thread whose tid is the pid can be on the initial stack (the process's first
    # thread, or the forking thread in a fork child); the check reads /proc/self/maps, so it
    # is made for that one only.  The initial thread's pthread range overlaps [stack] (glibc
    # ends it where [stack] ends, musl at the auxiliary vector inside it); a worker's does not.
    if threading.get_native_id() == os.getpid():
        initial = _initial_stack()
        if initial is not None and bounds[0] < initial[1] and initial[0] < bounds[1]:
            return main_thread_bounds()
    return bounds


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


SS_DISABLE = 2


def alternate_signal_stack() -> Optional[Tuple[int, int]]:
    """(low, size) of the calling thread's alternate signal stack, or None when it has none."""
    old = _StackT()
    if ctypes.CDLL(None, use_errno=True).sigaltstack(None, ctypes.byref(old)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"sigaltstack: {os.strerror(err)}")
    return None if old.ss_flags & SS_DISABLE else (old.ss_sp or 0, old.ss_size)


class _SlotGuard:
    """Lives in the thread's thread-local data; releases the slot when the thread ends."""

    __slots__ = ("tp", "generation", "registry")

    def __init__(self, tp: int, generation: int, registry: "StackRegistry") -> None:
        self.tp, self.generation, self.registry = tp, generation, registry

    def __del__(self) -> None:
        if self.generation == self.registry.generation:  # not a guard from before a fork
            self.registry.forget(self.tp)


class StackRegistry:
    """The Python half of per-thread registration (see module docstring)."""

    def __init__(self, register: Callable[[int, int, int, int], int], forget: Callable[[int], int],
                 reset_after_fork: Callable[[], None], on_register: Callable[[], None] = lambda: None) -> None:
        self._register, self.forget, self._reset = register, forget, reset_after_fork
        self._on_register = on_register
        self.on_registered: list[Callable[[], None]] = []  # run on the thread once it is registered
        self._local = threading.local()
        self.generation = 0
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self.generation += 1
        self._reset()

    def register(self) -> None:
        """Called by the assembly (PyObject_CallNoArgs) on a thread's first scope."""
        self._on_register()
        low, high, floor, flags = current_thread_bounds()
        tp = self._register(low, high, floor, flags)
        if not tp:
            raise RuntimeError("secretscope: too many threads hold scope state (4096)")
        self._local.guard = _SlotGuard(tp, self.generation, self)
        for callback in self.on_registered:
            callback()

    def registered_here(self) -> Optional[int]:
        guard = getattr(self._local, "guard", None)
        return guard.tp if guard is not None else None
