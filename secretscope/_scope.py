"""The public scope API: `secret` (decorator and context manager), `do`, `enabled`, `protection`."""
from __future__ import annotations

import functools
import inspect
import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Optional, Type, TypeVar, Union, overload

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:  # pragma: no cover - the package requires 3.10, this keeps type checkers on older targets happy
    from typing_extensions import ParamSpec

from ._backend import select_backend
from ._protection import Protection

P = ParamSpec("P")
R = TypeVar("R")

backend = select_backend()


def _decorate(f: Any) -> Any:
    if isinstance(f, (staticmethod, classmethod)):
        # @secret above @staticmethod/@classmethod: protect the function, keep the binding kind.
        return type(f)(_decorate(f.__func__))
    if not callable(f):
        raise TypeError(f"secret() needs a callable to decorate, not a {type(f).__name__!r} object")
    if inspect.isgeneratorfunction(f) or inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f):
        kind = ("a generator" if inspect.isgeneratorfunction(f) else
                "a coroutine" if inspect.iscoroutinefunction(f) else "an async generator")
        raise TypeError(
            f"secret() cannot protect {kind} function yet ({getattr(f, '__qualname__', f)!r}): calling it "
            f"would only create the {kind.split()[-1]} object inside the scope, while its body runs later, "
            f"unprotected. Run the body's sensitive part in a plain function decorated with @secret.")
    trampoline = backend.bind(f)

    def secret_wrapper(*args: Any, **kwargs: Any) -> Any:
        return trampoline(*args, **kwargs)

    functools.update_wrapper(secret_wrapper, f)
    return secret_wrapper


class Scope:
    """What `secret()` returns: a context manager (`with secret():`) and a decorator (`@secret()`)."""

    __slots__ = ()

    if TYPE_CHECKING:
        def __enter__(self) -> None: ...

        def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                     tb: Optional[TracebackType]) -> bool: ...
    else:
        # Builtins entering the assembly directly; staticmethod keeps them from binding.
        __enter__ = staticmethod(backend.enter)
        __exit__ = staticmethod(backend.exit)

    def __call__(self, f: Callable[P, R]) -> Callable[P, R]:
        return _decorate(f)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "secretscope.secret()"


_SCOPE = Scope()
_NO_FUNCTION: Any = object()  # so that secret(None) is an error, not a context manager


@overload
def secret(f: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def secret() -> Scope: ...
def secret(f: Any = _NO_FUNCTION, /) -> Union[Callable[P, R], Scope]:
    """Run a function (``@secret``, ``@secret()``) or a block (``with secret():``) in a secret scope.

    When the scope ends, however it ends, the registers and the stack the code
    used are erased (see ``protection()`` for what this interpreter covers).
    """
    if f is _NO_FUNCTION:
        return _SCOPE
    return _decorate(f)  # type: ignore[no-any-return]


if TYPE_CHECKING:
    def do(f: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Go's secret.Do: call f(*args, **kwargs) inside a scope and return its result."""

    def enabled() -> bool:
        """True only while running inside a scope on this thread, with native protection."""
else:
    do = backend.do
    enabled = backend.enabled


def protection() -> Protection:
    """What the active backend covers on this interpreter, and why not the rest."""
    return backend.protection()
