"""Chooses the backend once, at import, from the platform and the environment.

SECRETSCOPE_BACKEND=fallback     force the pure-Python fallback
SECRETSCOPE_BACKEND=native|auto  (default auto) native where supported
SECRETSCOPE_REQUIRE_NATIVE=1     raise NativeUnavailableError instead of falling back
"""
from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Union

from ._errors import NativeLoadError, NativeUnavailableError
from ._fallback import FallbackBackend
from ._interpreter_check import subinterpreter_reason
from ._platform import native_unavailable_reason, platform_tag
from ._subinterpreter_backend import SubinterpreterBackend

if TYPE_CHECKING:
    from ._native import NativeBackend

Backend = Union["NativeBackend", FallbackBackend, SubinterpreterBackend]

_TRUE = {"1", "true", "yes", "on"}


def select_backend() -> Backend:
    choice = os.environ.get("SECRETSCOPE_BACKEND", "auto").strip().lower() or "auto"
    require = os.environ.get("SECRETSCOPE_REQUIRE_NATIVE", "").strip().lower() in _TRUE
    if choice not in {"auto", "native", "fallback"}:
        raise ValueError(f"SECRETSCOPE_BACKEND must be auto, native or fallback, not {choice!r}")

    if choice == "fallback":
        reason = "the fallback backend was forced by SECRETSCOPE_BACKEND=fallback"
    else:
        reason = native_unavailable_reason() or ""
    if not reason:
        # Only the main interpreter may own the native state (issue 13; _interpreter_check.py).
        in_subinterpreter = subinterpreter_reason()
        if in_subinterpreter:
            if require:
                raise NativeUnavailableError(f"secretscope: native protection is required "
                                             f"(SECRETSCOPE_REQUIRE_NATIVE=1) but {in_subinterpreter}")
            return SubinterpreterBackend(in_subinterpreter)
        try:
            # Imported only here: the native modules bind CPython's C-API through ctypes at
            # import, which other implementations (PyPy: no ctypes.pythonapi) do not have.
            from ._native import NativeBackend
            return NativeBackend()
        except NativeLoadError as exc:
            reason = f"the native backend could not be loaded: {exc}"
            if not require:
                warnings.warn(f"secretscope: {reason}; NOTHING IS PROTECTED (fallback backend)",
                              RuntimeWarning, stacklevel=3)
    if require:
        raise NativeUnavailableError(
            f"secretscope: native protection is required (SECRETSCOPE_REQUIRE_NATIVE=1) "
            f"but unavailable on {platform_tag()}: {reason}")
    return FallbackBackend(reason)
