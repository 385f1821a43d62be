"""What a scope's outcome goes through once the scope has ended (issue 13, cases 8 and 11).

The native backend's decorated calls and `do` end in asm/<arch>/decorated.S's result_hooks,
which calls back here, outside the scope:

- `drive(result)`: a plain call returned a generator, a coroutine or an async generator (a
  function returning a generator expression, a coroutine function behind a plain
  functools.wraps decorator, a callable instance whose ``__call__`` is ``async def``).  Its body
  has not run yet; it would run later, outside any scope.  It is replaced by one of the same kind
  whose every step runs inside a scope (_suspendable.py), as if the function had been decorated.
- `clear_scope_frames(value, tb)`: an exception leaves the scope.  Its traceback still holds the
  frames the scope ran, and with them their locals (the key the function derived).  Those frames
  are cleared (`frame.clear()`): the traceback keeps every entry, so it prints as before, file,
  line and function of each frame, but the locals are gone, and freed (the heap wrapper zeroes
  them).  The steps of decorated generators and coroutines get the same (ss_do_step), and so do the
  frames a `with secret():` block called, as the exception leaves the block (ss_scope_exit_checked:
  `clear_block_frames`; the block's own frame is still running and is left alone).
"""
from __future__ import annotations

import ctypes
import gc
import inspect
import sys
import types
from typing import Any, List, Optional, Set, Tuple

from . import _cpython
from ._interface import HOOKS

_SUSPENDABLE_CODE = (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
                     | inspect.CO_ITERABLE_COROUTINE)
_GENERATOR_TYPES: Tuple[type, ...] = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
# Before 3.13 frame.clear() on a suspended generator's frame closes the generator; from 3.13 it raises.
_CLEAR_CLOSES_SUSPENDED = sys.version_info < (3, 13)

# ss_call_hooks (asm/<arch>/decorated.S: HOOK_* in interface.inc, from _interface.HOOKS), in this order
_HOOK_SLOTS = HOOKS.names


def drive(result: Any) -> Any:
    """Called by result_hooks with a generator, coroutine or async generator a scope returned."""
    from ._suspendable import driven
    return driven(result)


def _owned_by_live_generator(frame: types.FrameType) -> bool:
    # Only asked for generator frames before 3.13, where clearing a suspended one would close it.
    for ref in gc.get_referrers(frame):
        if isinstance(ref, _GENERATOR_TYPES):
            own = getattr(ref, "gi_frame", None) or getattr(ref, "cr_frame", None) or getattr(ref, "ag_frame", None)
            if own is frame:
                return True
    return False


def _scope_frames(tb: Optional[types.TracebackType], caller: Optional[types.FrameType],
                  block: bool = False) -> List[types.FrameType]:
    """The frames the scope ran that this traceback holds.

    Entries are added in front as an exception leaves frames, so the scope's frames are the
    traceback's first entries: the first one's frame was called by the scope's caller, each next
    one's by the one before (or is the same frame, re-raising).  A finished generator frame may have
    forgotten its caller (f_back None) and still belongs.  The first entry that does not fit is where
    an exception raised before the scope (and re-raised in it) keeps its older traceback: not ours.
    For a `with` block (block=True) the first entry is the block's own frame, the caller: skipped."""
    if block and tb is not None and tb.tb_frame is caller:
        tb = tb.tb_next
    frames: List[types.FrameType] = []
    expected = caller
    while tb is not None:
        frame = tb.tb_frame
        back = frame.f_back
        if not (frame is expected and frames) and back is not expected and not (
                back is None and frame.f_code.co_flags & _SUSPENDABLE_CODE):
            break
        if not frames or frame is not frames[-1]:
            frames.append(frame)
        expected = frame
        tb = tb.tb_next
    return frames


def _clear(frame: types.FrameType) -> None:
    if _CLEAR_CLOSES_SUSPENDED and frame.f_code.co_flags & _SUSPENDABLE_CODE and _owned_by_live_generator(frame):
        return
    try:
        frame.clear()
    except RuntimeError:  # still executing (or, 3.13+, suspended): not finished, not ours to clear
        pass


def _clear_exception(value: Any, tb: Any, caller: Optional[types.FrameType], block: bool) -> None:
    seen: Set[int] = set()
    pending: List[Any] = [(value, tb)]
    while pending:
        exc, trace = pending.pop()
        if isinstance(trace, types.TracebackType):
            for frame in _scope_frames(trace, caller, block):
                _clear(frame)
        if isinstance(exc, BaseException):  # and what it chains: raised inside the scope too, or not ours
            for chained in (exc.__cause__, exc.__context__):
                if chained is not None and id(chained) not in seen:
                    seen.add(id(chained))
                    pending.append((chained, chained.__traceback__))


def _caller() -> Optional[types.FrameType]:
    try:
        return sys._getframe(2)  # pyright: ignore[reportPrivateUsage]  (the frame that called the scope, above the hook's own)
    except ValueError:
        return None


def clear_scope_frames(value: Any, tb: types.TracebackType) -> None:
    """Called by error_hook as an exception (value, its traceback tb) leaves a scope."""
    try:
        _clear_exception(value, tb, _caller(), block=False)
    except BaseException:  # never disturb the exception that is leaving the scope
        pass


def clear_block_frames(value: Any, tb: Any) -> None:
    """Called by ss_scope_exit_checked as an exception leaves a `with secret():` block."""
    try:
        _clear_exception(value, tb, _caller(), block=True)
    except BaseException:
        pass


def install_call_hooks(lib: Any) -> None:
    """Fill ss_call_hooks: from now on decorated calls and `do` end through these hooks."""
    hooks = (ctypes.c_void_p * HOOKS.words).in_dll(lib, "ss_call_hooks")
    values = {
        "gen_type": id(types.GeneratorType), "coro_type": id(types.CoroutineType),
        "asyncgen_type": id(types.AsyncGeneratorType),
        "err_fetch": _cpython.symbol("PyErr_Fetch"), "err_restore": _cpython.symbol("PyErr_Restore"),
        # module globals: alive for the process
        "drive": id(drive), "clear": id(clear_scope_frames), "clear_block": id(clear_block_frames),
    }
    callbacks = ("drive", "clear", "clear_block")
    for name in (*[n for n in _HOOK_SLOTS if n not in callbacks], *callbacks):  # a hook is used once non-zero
        hooks[_HOOK_SLOTS.index(name)] = values[name]
