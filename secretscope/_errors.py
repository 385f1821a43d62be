"""Exceptions raised by secretscope."""
from __future__ import annotations


class SecretscopeError(RuntimeError):
    """Base class of secretscope's own errors."""


class NativeUnavailableError(SecretscopeError, ImportError):
    """Native protection was required (SECRETSCOPE_REQUIRE_NATIVE=1) but cannot be had."""


class ConfigurationError(SecretscopeError):
    """An environment setting (SECRETSCOPE_*) has a value secretscope does not understand.

    Configuration fails closed: an unknown value is an error, never read as "off"."""


class NativeLoadError(SecretscopeError):
    """The shared object for this platform is missing, corrupt or unusable."""


# Why `with secret():` refuses to open in a generator or coroutine frame (raised as TypeError by
# _scope.Scope.__enter__, or by the assembly's ss_scope_enter where it checks the frame itself).
SUSPEND_MESSAGE = (
    "secretscope: `with secret():` / `async with secret():` cannot be used inside a generator or "
    "coroutine: a yield or await inside the block would leave the scope open while other code (other "
    "tasks, the consumer) runs on this thread. Decorate the generator or coroutine function with "
    "@secret instead (every resumption then runs inside its own scope), or move the block into a "
    "plain function.")
