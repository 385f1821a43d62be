"""Exceptions raised by secretscope."""
from __future__ import annotations


class SecretscopeError(RuntimeError):
    """Base class of secretscope's own errors."""


class NativeUnavailableError(SecretscopeError, ImportError):
    """Native protection was required (SECRETSCOPE_REQUIRE_NATIVE=1) but cannot be had."""


class NativeLoadError(SecretscopeError):
    """The shared object for this platform is missing, corrupt or unusable."""
