"""The public scope API: `secret` (decorator and context manager), `do`, `enabled`, `protection`."""
from __future__ import annotations

import dis
import functools
import inspect
import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, ParamSpec, Type, TypeVar, Union, overload

from . import _active
from ._active import backend
from ._errors import SUSPEND_MESSAGE, WITH_MESSAGE
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


class _ScopeMethods:
    """The Python half of `Scope` (both backends): the decorator form and the refusals."""

    __slots__ = ()

    if not TYPE_CHECKING:  # hidden from type checkers, so that they flag `async with secret():`
        async def __aenter__(self) -> None:
            raise TypeError(SUSPEND_MESSAGE)

        async def __aexit__(self, *exc_info: object) -> bool:
            return False

    def __call__(self, f: Callable[P, R]) -> SecretFunction[P, R]:
        return _decorate(f)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "secretscope.secret()"


def _check_suspension(frame: Any) -> None:
    if frame.f_code.co_flags & _SUSPENDABLE:
        raise TypeError(SUSPEND_MESSAGE)


_native_scope: Optional[type] = getattr(backend, "scope_type", None)
_backend_enter: Callable[[], None] = backend.enter  # type: ignore[assignment]

if TYPE_CHECKING or _native_scope is None:
    class Scope(_ScopeMethods):
        """What `secret()` returns: a context manager (`with secret():`) and a decorator (`@secret()`).

        One per block: with the native backend its __enter__/__exit__ pair up (asm/<arch>/block.S);
        under the fallback they do nothing but refuse a block in a generator or coroutine."""

        __slots__ = ()

        def __enter__(self) -> None:
            _check_suspension(sys._getframe(1))  # pyright: ignore[reportPrivateUsage]
            _backend_enter()  # nothing under the fallback; a subinterpreter's backend refuses

        def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                     tb: Optional[TracebackType]) -> Literal[False]:
            return False  # never swallows an exception
else:
    # The native type (_cpython.scope_type): __enter__/__exit__ are the assembly's edge objects
    # (_native.py); the Python methods are added here.
    Scope = _native_scope
    for _name in ("__aenter__", "__aexit__", "__call__", "__repr__"):
        setattr(Scope, _name, _ScopeMethods.__dict__[_name])
    if not getattr(backend, "enter_checks_suspension", False):
        # 3.10: no PyFrame_GetGenerator, so a Python __enter__ checks the block's frame first
        # (ss_scope_enter then takes the frame that opens the block from this one's caller).
        # And it checks that a `with` statement calls it (3.11+: block.S's called_by_with).
        _native_enter = backend.enter
        _SETUP_WITH = dis.opmap.get("SETUP_WITH", -1)

        def __enter__(self: Any) -> None:
            frame = sys._getframe(1)
            _check_suspension(frame)
            if frame.f_code.co_code[frame.f_lasti] != _SETUP_WITH:
                raise TypeError(WITH_MESSAGE)
            _native_enter(self)

        Scope.__enter__ = __enter__  # type: ignore[attr-defined]


class _NoFunction:
    """The default of secret()'s argument: so that secret(None) is an error, not a context manager."""

    def __repr__(self) -> str:
        return "<no function: a scope for `with`>"


_NO_FUNCTION: Any = _NoFunction()
_new_scope: Callable[[], Scope] = getattr(backend, "new_scope", Scope)


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
        return _new_scope()
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
