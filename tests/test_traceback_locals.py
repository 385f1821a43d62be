"""Secrets kept alive by a traceback (issue 13, case 11).

An exception leaving a scope holds, through its traceback, the frames the scope ran, and with
them their locals: the key the function had derived.  Go re-raises a panic "as if it originated
from Do"; here the frames stay in the traceback (it prints every line as before) but their locals
are cleared as the exception leaves the scope, so nothing of the scope's stays reachable through
it.  Each test has its control: the same code undecorated keeps the key reachable.
"""
from __future__ import annotations

import asyncio
import traceback
import weakref

import pytest

from secretscope import do, secret


class Key:
    """Stands for key material: weakly referenceable, so its reachability can be observed."""

    def __init__(self, label: str) -> None:
        self.label = label


def frames_of(exc: BaseException):
    return [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]


def locals_named(exc: BaseException, name: str):
    return [frame.f_locals[name] for frame in frames_of(exc) if name in frame.f_locals]


def raise_with_key(refs):
    key = Key("derived")
    refs.append(weakref.ref(key))
    raise ValueError("failed after deriving")


def call_and_catch(fn, *args):
    try:
        fn(*args)
    except BaseException as exc:  # returned, with its traceback, to be inspected
        return exc
    raise AssertionError("did not raise")


@pytest.mark.parametrize("scoped", [False, True], ids=["control", "decorated"])
def test_locals_of_the_raising_frame_are_cleared(native, scoped):
    refs: list = []
    fn = secret(raise_with_key) if scoped else raise_with_key
    exc = call_and_catch(fn, refs)
    if scoped:
        assert locals_named(exc, "key") == []
        assert refs[0]() is None, "the key is still alive while the exception is"
    else:
        assert [k.label for k in locals_named(exc, "key")] == ["derived"], "negative control"
        assert refs[0]() is not None


def test_the_printed_traceback_keeps_every_line(native):
    plain = call_and_catch(raise_with_key, [])
    decorated = call_and_catch(secret(raise_with_key), [])

    def frame_lines(exc):
        return [(s.filename, s.lineno, s.name, s.line) for s in traceback.extract_tb(exc.__traceback__)]

    assert frame_lines(decorated) == frame_lines(plain)
    text = "".join(traceback.format_exception(type(decorated), decorated, decorated.__traceback__))
    assert "in raise_with_key" in text and 'raise ValueError("failed after deriving")' in text
    assert "ValueError: failed after deriving" in text


@pytest.mark.parametrize("scoped", [False, True], ids=["control", "decorated"])
def test_frames_below_and_chained_exceptions_are_cleared(native, scoped):
    refs: list = []

    def inner():
        inner_key = Key("inner")
        refs.append(weakref.ref(inner_key))
        raise KeyError("inner")

    def outer():
        outer_key = Key("outer")
        refs.append(weakref.ref(outer_key))
        try:
            inner()
        except KeyError:
            raise RuntimeError("wrapped")  # chains the KeyError (__context__)

    exc = call_and_catch(secret(outer) if scoped else outer)
    alive = [ref() is not None for ref in refs]
    if scoped:
        assert alive == [False, False]
        assert locals_named(exc.__context__, "inner_key") == []
    else:
        assert alive == [True, True], "negative control"


@pytest.mark.parametrize("scoped", [False, True], ids=["control", "do"])
def test_do_clears_too(native, scoped):
    refs: list = []
    # held, not read: its traceback is what keeps the control's key alive
    _exc = call_and_catch(lambda: do(raise_with_key, refs) if scoped else raise_with_key(refs))
    assert (refs[0]() is None) == scoped


def test_frames_outside_the_scope_are_left_alone(native):
    refs: list = []

    def helper():
        outside_key = Key("outside")
        refs.append(weakref.ref(outside_key))
        raise LookupError("outside")

    saved = call_and_catch(helper)  # raised and caught before the scope: its frames are not the scope's
    caller_local = Key("caller")

    @secret
    def reraise():
        raise saved

    try:
        try:
            raise OSError("handled while the scope runs")
        except OSError:
            reraise()
    except LookupError as exc:
        assert exc is saved
        assert refs[0]() is not None, "a frame the scope did not run was cleared"
        assert [k.label for k in locals_named(exc, "outside_key")] == ["outside"]
        assert isinstance(exc.__context__, OSError)
    assert caller_local.label == "caller"


def test_a_suspended_generator_in_the_traceback_keeps_running(native):
    def keeps_its_exception():
        try:
            raise KeyError("kept")
        except KeyError as exc:
            yield exc
        yield "still running"

    gen = keeps_its_exception()
    kept = next(gen)  # its traceback holds the generator's frame, which is suspended

    @secret
    def reraise():
        raise kept

    with pytest.raises(KeyError):
        reraise()
    assert next(gen) == "still running"  # clearing it would have closed it (3.10-3.12) or raised


@pytest.mark.parametrize("scoped", [False, True], ids=["control", "decorated"])
def test_decorated_generators_and_coroutines(native, scoped):
    refs: list = []

    def gen():
        gen_key = Key("generator")
        refs.append(weakref.ref(gen_key))
        yield 1
        raise ValueError("generator failed")

    async def coro():
        coro_key = Key("coroutine")
        refs.append(weakref.ref(coro_key))
        await asyncio.sleep(0)
        raise ValueError("coroutine failed")

    g = (secret(gen) if scoped else gen)()
    next(g)
    gen_exc = call_and_catch(next, g)
    coro_exc = call_and_catch(asyncio.run, (secret(coro) if scoped else coro)())
    alive = [ref() is not None for ref in refs]
    assert alive == [not scoped, not scoped]
    assert bool(locals_named(gen_exc, "gen_key")) is not scoped
    assert bool(locals_named(coro_exc, "coro_key")) is not scoped


@pytest.mark.parametrize("scoped", [False, True], ids=["control", "with-block"])
def test_frames_a_with_block_called_are_cleared(native, scoped):
    refs: list = []
    block_local = Key("the block's own frame is still running: kept")

    def run_block():
        if scoped:
            with secret():
                raise_with_key(refs)
        else:
            raise_with_key(refs)

    exc = call_and_catch(run_block)
    assert (refs[0]() is None) == scoped
    assert bool(locals_named(exc, "key")) is not scoped
    assert block_local.label.startswith("the block")
    names = [s.name for s in traceback.extract_tb(exc.__traceback__)]
    assert names[-2:] == ["run_block", "raise_with_key"]  # every entry is still there
