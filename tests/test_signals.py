"""Guarantee 4: register context the kernel saved in signal frames during a scope is erased.

probe_regs_fill_signal fills every register with the sentinel and then raises a signal on its own
thread (raw tgkill) and spins, so the kernel writes a frame full of it: on the alternate signal
stack when the thread has one (faulthandler gives one; CPython's handlers use SA_ONSTACK), or on
the thread's stack otherwise.  Without a scope the sentinel is found there (the control).
"""
from __future__ import annotations

import faulthandler
import signal

import pytest

from secretscope import do, secret
from secretscope.diagnostics.probe import masked
from secretscope._threads import alternate_signal_stack, current_thread_bounds
from tests._support.residue import in_thread

TAGS = iter(range(0x50, 0x58))  # tests/_support/residue.py lists the ranges


@pytest.fixture
def usr1_handler():
    hits = []
    previous = signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
    yield hits
    signal.signal(signal.SIGUSR1, previous)


@pytest.fixture
def with_altstack():
    was = faulthandler.is_enabled()
    faulthandler.enable()  # installs an alternate signal stack for this (the main) thread
    yield
    if not was:
        faulthandler.disable()


RUN = {"plain": lambda f: f(), "decorator": lambda f: secret(f)(), "do": do}


def _run_with_signal(probe, tag, form, spin=0):
    probe.signal_setup(tag, signal.SIGUSR1, spin)
    RUN[form](probe.regs_fill_signal)


@pytest.mark.parametrize("form", ["plain", "decorator", "do"])
def test_frames_on_the_alternate_signal_stack(probe, usr1_handler, with_altstack, form):
    alt = alternate_signal_stack()
    assert alt is not None, "faulthandler did not install an alternate stack"
    tag = next(TAGS)
    _run_with_signal(probe, tag, form)
    hits = probe.count_any_offset(alt[0], alt[0] + alt[1], masked(tag))
    if form == "plain":
        assert hits > 0, "negative control: the signal frame on the alternate stack holds the registers"
    else:
        assert hits == 0, f"{hits} copies of the sentinel left on the alternate signal stack"
    assert usr1_handler  # the Python-level handler ran too


@pytest.mark.parametrize("form", ["plain", "do"])
def test_frames_on_a_thread_stack_without_alternate_stack(probe, usr1_handler, form):
    tag = next(TAGS)

    def body():
        assert alternate_signal_stack() is None  # a fresh thread has none
        low = current_thread_bounds()[0]
        _run_with_signal(probe, tag, form)
        return probe.count_any_offset(low, probe.stack_pointer() - 256, masked(tag))

    hits = in_thread(body)
    if form == "plain":
        assert hits > 0, "negative control: the signal frame on the thread stack holds the registers"
    else:
        assert hits == 0


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_timer_signals_during_a_scope(probe, with_altstack):
    alt = alternate_signal_stack()
    ticks = []
    previous = signal.signal(signal.SIGALRM, lambda *a: ticks.append(1))
    try:
        for form, tag in (("plain", 0x58), ("do", 0x59)):
            probe.signal_setup(tag, 0, spin=40_000_000)  # no tgkill: spin while the timer fires
            signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
            try:
                RUN[form](probe.regs_fill_signal)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0, 0)
            hits = probe.count_any_offset(alt[0], alt[0] + alt[1], masked(tag))
            assert ticks, "the timer never fired during the spin"
            if form == "plain":
                assert hits > 0, "negative control"
            else:
                assert hits == 0
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_a_handler_running_on_the_alternate_stack_is_left_alone(native, with_altstack):
    # a scope entered from a signal handler (running on the alternate stack) must not erase it
    seen = []

    def handler(*args):
        seen.append(do(lambda: 42))

    previous = signal.signal(signal.SIGUSR2, handler)
    try:
        signal.raise_signal(signal.SIGUSR2)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert seen == [42]

