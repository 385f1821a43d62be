"""The public scope API: `secret` (decorator and context manager), `do`, `enabled`, `protection`."""
from __future__ import annotations

import functools
import inspect
import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, ParamSpec, Type, TypeVar, Union, overload

from . import _active
from ._active import backend
from ._errors import SUSPEND_MESSAGE
from ._protection import Protection
from ._suspendable import wrap_async_generator, wrap_coroutine, wrap_generator
from ._types import SecretFunction

P = ParamSpec("P")
R = TypeVar("R")

# code flags of frames that can suspend: a `with secret():` block there could stay open while
# other code runs
_SUSPENDABLE = (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE
                | inspect.CO_ASYNC_GENERATOR)


def _decides_by_own_code(f: object) -> bool:
    # Whether f's own code says if calling it suspends (else its class's __call__ does).  A helper,
    # so that these checks do not narrow _decorate's `f` to a union of partially unknown types.
    return inspect.isroutine(f) or isinstance(f, (type, functools.partial))


def _decorate(f: Any) -> Any:
    if isinstance(f, (staticmethod, classmethod)):
        # @secret above @staticmethod/@classmethod: protect the function, keep the binding kind.
        return type(f)(_decorate(f.__func__))  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType, reportUnknownMemberType]
    if not callable(f):
        raise TypeError(f"secret() needs a callable to decorate, not a {type(f).__name__!r} object")
    # Suspendable functions: every resumption of the body runs in its own scope.  A callable
    # instance is one if its class's __call__ is (so that the result is recognised as such).
    # Whatever is not recognised here and still returns a generator, coroutine or async generator
    # (a function returning a generator expression, a coroutine function behind a plain wrapper)
    # is driven the same way when the call returns it (decorated.S, _call_results.py).
    kind = f if _decides_by_own_code(f) else type(f).__call__
    if inspect.isasyncgenfunction(kind):
        return wrap_async_generator(f)
    if inspect.iscoroutinefunction(kind):
        return wrap_coroutine(f)
    if inspect.isgeneratorfunction(kind):
        return wrap_generator(f)
    # Native: an object whose call enters the scope directly and binds like a function
    # (asm/<arch>/decorated.S); fallback: a plain wrapper function.
    wrapper = backend.wrap(f)
    functools.update_wrapper(wrapper, f)
    return wrapper


class Scope:
    """What `secret()` returns: a context manager (`with secret():`) and a decorator (`@secret()`)."""

    __slots__ = ()

    if TYPE_CHECKING or not getattr(backend, "enter_checks_suspension", False):
        def __enter__(self) -> None:
            if sys._getframe(1).f_code.co_flags & _SUSPENDABLE:  # pyright: ignore[reportPrivateUsage]
                raise TypeError(SUSPEND_MESSAGE)
            _enter()
    else:
        # 3.11+ native: the entry object refuses generator/coroutine frames itself, and the
        # interpreter calls it directly (no Python frame: ~190 ns less per block).
        __enter__ = staticmethod(backend.enter)

    if TYPE_CHECKING:
        def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                     tb: Optional[TracebackType]) -> Literal[False]: ...  # never swallows an exception
    else:
        # The interpreter calls the exit object directly: with the native backend it is a
        # vectorcall object whose call enters the assembly from the block's own frame.
        __exit__ = staticmethod(backend.exit)

    if not TYPE_CHECKING:  # hidden from type checkers, so that they flag `async with secret():`
        async def __aenter__(self) -> None:
            raise TypeError(SUSPEND_MESSAGE)

        async def __aexit__(self, *exc_info: object) -> bool:
            return False

    def __call__(self, f: Callable[P, R]) -> SecretFunction[P, R]:
        return _decorate(f)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "secretscope.secret()"


_enter = backend.enter
_SCOPE = Scope()


class _NoFunction:
    """The default of secret()'s argument: so that secret(None) is an error, not a context manager."""

    def __repr__(self) -> str:
        return "<no function: a scope for `with`>"


_NO_FUNCTION: Any = _NoFunction()


@overload
def secret(f: Callable[P, R], /) -> SecretFunction[P, R]: ...
@overload
def secret() -> Scope: ...
def secret(f: Any = _NO_FUNCTION, /) -> Union[SecretFunction[P, R], Scope]:
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
        ...

    def enabled() -> bool:
        """True only while running inside a scope on this thread, with native protection."""
        ...
else:
    do = _active.do
    enabled = _active.enabled


def protection() -> Protection:
    """What the active backend covers on this interpreter, and why not the rest."""
    return backend.protection()
