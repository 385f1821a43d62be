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
from ._secretbuffer import BufferProtection, BufferProtectionError, SecretBuffer
from ._wipe import wipe
from ._harden import HardeningReport, harden

__version__ = "0.1.0"

__all__ = [
    "secret", "do", "enabled", "protection", "Protection", "Scope",
    "SecretscopeError", "NativeUnavailableError", "NativeLoadError", "__version__",
    "SecretBuffer", "BufferProtection", "BufferProtectionError", "wipe", "harden", "HardeningReport",
]
