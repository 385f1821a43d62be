"""Bodies that run after the decorated call returned (issue 13, case 8).

A callable instance with ``async def __call__``, a function returning a generator expression (or
any generator, coroutine or async generator), a coroutine function behind a plain functools.wraps
decorator: calling them returns an object whose body has not run yet.  It used to run later,
outside the scope, and nothing said so.  Now a callable instance is recognised at decoration, and
any such result of a decorated call (or of `do`) is driven so that each of its steps runs inside a
scope: `enabled()` is True in the body, and what the body writes on the stack is erased at each
suspension (with the undecorated control leaving it there).
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import types

import pytest

from secretscope import do, enabled, secret
from tests._support.residue import KiB


def plain_wrapper(fn):
    """A decorator that does not say what it wraps (inspect sees a plain function)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


async def drain(agen):
    return [item async for item in agen]


# ---- the three examples of the issue, and their variants ---------------------------------------


class AsyncCallable:
    async def __call__(self, x):
        first = enabled()
        await asyncio.sleep(0)
        return first, enabled(), x


class GeneratorCallable:
    def __call__(self, n):
        for _ in range(n):
            yield enabled()


class AsyncGeneratorCallable:
    async def __call__(self):
        yield enabled()
        await asyncio.sleep(0)
        yield enabled()


class CallableReturningCoroutine:
    def __call__(self):
        async def body():
            await asyncio.sleep(0)
            return enabled()
        return body()


def test_callable_instance_with_async_call(native):
    decorated = secret(AsyncCallable())
    assert inspect.iscoroutinefunction(decorated)  # recognised at decoration
    assert asyncio.run(decorated(7)) == (True, True, 7)
    assert not enabled()


def test_callable_instances_with_generator_calls(native):
    assert list(secret(GeneratorCallable())(3)) == [True, True, True]
    assert asyncio.run(drain(secret(AsyncGeneratorCallable())())) == [True, True]
    assert asyncio.run(secret(CallableReturningCoroutine())()) is True  # driven when returned


def test_function_returning_a_generator_expression(native):
    @secret
    def values(n):
        return (enabled() for _ in range(n))

    gen = values(3)
    assert inspect.isgenerator(gen)
    assert list(gen) == [True, True, True]
    assert do(lambda: (enabled() for _ in range(2))).__next__() is True


def test_functions_returning_generators_coroutines_async_generators(native):
    def gen_body():
        yield enabled()

    async def coro_body():
        await asyncio.sleep(0)
        return enabled()

    async def agen_body():
        yield enabled()

    @types.coroutine
    def generator_based_coroutine():
        yield
        return enabled()

    assert list(secret(lambda: gen_body())()) == [True]
    assert asyncio.run(secret(lambda: coro_body())()) is True
    assert asyncio.run(drain(secret(lambda: agen_body())())) == [True]

    async def awaits_it():  # a @types.coroutine generator stays awaitable once driven
        return await secret(generator_based_coroutine)()
    assert asyncio.run(awaits_it()) is True


def test_coroutine_function_behind_a_plain_wrapper(native):
    @secret
    @plain_wrapper
    async def derive(x):
        first = enabled()
        await asyncio.sleep(0)
        return first, enabled(), x

    assert not inspect.iscoroutinefunction(derive)  # the wrapper hides it; the result shows it
    assert asyncio.run(derive(1)) == (True, True, 1)

    @secret
    @plain_wrapper
    def numbers():
        yield enabled()
        yield enabled()

    @secret
    @plain_wrapper
    async def stream():
        yield enabled()
        await asyncio.sleep(0)
        yield enabled()

    assert list(numbers()) == [True, True]
    assert asyncio.run(drain(stream())) == [True, True]


def test_decorated_methods_returning_coroutines(native):
    class Service:
        @secret
        def handle(self):
            return self._work()

        async def _work(self):
            await asyncio.sleep(0)
            return enabled()

    assert asyncio.run(Service().handle()) is True


# ---- the driven object behaves like the original -----------------------------------------------


def test_driven_generator_forwards_send_throw_close(native):
    log = []

    def echo():
        try:
            received = yield enabled()
            while True:
                try:
                    received = yield (received, enabled())
                except KeyError as exc:
                    received = ("caught", str(exc), enabled())
        finally:
            log.append(("finally", enabled()))

    gen = secret(lambda: echo())()
    assert next(gen) is True
    assert gen.send("a") == ("a", True)
    assert gen.throw(KeyError("k")) == (("caught", "'k'", True), True)
    gen.close()
    assert log == [("finally", True)]


def test_driven_coroutine_propagates_exceptions(native):
    async def fails():
        await asyncio.sleep(0)
        raise LookupError("inside")

    with pytest.raises(LookupError, match="inside"):
        asyncio.run(secret(lambda: fails())())


def test_values_a_decorated_generator_yields_are_handed_on_as_they_are(native):
    inner = (n for n in range(2))

    @secret
    def outer():
        yield inner

    assert next(outer()) is inner  # a step's result is a yielded value, not a body to drive


def test_already_driven_results_are_not_wrapped_again(native):
    @secret
    def gen():
        yield enabled()

    @secret
    def returns_it():
        return gen()

    result = returns_it()
    assert result.gi_code is gen().gi_code
    assert list(result) == [True]


# ---- erasure, with its control ------------------------------------------------------------------


@pytest.mark.parametrize("scoped", [False, True])
def test_body_of_a_returned_generator_is_erased(probe, scoped):
    tag = 0x7a + scoped
    write, written = probe.stack_writer(64 * KiB, 4096, tag)

    def make():
        def body():
            write()
            yield "written"
        return body()

    counts = [probe.count(*written(), tag) for _ in (secret(make) if scoped else make)()]
    assert len(counts) == 1, counts  # the body ran (one step), so the assertion below is reached
    if scoped:
        assert counts[0] == 0, "the returned generator's body left the sentinel on the stack"
    else:
        assert counts[0] > 0, "negative control"
