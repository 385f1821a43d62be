"""Work a scope starts runs in a scope: threads, thread-pool work and asyncio tasks inherit it.

Go's accepted golang/go#76477.  Three thin wrappers over standard-library methods do it:

  threading.Thread.start                         the thread's run() is called through do()
  concurrent.futures.ThreadPoolExecutor.submit   the work item is called through do()
                                                 (Executor.map, loop.run_in_executor and
                                                 asyncio.to_thread all go through submit)
  asyncio.BaseEventLoop.create_task              the coroutine is driven by _InheritedCoroutine,
                                                 every step through do(), as a decorated coroutine
                                                 is (asyncio.create_task, ensure_future, gather,
                                                 TaskGroup.create_task, task factories, eager
                                                 tasks and asyncio.run all call loop.create_task)

Each wrapper first asks `enabled()` (one call into the assembly) and, outside scopes, calls the
original at once.  The wrappers are installed by the process's first scope (StackRegistry calls
`first_scope` on every thread's first scope), so code that never enters a scope runs the bare
standard library.  Modules not imported yet at that point are patched right after their import
(`_PatchAfterImport`, a sys.meta_path entry removed once both are patched).  `inherit(False)` or
SECRETSCOPE_INHERIT=0 restores Go 1.26's semantics: the originals go back in place (a wrapper
something else has wrapped since cannot be taken out; it is made inert instead).
"""
from __future__ import annotations

import functools
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._config import env_flag

ENV = "SECRETSCOPE_INHERIT"

THREADING, EXECUTOR, ASYNCIO = "threading", "concurrent.futures.thread", "asyncio.base_events"


def setting_from_environment(environ: Optional[Dict[str, str]] = None) -> bool:
    """SECRETSCOPE_INHERIT: 1 (or unset: the default) inherit, 0 Go 1.26 semantics; anything
    else is an error, so that a misspelt opt-out never runs with a setting nobody chose."""
    return env_flag(ENV, True, environ)


def _never() -> bool:
    return False


# Bound by configure(): the backend's `enabled` and `do` builtins.  `_enabled` is what every
# wrapper asks first; it is `_never` while inheritance is off, so a wrapper that could not be
# taken out (something wrapped it since) does nothing.
_enabled: Callable[[], bool] = _never
def _call(f: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return f(*args, **kwargs)


_do: Callable[..., Any] = _call
_scope_enabled: Callable[[], bool] = _never
_native = False
_wanted = True          # the setting (SECRETSCOPE_INHERIT, inherit())
_armed = False          # a scope has begun in this process, or inherit(True) was called
_lock = threading.RLock()
_local = threading.local()  # .suppress: > 0 while ThreadPoolExecutor.submit starts its workers

# installed wrappers: module name -> (owner class, attribute, original, wrapper)
_installed: Dict[str, Tuple[type, str, Any, Any]] = {}
_originals: Dict[str, Any] = {}
# the same originals as globals, what the wrappers call (a dict lookup less per call)
_original_start: Callable[..., Any] = _never
_original_submit: Callable[..., Any] = _never
_original_create_task: Callable[..., Any] = _never


# ---- the wrappers --------------------------------------------------------------------------

def _thread_start(self: threading.Thread) -> None:
    if _enabled() and not getattr(_local, "suppress", 0) and not _already_started(self):
        _run_inside_scope(self)
    _original_start(self)


def _already_started(thread: threading.Thread) -> bool:
    started = getattr(thread, "_started", None)  # an Event on 3.10-3.15; start() raises then
    return started is not None and started.is_set()


def _run_inside_scope(thread: threading.Thread) -> None:
    """Make the thread's run() go through do(): its registers and stack (everything below the
    trampoline) are erased when run() returns or raises, before the C library caches the stack."""
    run = thread.run

    def run_in_scope() -> None:
        try:
            _do(run)
        finally:
            thread.__dict__.pop("run", None)  # no cycle thread -> run_in_scope -> thread left

    thread.run = run_in_scope  # type: ignore[method-assign]


def _submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    if not _enabled():
        return _original_submit(self, fn, *args, **kwargs)
    if not _runs_elsewhere(self):
        fn = functools.partial(_do, fn)
    # The pool starts its worker threads inside submit: they serve every later submitter and
    # must not run their whole life inside this scope.
    _local.suppress = getattr(_local, "suppress", 0) + 1
    try:
        return _original_submit(self, fn, *args, **kwargs)
    finally:
        _local.suppress -= 1


def _runs_elsewhere(executor: Any) -> bool:
    """3.14's InterpreterPoolExecutor is a ThreadPoolExecutor whose work runs in another
    interpreter (pickled there): it cannot inherit, like a process pool."""
    module = sys.modules.get("concurrent.futures.interpreter")
    pool = getattr(module, "InterpreterPoolExecutor", None)
    return pool is not None and isinstance(executor, pool)


def _create_task(self: Any, coro: Any, **kwargs: Any) -> Any:
    # create_task takes the coroutine and keywords only (name, context, eager_start ...), on
    # every version: no *args to pack on this path, which every task creation takes
    if _enabled():
        coro = _inherited(coro)
    return _original_create_task(self, coro, **kwargs)


_decorated_code: Any = None  # code object of _suspendable.wrap_coroutine's wrapper
_InheritedCoroutine: Any = None


def _inherited(coro: Any) -> Any:
    """The coroutine driven one scope per step; anything else is left for create_task to judge."""
    from asyncio import iscoroutine
    if (not iscoroutine(coro) or isinstance(coro, _InheritedCoroutine)
            or getattr(coro, "cr_code", None) is _decorated_code):  # already a scope per step
        return coro
    return _InheritedCoroutine(coro)


def _define_coroutine_wrapper() -> None:
    global _decorated_code, _InheritedCoroutine
    if _InheritedCoroutine is not None:
        return
    from ._suspendable import _Step, wrap_coroutine  # pyright: ignore[reportPrivateUsage]

    async def sample() -> None:
        return None
    _decorated_code = wrap_coroutine(sample).__code__

    class InheritedCoroutine(_Step):
        """A task's coroutine whose every send/throw/close runs through do() (_Step), so the task
        runs in its own scope at each step and enabled() is exact per task.  A coroutine object
        itself (the Task drives it directly: a throw before the first step reaches the original
        at once, as without the wrapper); its name, frame and code are the original's, so task
        reprs, get_stack() and call graphs read as before."""

        __slots__ = ()

        @property
        def __wrapped__(self) -> Any:
            return self._it

        def __getattr__(self, name: str) -> Any:
            # only reached when normal lookup fails: instances of a class have no __name__ or
            # __qualname__ of their own, so those come from the original too
            if name.startswith(("cr_", "gi_")) or name in ("__name__", "__qualname__"):
                return getattr(self._it, name)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

        def __repr__(self) -> str:
            return f"<{self._it!r} in a secret scope at each step>"

    InheritedCoroutine.__name__ = InheritedCoroutine.__qualname__ = "InheritedCoroutine"
    InheritedCoroutine.__module__ = __name__
    _InheritedCoroutine = InheritedCoroutine


# module -> (class, method, wrapper, global holding the original)
_WRAPPERS: Dict[str, Tuple[str, str, Callable[..., Any], str]] = {
    THREADING: ("Thread", "start", _thread_start, "_original_start"),
    EXECUTOR: ("ThreadPoolExecutor", "submit", _submit, "_original_submit"),
    ASYNCIO: ("BaseEventLoop", "create_task", _create_task, "_original_create_task"),
}


# ---- installing and removing ---------------------------------------------------------------

def _patch(module_name: str) -> None:
    module = sys.modules.get(module_name)
    if module is None or module_name in _installed:
        return
    class_name, attribute, wrapper, holder = _WRAPPERS[module_name]
    owner = getattr(module, class_name)
    current = owner.__dict__[attribute]
    if current is wrapper:  # still ours from an earlier install (made inert, not removed)
        _installed[module_name] = (owner, attribute, _originals[module_name], wrapper)
        return
    _originals[module_name] = globals()[holder] = current
    setattr(owner, attribute, wrapper)
    _installed[module_name] = (owner, attribute, current, wrapper)


def _install() -> None:
    """Under _lock.  Patch what is imported; watch the imports of the rest."""
    _define_coroutine_wrapper()
    for name in _WRAPPERS:
        _patch(name)
    missing = [name for name in _WRAPPERS if name not in _installed]
    if missing and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    global _enabled
    _enabled = _scope_enabled


def _uninstall() -> None:
    """Under _lock.  Put the originals back where nothing wrapped ours since."""
    global _enabled
    _enabled = _never
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name, (owner, attribute, original, wrapper) in list(_installed.items()):
        if owner.__dict__.get(attribute) is wrapper:
            setattr(owner, attribute, original)
            del _installed[name]
        # else something wrapped ours since: ours stays in its chain, inert (_enabled is _never),
        # and is switched back on, not wrapped again, by the next install


class _PatchAfterImport:
    """sys.meta_path entry: a watched module is patched right after it is executed.  It finds
    the module with the finders behind it and wraps only the loader's exec_module; the module
    keeps its real loader (reset before it runs)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in _WRAPPERS or fullname in _installed:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader)
        return spec


class _PatchingLoader:
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: Any) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        with _lock:
            if _enabled is not _never:  # still wanted
                _patch(module.__name__)
                if all(name in _installed for name in _WRAPPERS) and _FINDER in sys.meta_path:
                    sys.meta_path.remove(_FINDER)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


_FINDER = _PatchAfterImport()


# ---- public state ----------------------------------------------------------------------------

def configure(enabled: Callable[[], bool], do: Callable[..., Any], native: bool) -> None:
    """Called once, when the backend is chosen: reads SECRETSCOPE_INHERIT (raising on a value
    it does not know)."""
    global _scope_enabled, _do, _native, _wanted
    _wanted = setting_from_environment()
    _scope_enabled, _do, _native = enabled, do, native


def first_scope() -> None:
    """Called on every thread's first scope (StackRegistry.register): installs the wrappers
    the first time inheritance is wanted."""
    global _armed
    if _armed:
        return
    with _lock:
        if not _armed:
            _armed = True
            if _wanted and _native:
                _install()


def inherit(on: bool, /) -> bool:
    """Whether threads, thread-pool work and asyncio tasks started inside a scope inherit it
    (True, the default) or not (False: Go 1.26's semantics); returns the previous setting.

    Process-wide; takes effect for work started from now on."""
    global _wanted, _armed
    if not isinstance(on, bool):  # pyright: ignore[reportUnnecessaryIsInstance]  (untyped callers)
        raise TypeError(f"inherit() takes True or False, not {type(on).__name__!r}")
    with _lock:
        previous, _wanted = _wanted, on
        if _native:
            if on:
                _armed = True
                _install()
            else:
                _uninstall()
    return previous


def in_force() -> bool:
    """What protection().inherit reports: inheritance is on and this backend has scopes."""
    return _wanted and _native


def installed() -> List[str]:
    """The modules whose wrapper is in place now (for tests and the bench)."""
    with _lock:
        return [name for name in _WRAPPERS if name in _installed and _enabled is not _never]
