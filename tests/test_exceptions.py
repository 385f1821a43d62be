"""Exceptions of every kind leave the scope unchanged, with tracebacks, after erasure."""
from __future__ import annotations

import os
import signal
import sys
import traceback

import pytest

from secretscope import do, enabled, secret
from secretscope.diagnostics.probe import sentinel
from tests._support.residue import KiB


class Custom(BaseException):
    pass


KINDS = [ValueError("v"), KeyError("k"), KeyboardInterrupt(), SystemExit(3), GeneratorExit(), Custom("c"),
         RecursionError("r"), MemoryError()]


def _raiser(exc):
    def explode():
        assert enabled() or _native_missing()
        raise exc
    return explode


def _native_missing():
    from secretscope._active import backend
    return backend.name != "native"


@pytest.mark.parametrize("exc", KINDS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("form", ["decorator", "do", "with"])
def test_exception_propagates_unchanged_with_traceback(exc, form):
    f = _raiser(exc)
    with pytest.raises(type(exc)) as info:
        if form == "decorator":
            secret(f)()
        elif form == "do":
            do(f)
        else:
            with secret():
                f()
    assert info.value is exc
    frames = [fs.name for fs in traceback.extract_tb(info.value.__traceback__)]
    assert "explode" in frames, frames
    assert enabled() is False


def test_erasure_happens_when_f_raises(probe):
    write, written = probe.stack_writer(64 * KiB, 4096, 0x0A)

    @secret
    def leaky():
        write()
        raise ValueError("after writing secrets")

    with pytest.raises(ValueError):
        leaky()
    assert probe.count(*written(), 0x0A) == 0


def test_erasure_happens_when_f_raises_control(probe):
    write, written = probe.stack_writer(64 * KiB, 4096, 0x0B)

    def leaky():
        write()
        raise ValueError("after writing secrets")

    with pytest.raises(ValueError):
        leaky()
    assert probe.count(*written(), 0x0B) > 0


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_keyboard_interrupt_from_a_signal_handler_inside_f(probe):
    write, written = probe.stack_writer(64 * KiB, 4096, 0x0C)

    @secret
    def long_running():
        write()
        os.kill(os.getpid(), signal.SIGINT)  # the default handler raises KeyboardInterrupt
        for _ in range(10_000_000):  # the handler runs at the next bytecode boundary
            pass
        raise AssertionError("the signal did not interrupt f")

    with pytest.raises(KeyboardInterrupt) as info:
        long_running()
    assert "long_running" in [fs.name for fs in traceback.extract_tb(info.value.__traceback__)]
    assert enabled() is False
    assert probe.count(*written(), 0x0C) == 0


def test_system_exit_code_survives(native):
    with pytest.raises(SystemExit) as info:
        do(sys.exit, 7)
    assert info.value.code == 7


def test_registers_erased_when_f_raises(probe, native):
    # probe_regs_fill_raise fills every register, sets ValueError and returns NULL
    control = probe.spill_after(probe.plain_vectorcall(), probe.regs_fill_raise, 0x0D)
    assert any(n.startswith(("xmm", "v")) for n in control.holding(sentinel(0x0D))), "negative control"
    spill = probe.spill_after(native.addresses["ss_call"], probe.regs_fill_raise, 0x0D)
    assert spill.holding(sentinel(0x0D)) == []
