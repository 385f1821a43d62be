"""Generators, coroutines and async generators whose every resumption runs inside a scope.

A decorated generator function returns a generator that drives the original one step by step:
each ``send``/``throw``/``close`` of the inner generator is made through ``do``, so the inner
frame runs below a trampoline, and its registers and stack are erased at every suspension and at
completion.  The wrapper's own frame only passes values along (PEP 380's expansion of
``yield from``, written out so that each step can be wrapped).  Coroutines and async generators
are driven the same way through ``_Step``, an awaitable whose every step is a scope.
"""
from __future__ import annotations

import functools
import inspect
import types
from typing import Any, AsyncGenerator, Callable, Coroutine, Generator, Optional, TypeGuard, cast

from ._active import do_step as do  # each step: a scope; an exception leaving it has its frames cleared


class _Step:
    """Awaitable that drives one awaitable (a coroutine, or an async generator's asend/athrow/
    aclose) to completion, each resumption inside a scope.  `await _Step(x)` delegates the awaiting
    coroutine's send/throw/close here, and from here into `x`, one scope per step."""

    __slots__ = ("_it",)

    def __init__(self, awaitable: Any) -> None:
        self._it = awaitable if hasattr(awaitable, "send") else awaitable.__await__()

    def __await__(self) -> "_Step":
        return self

    def __iter__(self) -> "_Step":
        return self

    def __next__(self) -> Any:
        return do(self._it.send, None)

    def send(self, value: Any) -> Any:
        return do(self._it.send, value)

    def throw(self, *exc_info: Any) -> Any:
        return do(self._it.throw, *exc_info)

    def close(self) -> None:
        do(self._it.close)


def _generator_steps(f: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Generator[Any, Any, Any]]:
    def secret_generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        gen = f(*args, **kwargs)
        step: Callable[..., Any] = gen.send
        arg: Any = None
        while True:
            try:
                item = do(step, arg)
            except StopIteration as stop:
                return stop.value
            try:
                arg = yield item
                step = gen.send
            except GeneratorExit:
                do(gen.close)
                raise
            except BaseException as exc:  # thrown in by the consumer: forward it
                step, arg = gen.throw, exc

    return secret_generator


def _coroutine_steps(f: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def secret_coroutine(*args: Any, **kwargs: Any) -> Any:
        return await _Step(f(*args, **kwargs))

    return secret_coroutine


def _async_generator_steps(f: Callable[..., AsyncGenerator[Any, Any]]) -> Callable[..., AsyncGenerator[Any, Any]]:
    async def secret_async_generator(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        agen = f(*args, **kwargs)
        step: Optional[Any] = agen.asend(None)
        while True:
            try:
                item = await _Step(step)
            except StopAsyncIteration:
                return
            try:
                value = yield item
            except GeneratorExit:
                await _Step(agen.aclose())
                raise
            except BaseException as exc:
                step = agen.athrow(exc)
            else:
                step = agen.asend(value)

    return secret_async_generator


def _code_flags(f: Any) -> int:
    while isinstance(f, functools.partial):
        f = f.func
    f = getattr(f, "__func__", f)  # methods
    return int(getattr(getattr(f, "__code__", None), "co_flags", 0))


def _as_coroutine(steps: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Generator[Any, Any, Any]]:
    # types.coroutine only sets CO_ITERABLE_COROUTINE on a generator function's code and returns
    # that same function: a generator function still (typeshed types the result as awaitable only)
    return cast(Callable[..., Generator[Any, Any, Any]], types.coroutine(steps))


# The wrap_* functions take any callable whose calls return a generator (coroutine, async
# generator): a callable instance qualifies by its class's __call__, which no checker sees in `f`.
def wrap_generator(f: Callable[..., Any]) -> Callable[..., Generator[Any, Any, Any]]:
    steps = _generator_steps(f)
    if _code_flags(f) & inspect.CO_ITERABLE_COROUTINE:  # @types.coroutine: the wrapper stays awaitable
        steps = _as_coroutine(steps)
    return functools.wraps(f)(steps)


def wrap_coroutine(f: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    return functools.wraps(f)(_coroutine_steps(f))


def wrap_async_generator(f: Callable[..., Any]) -> Callable[..., AsyncGenerator[Any, Any]]:
    return functools.wraps(f)(_async_generator_steps(f))


def _driver_code(make: Callable[[Any], Callable[..., Any]]) -> types.CodeType:
    return make(lambda: None).__code__  # the function given is never called: only the driver's code is kept


# The code of the drivers above: a result that already is one of them is driven already.
_DRIVER_CODES = frozenset(_driver_code(make)
                          for make in (_generator_steps, _coroutine_steps, _async_generator_steps))


# isinstance checks that narrow to Any type arguments (a bare isinstance leaves them unknown)
def _is_generator(obj: object) -> TypeGuard[types.GeneratorType[Any, Any, Any]]:
    return isinstance(obj, types.GeneratorType)


def _is_coroutine(obj: object) -> TypeGuard[types.CoroutineType[Any, Any, Any]]:
    return isinstance(obj, types.CoroutineType)


def _is_async_generator(obj: object) -> TypeGuard[types.AsyncGeneratorType[Any, Any]]:
    return isinstance(obj, types.AsyncGeneratorType)


def driven(obj: Any) -> Any:
    """A generator, coroutine or async generator object, made to run each step inside a scope.

    For the object a plain function returned (_call_results.py): its body has not run yet, and
    would run wherever it is consumed.  The replacement is of the same kind and forwards every
    send/throw/close to it; anything else is returned as it is."""
    if _is_generator(obj):
        if obj.gi_code in _DRIVER_CODES:
            return obj
        steps = _generator_steps(lambda: obj)
        if obj.gi_code.co_flags & inspect.CO_ITERABLE_COROUTINE:  # @types.coroutine: stays awaitable
            steps = _as_coroutine(steps)
        return steps()
    if _is_coroutine(obj):
        return obj if obj.cr_code in _DRIVER_CODES else _coroutine_steps(lambda: obj)()
    if _is_async_generator(obj):
        return obj if obj.ag_code in _DRIVER_CODES else _async_generator_steps(lambda: obj)()
    return obj
