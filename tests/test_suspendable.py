"""Generators, coroutines, async generators and asyncio: every resumption runs inside a scope."""
from __future__ import annotations

import asyncio
import inspect
import threading

import pytest

from secretscope import enabled, secret
from tests._support.residue import KiB

# ---- generators -------------------------------------------------------------------------------


def test_generator_function_stays_a_generator_function(native):
    @secret
    def numbers(n: int):
        """Doc."""
        for i in range(n):
            yield i, enabled()
        return "done"

    assert inspect.isgeneratorfunction(numbers)
    assert numbers.__name__ == "numbers" and numbers.__doc__ == "Doc."
    assert inspect.signature(numbers) == inspect.signature(numbers.__wrapped__)
    gen = numbers(3)
    assert inspect.isgenerator(gen)
    seen = []
    for item in gen:
        seen.append(item)
        assert enabled() is False  # the consumer runs outside the scope
    assert seen == [(0, True), (1, True), (2, True)]

    def delegate():
        return (yield from numbers(1))

    g = delegate()
    assert next(g) == (0, True)
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done"


def test_generator_send_throw_close(native):
    log = []

    @secret
    def echo():
        try:
            received = yield "ready"
            while True:
                try:
                    received = yield ("got", received, enabled())
                except ValueError as exc:
                    received = f"caught {exc}"
        finally:
            log.append(("finally", enabled()))

    g = echo()
    assert next(g) == "ready"
    assert g.send(1) == ("got", 1, True)
    assert g.throw(ValueError("boom")) == ("got", "caught boom", True)
    g.close()
    assert log == [("finally", True)]
    with pytest.raises(StopIteration):
        next(g)


def test_exception_thrown_into_suspended_generator_propagates(native):
    @secret
    def gen():
        yield 1

    g = gen()
    next(g)
    with pytest.raises(KeyError) as info:
        g.throw(KeyError("k"))
    assert info.value.args == ("k",)
    assert not enabled()


def test_with_block_inside_a_generator_is_a_clear_error():
    def gen():
        with secret():
            yield 1

    with pytest.raises(TypeError, match="decorate the generator|Decorate the generator"):
        next(gen())


@pytest.mark.parametrize("scoped", [False, True])
def test_generator_stack_residue_after_each_suspension(probe, scoped):
    tag = 0x70 + scoped
    write, written = probe.stack_writer(64 * KiB, 4096, tag)

    def body():
        write()
        yield "after writing"
        write()
        yield "again"

    gen = (secret(body) if scoped else body)()
    for _ in gen:
        count = probe.count(*written(), tag)
        if scoped:
            assert count == 0, "sentinel left on the stack at a suspension"
        else:
            assert count > 0, "negative control"


# ---- coroutines -------------------------------------------------------------------------------


def test_coroutine_function_stays_a_coroutine_function(native):
    @secret
    async def derive(x: int) -> tuple:
        before = enabled()
        await asyncio.sleep(0)
        return x * 2, before, enabled()

    assert inspect.iscoroutinefunction(derive)
    assert asyncio.run(derive(21)) == (42, True, True)

    async def main():
        direct = await derive(1)
        task = await asyncio.create_task(derive(2))
        many = await asyncio.gather(derive(3), derive(4))
        return direct, task, many, enabled()

    assert asyncio.run(main()) == ((2, True, True), (4, True, True), [(6, True, True), (8, True, True)], False)


def test_enabled_is_exact_per_task(native):
    events = []

    @secret
    async def holder(gate: asyncio.Event):
        events.append(("holder before", enabled()))
        await gate.wait()  # suspended "inside" the decorated coroutine
        events.append(("holder after", enabled()))

    async def other(gate: asyncio.Event):
        events.append(("other while holder suspended", enabled()))
        gate.set()

    async def main():
        gate = asyncio.Event()
        await asyncio.gather(holder(gate), other(gate))

    asyncio.run(main())
    assert events == [("holder before", True), ("other while holder suspended", False), ("holder after", True)]


def test_cancellation_of_a_task_suspended_in_a_scope(native):
    log = []

    @secret
    async def waits():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            log.append(("cancelled inside", enabled()))
            raise
        finally:
            log.append(("finally", enabled()))

    async def main():
        task = asyncio.create_task(waits())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return enabled()

    assert asyncio.run(main()) is False
    assert log == [("cancelled inside", True), ("finally", True)]


def test_exception_from_a_coroutine_keeps_its_traceback(native):
    @secret
    async def fails():
        await asyncio.sleep(0)
        raise LookupError("nope")

    with pytest.raises(LookupError) as info:
        asyncio.run(fails())
    assert "fails" in [tb.name for tb in __import__("traceback").extract_tb(info.value.__traceback__)]


@pytest.mark.parametrize("scoped", [False, True])
def test_coroutine_stack_residue_after_await(probe, scoped):
    tag = 0x72 + scoped
    write, written = probe.stack_writer(64 * KiB, 4096, tag)
    counts = []

    async def body(gate):
        write()
        await gate.wait()

    async def watcher(gate):
        counts.append(probe.count(*written(), tag))  # while body is suspended
        gate.set()

    async def main():
        gate = asyncio.Event()
        await asyncio.gather((secret(body) if scoped else body)(gate), watcher(gate))

    asyncio.run(main())
    if scoped:
        assert counts == [0], "sentinel left on the stack while the coroutine was suspended"
    else:
        assert counts[0] > 0, "negative control"


def test_async_with_is_a_clear_error():
    async def main():
        async with secret():
            pass

    with pytest.raises(TypeError, match="Decorate the generator or coroutine"):
        asyncio.run(main())


def test_with_block_inside_a_coroutine_is_a_clear_error_but_plain_helpers_work(native):
    def helper():
        with secret():
            return enabled()

    async def main():
        assert helper() is True  # a plain function called from a coroutine: fine
        with secret():
            pass

    with pytest.raises(TypeError, match="cannot be used inside a generator or coroutine"):
        asyncio.run(main())


# ---- async generators -------------------------------------------------------------------------


def test_async_generator(native):
    log = []

    @secret
    async def chunks(n: int):
        try:
            for i in range(n):
                received = yield i, enabled()
                if received is not None:
                    log.append(("received", received, enabled()))
                await asyncio.sleep(0)
        except ValueError as exc:
            log.append(("caught", str(exc), enabled()))
            yield "recovered", enabled()
        finally:
            log.append(("finally", enabled()))

    assert inspect.isasyncgenfunction(chunks)

    async def main():
        got = [item async for item in chunks(3)]
        agen = chunks(5)
        first = await agen.__anext__()
        sent = await agen.asend("hello")
        thrown = await agen.athrow(ValueError("bad"))
        await agen.aclose()
        return got, first, sent, thrown, enabled()

    got, first, sent, thrown, outside = asyncio.run(main())
    assert got == [(0, True), (1, True), (2, True)]
    assert first == (0, True) and sent == (1, True) and thrown == ("recovered", True)
    assert outside is False
    assert ("received", "hello", True) in log and ("caught", "bad", True) in log
    assert log.count(("finally", True)) == 2


# ---- threads ----------------------------------------------------------------------------------


def test_threads_inherit_and_secret_target_is_the_way_without(native):
    from secretscope import inherit
    seen = {}

    @secret
    def spawn():
        plain = threading.Thread(target=lambda: seen.setdefault("plain", enabled()))
        scoped = threading.Thread(target=secret(lambda: seen.setdefault("scoped", enabled())))
        for t in (plain, scoped):
            t.start()
            t.join()

    previous = inherit(False)  # Go 1.26's semantics; inheritance: tests/test_inherit.py
    try:
        spawn()
    finally:
        inherit(previous)
    assert seen == {"plain": False, "scoped": True}
