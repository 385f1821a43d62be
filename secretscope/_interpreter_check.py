"""Is this the main interpreter?  The native backend may only be loaded there.

The shared object's state is process-wide: one table of CPython entry points and objects
(`ss_api`: the thread-registration callback among them), one slot per OS thread, one allocator
wrapper.  If a subinterpreter loaded it, it would refill that table with objects of its own,
which the main interpreter's threads would then call -- across interpreters while it lives, and
freed memory once it is destroyed.  So the main interpreter owns the native state, and in any
other interpreter secretscope does not touch the shared object at all (see `SubinterpreterBackend`).

Asked without ctypes first: `_interpreters` (3.13+) and `_xxsubinterpreters` (3.10-3.12) are
importable in every kind of subinterpreter, including isolated ones (own GIL), where `_ctypes`
may refuse to load (3.12).  Only where neither exists is the C-API asked through ctypes.
"""
from __future__ import annotations

import importlib
from typing import Any, Optional, SupportsInt, Tuple, cast

_ID_MODULES = ("_interpreters", "_xxsubinterpreters")


def _as_int(interp_id: Any) -> int:
    # 3.13+: (id, whence) tuples; 3.10-3.12: InterpreterID objects, which are int-like
    return int(cast(SupportsInt, interp_id[0] if isinstance(interp_id, tuple) else interp_id))


def _ids_from_modules() -> Optional[Tuple[int, int]]:
    for name in _ID_MODULES:
        try:
            module = importlib.import_module(name)
            return _as_int(module.get_current()), _as_int(module.get_main())
        except Exception:  # absent, or a build whose module lacks these: try the next way
            continue
    return None


def _ids_from_capi() -> Optional[Tuple[int, int]]:
    try:
        import ctypes
        api = ctypes.pythonapi
        get_id = api.PyInterpreterState_GetID
        current, main = api.PyInterpreterState_Get, api.PyInterpreterState_Main
    except (ImportError, AttributeError):
        return None
    current.restype = main.restype = ctypes.c_void_p
    current.argtypes = main.argtypes = []
    get_id.restype, get_id.argtypes = ctypes.c_int64, [ctypes.c_void_p]
    return int(get_id(current())), int(get_id(main()))


def interpreter_ids() -> Optional[Tuple[int, int]]:
    """(current interpreter's id, main interpreter's id), or None when neither way can tell."""
    return _ids_from_modules() or _ids_from_capi()


def subinterpreter_reason() -> Optional[str]:
    """Why the native backend must not be loaded in this interpreter, or None in the main one.

    Fails closed: an interpreter that cannot be identified is not taken for the main one."""
    ids = interpreter_ids()
    if ids is None:
        return ("cannot tell whether this is the main interpreter (no _interpreters or "
                "_xxsubinterpreters module, and ctypes cannot be imported): the native backend is "
                "loaded only in the main interpreter")
    current, main = ids
    if current == main:
        return None
    return (f"this is a subinterpreter (id {current}): the native backend's state is process-wide "
            f"and belongs to the main interpreter, so it is not loaded here")
