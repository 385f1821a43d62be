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

# Why a `with secret():` block refuses an __enter__ that no `with` statement prepared (raised as
# TypeError by the assembly's ss_scope_enter, asm/<arch>/block.S).
WITH_MESSAGE = (
    "secretscope: a secret() block must be entered by a `with` statement in the code it protects; "
    "contextlib.ExitStack and other helpers that call __enter__ for you are refused: they can carry "
    "the scope across yield/await or to another thread, and their frames keep the block's data "
    "outside the erased region. Write `with secret():` around the code itself, or decorate a "
    "function with @secret (or call it with secretscope.do) and call that from the helper.")
