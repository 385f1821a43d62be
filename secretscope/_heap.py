"""The Python half of heap zeroing: installing the allocator wrapper and keeping it installed.

The assembly (asm/<arch>/heap.S) wraps the PyMem and PyObject allocators and zeroes, when
they are freed, the blocks allocated inside a scope.  This module installs it over the current
allocators with PyMem_SetAllocator -- lazily, on the first scope of the process -- and keeps it
in the chain when tracemalloc starts and stops around it:

- tracemalloc started after us wraps us, and restores us when it stops: nothing to do;
- tracemalloc started before us is wrapped by us; when it stops it restores the allocator it
  saved, which bypasses us.  `tracemalloc.stop` is wrapped so that we go straight back on top of
  the restored allocator; the blocks we recorded came from that same allocator, so the records
  stay valid.
- any other bypass (a C extension swapping allocators, tracemalloc stopped at finalization) is
  detected by `ensure()` (each new thread's first scope, `protection()`): every record is dropped
  before we are reinstalled, so a stale record is never acted on, and `protection()` reports it.
"""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, List, Optional

from ._cpython import api_function
from ._platform import free_threaded

PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ = 1, 2
DOMAINS = (PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ)


class PyMemAllocatorEx(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("malloc", ctypes.c_void_p), ("calloc", ctypes.c_void_p),
                ("realloc", ctypes.c_void_p), ("free", ctypes.c_void_p)]


_get = api_function("PyMem_GetAllocator")
_get.argtypes = [ctypes.c_int, ctypes.POINTER(PyMemAllocatorEx)]
_get.restype = None
_set = api_function("PyMem_SetAllocator")
_set.argtypes = [ctypes.c_int, ctypes.POINTER(PyMemAllocatorEx)]
_set.restype = None


def current_allocator(domain: int) -> PyMemAllocatorEx:
    out = PyMemAllocatorEx()
    _get(domain, ctypes.byref(out))
    return out


class HeapZeroing:
    """Installs and guards the wrapper of one loaded backend library."""

    def __init__(self, lib: Any, implemented: bool = True) -> None:
        self.lib = lib
        self.installed = False
        self.bypasses = 0
        self.reason: Optional[str] = None
        if free_threaded():
            self.reason = "heap: unavailable on the free-threaded build (the wrapper would race the GC)"
            return
        if not implemented or not hasattr(lib, "ss_heap_malloc"):
            self.reason = "heap: not implemented on this architecture yet"
            return
        self.domains = (PyMemAllocatorEx * 2).in_dll(lib, "ss_heap_domains")
        self.tracked = ctypes.c_uint64.in_dll(lib, "ss_heap_tracked")
        self.stats = (ctypes.c_uint64 * 3).in_dll(lib, "ss_heap_stats")
        fn = {name: _cpython_address(lib, f"ss_heap_{name}") for name in ("malloc", "calloc", "realloc", "free")}
        self.ours: List[PyMemAllocatorEx] = [
            PyMemAllocatorEx(ctypes.addressof(self.domains[i]), fn["malloc"], fn["calloc"], fn["realloc"], fn["free"])
            for i in range(len(DOMAINS))]
        lib.ss_heap_forget_all.restype = None
        self.tracemalloc_wraps_us = False
        # Installing is check-then-act (is ours on top? copy the current allocator, put ours on
        # top), and the copy releases the GIL: the first scopes of several threads must not
        # interleave there.  Re-created in a forked child (the lock may be held at fork).
        self._lock = threading.RLock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._new_lock)
        self._patch_tracemalloc()

    def _new_lock(self) -> None:
        self._lock = threading.RLock()

    @property
    def available(self) -> bool:
        return self.reason is None

    # ---- installation -------------------------------------------------------------------
    def _is_current(self, i: int) -> bool:
        cur = current_allocator(DOMAINS[i])
        return bool(cur.ctx == self.ours[i].ctx and cur.malloc == self.ours[i].malloc)

    def _wrap_current(self, i: int) -> None:
        """Put our wrapper on top of whatever allocator is current for domain i (unless it is ours)."""
        inner = current_allocator(DOMAINS[i])
        if inner.ctx == self.ours[i].ctx and inner.malloc == self.ours[i].malloc:
            # Already on top (another thread, or this module in another interpreter, put it
            # there).  Copying it would make the wrapper its own inner allocator: every later
            # free of the domain would loop forever, or recurse until the stack overflows.
            return
        ctypes.memmove(ctypes.addressof(self.domains[i]), ctypes.addressof(inner), ctypes.sizeof(inner))
        _set(DOMAINS[i], ctypes.byref(self.ours[i]))

    def ensure(self) -> None:
        """Install on first use; afterwards, detect a bypass and recover without stale records."""
        if not self.available:
            return
        with self._lock:
            if not self.installed:
                for i in range(len(DOMAINS)):
                    self._wrap_current(i)
                self.installed = True
                return
            reachable = all(self._is_current(i) for i in range(len(DOMAINS)))
            if not reachable and not (self.tracemalloc_wraps_us and _tracemalloc_tracing()):
                self.bypasses += 1
                self.lib.ss_heap_forget_all()  # a recorded address may belong to another block now
                for i in range(len(DOMAINS)):
                    if not self._is_current(i):
                        self._wrap_current(i)

    # ---- tracemalloc --------------------------------------------------------------------
    def _patch_tracemalloc(self) -> None:
        import tracemalloc

        import _tracemalloc
        real_start, real_stop = _tracemalloc.start, _tracemalloc.stop

        def start(*args: Any) -> None:
            was_tracing = real_start is not None and _tracemalloc.is_tracing()
            wraps_us = self.installed and all(self._is_current(i) for i in range(len(DOMAINS)))
            real_start(*args)
            if not was_tracing:
                self.tracemalloc_wraps_us = wraps_us

        def stop() -> None:
            with self._lock:
                real_stop()
                self.tracemalloc_wraps_us = False
                if self.installed:
                    # tracemalloc restored the allocator it saved; if that predates us, go back on top
                    for i in range(len(DOMAINS)):
                        if not self._is_current(i):
                            self._wrap_current(i)

        start.__doc__, stop.__doc__ = real_start.__doc__, real_stop.__doc__
        for module in (tracemalloc, _tracemalloc):
            setattr(module, "start", start)  # (setattr: typeshed's _tracemalloc has no start/stop)
            setattr(module, "stop", stop)

    # ---- reporting ----------------------------------------------------------------------
    def note(self) -> Optional[str]:
        if not self.available:
            return self.reason
        if self.bypasses:
            return (f"heap: the allocator wrapper was bypassed {self.bypasses} time(s) (allocators swapped "
                    f"underneath it); blocks freed while bypassed were not zeroed")
        return None


def _tracemalloc_tracing() -> bool:
    import _tracemalloc
    return bool(_tracemalloc.is_tracing())


def _cpython_address(lib: Any, name: str) -> int:
    return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value or 0

