"""Guarantee 2: every byte below the scope's entry stack pointer is erased.

The probe writes an 8-byte sentinel 1 KiB, 64 KiB and 1 MiB deep, either on
every page or with untouched pages between the blocks, on the main thread
and on a worker thread.  Without a scope it must be found (so the test can
fail); after @secret, do() and `with secret():` it must be absent, both in
the range written and anywhere in the thread's stack below the caller.
"""
from __future__ import annotations

import itertools

import pytest

from tests._support.residue import KiB, MiB, in_thread, is_main_thread, stack_residue

DEPTHS = [1 * KiB, 64 * KiB, 1 * MiB]
STRIDES = {"dense": 4096, "gaps": 3 * 4096 + 64}  # gaps: two untouched pages between blocks
SCOPED = ["decorator", "do", "with"]
_tags = itertools.count(0x20)  # tag ranges per test family: see tests/_support/residue.py


def _check(probe, runner, depth, stride):
    tag = next(_tags)
    local, whole = stack_residue(probe, runner, depth, stride, tag)
    if runner == "plain":
        assert local > 0, "negative control: the sentinel should survive a call without a scope"
        assert whole >= local
    else:
        assert (local, whole) == (0, 0), f"{runner}: sentinel left on the stack ({local} in range, {whole} overall)"


@pytest.mark.parametrize("stride", STRIDES.values(), ids=STRIDES.keys())
@pytest.mark.parametrize("depth", DEPTHS, ids=lambda d: f"{d // KiB}KiB")
@pytest.mark.parametrize("runner", ["plain"] + SCOPED)
def test_main_thread(probe, runner, depth, stride):
    assert is_main_thread()
    _check(probe, runner, depth, stride)


@pytest.mark.parametrize("stride", STRIDES.values(), ids=STRIDES.keys())
@pytest.mark.parametrize("depth", DEPTHS, ids=lambda d: f"{d // KiB}KiB")
@pytest.mark.parametrize("runner", ["plain"] + SCOPED)
def test_worker_thread(probe, runner, depth, stride):
    in_thread(lambda: _check(probe, runner, depth, stride))


def test_worker_thread_with_large_stack(probe):
    # a 64 MiB thread stack: erasure must not be bounded by the default 8 MiB
    def body():
        _check(probe, "plain", 16 * MiB, 64 * 4096)
        _check(probe, "decorator", 16 * MiB, 64 * 4096)
    in_thread(body, stack_size=64 * MiB)


def test_repeated_scopes_stay_clean(probe):
    # deep pages are returned to the kernel after zeroing; the next scope must still find
    # and erase whatever it writes there
    for _ in range(3):
        _check(probe, "do", 1 * MiB, 4096)
        _check(probe, "do", 1 * KiB, 4096)


def test_main_thread_stack_growth_is_followed(probe):
    # deeper than the main thread has been so far: the [stack] mapping grows during the
    # scope and the erasure must reach its new low end
    _check(probe, "decorator", 6 * MiB, 256 * 4096)
