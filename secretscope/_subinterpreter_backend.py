"""The backend of a subinterpreter: the same API, and every scope refuses to start.

The native state belongs to the main interpreter (see _interpreter_check.py).  Running a scope's
code plainly here, as the fallback does on unsupported platforms, would be a quiet "yes" on a
platform where the user can expect erasure; so a scope raises SecretscopeError, saying what to do
instead, and `protection()` and `enabled()` say that nothing is protected.  Decorating works (a
module using @secret can still be imported here); calling the decorated function raises.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, NoReturn

from ._errors import SecretscopeError
from ._fallback import FallbackBackend
from ._protection import Protection


class SubinterpreterBackend(FallbackBackend):
    """No protection, and no scope: each entry point raises with the reason (what it reports,
    `enabled()`, `depth()` and the rest are the fallback's)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.message = (
            f"secretscope: scopes cannot run in this interpreter: {reason}. Run the code that needs a "
            f"scope in the main interpreter; to run it here without any protection, set "
            f"SECRETSCOPE_BACKEND=fallback before this interpreter imports secretscope")

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise SecretscopeError(self.message)

    def do(self, f: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        self._refuse()

    def enter(self) -> None:
        self._refuse()

    def exit(self, *exc_info: object) -> bool:  # never reached: enter raised
        self._refuse()

    def wrap(self, f: Callable[..., Any]) -> Callable[..., Any]:
        """A plain function that refuses to call f (a distinct object, so metadata can be copied)."""
        refuse = self._refuse

        def secret_wrapper(*args: Any, **kwargs: Any) -> Any:
            refuse()
        return secret_wrapper

    def protection(self) -> Protection:
        return replace(super().protection(), reason=f"{self.reason}; scopes raise SecretscopeError")
