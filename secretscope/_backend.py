"""Chooses the backend once, at import, from the platform and the environment.

SECRETSCOPE_BACKEND=auto (default)  native where supported, else the fallback (with the reason)
SECRETSCOPE_BACKEND=native          native, or import fails (NativeUnavailableError): never a fallback
SECRETSCOPE_BACKEND=fallback        force the pure-Python fallback
SECRETSCOPE_REQUIRE_NATIVE=1        raise NativeUnavailableError instead of falling back

Both variables fail closed: a value that is not one of those spelled out here (_config.py) is
a ConfigurationError, never read as "off".
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING, Union

from ._config import env_flag
from ._errors import ConfigurationError, NativeLoadError, NativeUnavailableError
from ._fallback import FallbackBackend
from ._interpreter_check import subinterpreter_reason
from ._platform import native_unavailable_reason, platform_tag
from ._subinterpreter_backend import SubinterpreterBackend

if TYPE_CHECKING:
    from ._native import NativeBackend

Backend = Union["NativeBackend", FallbackBackend, SubinterpreterBackend]

_BACKENDS = ("auto", "native", "fallback")


def env_backend() -> str:
    raw = os.environ.get("SECRETSCOPE_BACKEND", "")
    choice = raw.strip().lower() or "auto"
    if choice not in _BACKENDS:
        raise ConfigurationError(f"secretscope: SECRETSCOPE_BACKEND={raw!r} is not understood: "
                                 f"use auto, native or fallback")
    return choice


def _warning_stacklevel() -> int:
    """warnings.warn stacklevel naming the first frame outside secretscope and the import system:
    the user's `import secretscope` (or whatever first imported it).  The warnings module itself
    does not count the import system's frames, so neither does this."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 1, sys._getframe(2)  # pyright: ignore[reportPrivateUsage]  (the caller of select_backend is level 2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith("<frozen importlib"):
            level += 1
            if not os.path.abspath(filename).startswith(package):
                return level
        frame = frame.f_back  # type: ignore[assignment]
    return 1


def select_backend() -> Backend:
    choice = env_backend()
    require = env_flag("SECRETSCOPE_REQUIRE_NATIVE", False) or choice == "native"
    why_required = ("SECRETSCOPE_BACKEND=native" if choice == "native" else "SECRETSCOPE_REQUIRE_NATIVE=1")

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
                                             f"({why_required}) but {in_subinterpreter}")
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
                              RuntimeWarning, stacklevel=_warning_stacklevel())
    if require:
        raise NativeUnavailableError(
            f"secretscope: native protection is required ({why_required}) "
            f"but unavailable on {platform_tag()}: {reason}")
    return FallbackBackend(reason)
