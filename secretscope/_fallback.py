"""The fallback backend: the same API, no protection, and `protection()` says why."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from ._platform import platform_tag
from ._protection import Protection


def _do(f: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return f(*args, **kwargs)


def _enabled() -> bool:
    return False


def _enter() -> None:
    return None


def _exit(*exc_info: object) -> bool:
    return False


class FallbackBackend:
    """Calls functions plainly: nothing is erased, `enabled()` is always False."""

    name = "fallback"
    do = staticmethod(_do)
    enabled = staticmethod(_enabled)
    enter = staticmethod(_enter)
    exit = staticmethod(_exit)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def wrap(self, f: Callable[..., Any]) -> Callable[..., Any]:
        """A plain function calling f (a distinct object, so that metadata can be copied onto it)."""
        def secret_wrapper(*args: Any, **kwargs: Any) -> Any:
            return f(*args, **kwargs)
        return secret_wrapper

    def features(self) -> Tuple[str, ...]:
        return ()

    def depth(self) -> int:
        return 0

    def protection(self) -> Protection:
        return Protection(backend="fallback", platform=platform_tag(), registers=False, stack=False,
                          heap=False, signal_stacks=False, reason=self.reason)

    @property
    def lib(self) -> Optional[object]:
        return None
