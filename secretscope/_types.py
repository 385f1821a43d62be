"""The static type of what `@secret` returns (for type checkers; nothing here runs in a scope)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Concatenate, Optional, ParamSpec, Protocol, TypeVar, overload

P = ParamSpec("P")
Q = ParamSpec("Q")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")


class SecretFunction(Protocol[P, R_co]):
    """A function run inside a secret scope: `@secret` returns one.

    It is called like the function it wraps (same parameters, same result), exposes that function
    as ``__wrapped__`` (with its ``__name__``, ``__qualname__``, ``__doc__`` and ``__module__``),
    and binds like a function when it is a class attribute: ``obj.method`` is a SecretFunction of
    the remaining parameters.
    """

    @property
    def __wrapped__(self) -> Callable[P, R_co]: ...

    if TYPE_CHECKING:  # a class body cannot define these at run time
        @property
        def __name__(self) -> str: ...

        @property
        def __qualname__(self) -> str: ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    @overload
    def __get__(self, instance: None, owner: Optional[type] = None, /) -> SecretFunction[P, R_co]: ...
    @overload
    def __get__(self: SecretFunction[Concatenate[S, Q], R_co], instance: S, owner: Optional[type] = None,
                /) -> SecretFunction[Q, R_co]: ...
    def __get__(self, instance: Any, owner: Optional[type] = None, /) -> Any: ...
