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
from ._errors import NativeLoadError, NativeUnavailableError, SecretscopeError
from ._protection import Protection
from ._scope import Scope, do, enabled, protection, secret
from ._types import SecretFunction

__version__ = "0.1.0"  # the one version source (pyproject.toml reads it; docs/api.md: versions and stability)

__all__ = [
    "secret", "do", "enabled", "protection", "Protection", "Scope", "SecretFunction",
    "SecretscopeError", "NativeUnavailableError", "NativeLoadError", "__version__",
]



def _name_public_classes() -> None:
    """Public classes are secretscope.X wherever they are defined (reprs, tracebacks, pickles, docs)."""
    for name in __all__:
        obj = globals()[name]
        if isinstance(obj, type):
            obj.__module__ = __name__


_name_public_classes()
del _name_public_classes
