"""secretscope: Go's runtime/secret for CPython.

    from secretscope import secret, do, enabled, protection

    @secret
    def derive(password, salt): ...

    with secret():
        ...

Registers and the C stack used inside a scope are erased when it ends, by
hand-written assembly for Linux on x86-64 and AArch64; elsewhere the same API
runs the code plainly and ``protection()`` says that nothing is protected.
"""
import sys as _sys
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._config import check_settings as _check_settings
from ._errors import ConfigurationError, NativeLoadError, NativeUnavailableError, SecretscopeError
from ._inherit import inherit
from ._protection import Protection

try:
    _check_settings()
    from ._scope import Scope, do, enabled, protection, secret
except (ConfigurationError, NativeUnavailableError) as _exc:
    # `python -m secretscope` imports this package before its __main__ runs: there, an unmet
    # requirement or a bad setting is one line on stderr and exit status 2, not a traceback.
    if _sys.argv[:1] == ["-m"] and any(a == "-m" and m in ("secretscope", "secretscope.__main__")
                                       for a, m in zip(_sys.orig_argv, _sys.orig_argv[1:])):
        print(_exc, file=_sys.stderr)
        raise SystemExit(2) from None
    raise
from ._types import SecretFunction

if _TYPE_CHECKING:
    from ._harden import HardeningReport, harden
    from ._secretbuffer import BufferProtection, BufferProtectionError, SecretBuffer
    from ._wipe import wipe

# Secrets at rest are imported on first use (PEP 562): they need ctypes, which an interpreter that
# never asks for them -- a subinterpreter, where importing ctypes first breaks CPython 3.12's
# finalization of single-phase extension modules -- does not import because of secretscope.
_AT_REST = {"SecretBuffer": "_secretbuffer", "BufferProtection": "_secretbuffer",
            "BufferProtectionError": "_secretbuffer", "wipe": "_wipe", "harden": "_harden",
            "HardeningReport": "_harden"}


def __getattr__(name: str) -> object:
    module = _AT_REST.get(name)
    if module is None:
        raise AttributeError(f"module 'secretscope' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    if isinstance(value, type):
        value.__module__ = __name__
    globals()[name] = value
    return value

__version__ = "0.1.0"  # the one version source (pyproject.toml reads it; docs/api.md: versions and stability)

__all__ = [
    "secret", "do", "enabled", "protection", "Protection", "Scope", "SecretFunction", "inherit",
    "SecretscopeError", "NativeUnavailableError", "NativeLoadError", "ConfigurationError", "__version__",
    "SecretBuffer", "BufferProtection", "BufferProtectionError", "wipe", "harden", "HardeningReport",
]



def _name_public_classes() -> None:
    """Public classes are secretscope.X wherever they are defined (reprs, tracebacks, pickles, docs)."""
    for name in __all__:
        obj = globals().get(name)  # (secrets at rest: named when first imported, by __getattr__)
        if isinstance(obj, type):
            obj.__module__ = __name__


_name_public_classes()
del _name_public_classes
