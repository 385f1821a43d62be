"""Scopes and greenlets (issue 13, case 7): `enabled()` exact per greenlet.

greenlet (and gevent on top of it) switches between greenlets on one OS thread, so they all share
the thread's slot.  A scope open in a greenlet that switches out stays open -- it ends when that
greenlet resumes and leaves it -- while other greenlets run.  What that means for each guarantee:

- enabled(): per greenlet.  On every switch (greenlet.settrace) the running greenlet's own scopes
  are parked and the target's unparked: the slot's depth counts every scope open on the thread,
  the parked count (asm/<arch>/greenlets.S) those of suspended greenlets, and enabled() is True
  only when the running greenlet has a scope of its own.  A greenlet that never entered a scope
  sees False.
- heap: recording is per thread and stays on while any greenlet of the thread is inside a scope.
  greenlet copies a suspended greenlet's stack slice -- the scope's stack data with it -- into a
  PyMem block, during that greenlet's switch or a later one; those blocks are recorded, so they
  are zeroed when greenlet frees them.
- stack and registers: erased when the scope ends, below its entry, as always; the slice greenlet
  put back on the stack is part of that.

The hook is installed on a thread when the thread registers (its first scope) if greenlet is
imported, and on the importing thread when greenlet is imported later.  It chains to any tracer
set before it.
"""
from __future__ import annotations

import ctypes
import importlib.abc
import importlib.machinery
import sys
import threading
import weakref
from typing import Any, Callable, Optional, Sequence, Tuple

SLOT_DEPTH = 8                # asm/<arch>/common.inc
PARK_COUNT, PARK_SLOT = 8, 16  # asm/<arch>/greenlets.S

Counters = Tuple[ctypes.c_uint64, ctypes.c_uint64]  # (the thread's depth, its parked count)


class GreenletScopes:
    """Parks and unparks the scopes of greenlets as they switch (see module docstring)."""

    def __init__(self, lib: Any) -> None:
        self._entry = lib.ss_greenlet_entry
        self._entry.restype = ctypes.c_uint64
        self._entry.argtypes = [ctypes.c_uint64]
        self._local = threading.local()
        # greenlet -> its own open scopes while it is suspended (greenlets are thread-bound)
        self._parked: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()
        if "greenlet" in sys.modules:
            self.install_here()
        else:
            sys.meta_path.insert(0, _AfterImport("greenlet", self._greenlet_imported))

    def thread_registered(self) -> None:
        """A thread's first scope (StackRegistry): a fresh parked count, and the hook if needed."""
        self._entry(1)
        if "greenlet" in sys.modules:
            self.install_here()

    def _greenlet_imported(self) -> None:
        self.install_here()

    def _counters(self) -> Optional[Counters]:
        counters: Optional[Counters] = getattr(self._local, "counters", None)
        if counters is None:
            entry = self._entry(0)
            if not entry:
                return None  # no scope ever on this thread: nothing to park
            slot = ctypes.c_uint64.from_address(entry + PARK_SLOT).value
            counters = (ctypes.c_uint64.from_address(slot + SLOT_DEPTH),
                        ctypes.c_uint64.from_address(entry + PARK_COUNT))
            self._local.counters = counters
        return counters

    def install_here(self) -> None:
        """Put the switch hook on the calling thread (once; chained to the tracer already set)."""
        greenlet = sys.modules.get("greenlet")
        settrace = getattr(greenlet, "settrace", None)
        if greenlet is None or settrace is None:
            return
        mine = getattr(self._local, "tracer", None)
        if mine is not None and greenlet.gettrace() is mine:
            return
        previous = greenlet.gettrace()
        self._local.tracer = tracer = self._tracer(previous)
        settrace(tracer)

    def _tracer(self, previous: Optional[Callable[[str, Any], Any]]) -> Callable[[str, Any], Any]:
        parked, counters = self._parked, self._counters

        def secretscope_greenlet_switch(event: str, args: Any) -> Any:
            # Runs in the target greenlet, right after the switch.
            if event == "switch" or event == "throw":
                origin, target = args
                view = counters()
                if view is not None:
                    depth, park = view
                    own = max(depth.value - park.value, 0)  # the origin's own scopes
                    back = parked.pop(target, 0) if parked else 0
                    if own:
                        parked[origin] = own
                    park.value = max(park.value + own - back, 0)
            if previous is not None:
                return previous(event, args)
            return None

        return secretscope_greenlet_switch


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls `then()` right after the module `name` has been imported (once)."""

    def __init__(self, name: str, then: Callable[[], None]) -> None:
        self.name, self.then = name, then

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module, then = spec.loader.exec_module, self.then

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec: Any) -> Any:
                return spec_loader.create_module(spec)

            def exec_module(self, module: Any) -> None:
                exec_module(module)
                then()

        spec_loader = spec.loader
        spec.loader = _Loader()
        return spec

