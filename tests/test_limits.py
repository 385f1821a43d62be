"""protection().limits: the known limits of guarantees that hold, named at run time.

Each limit is also written in docs/guarantees.md ("Not covered"); this checks that the ones that
depend on the interpreter's version or on what the process loaded are reported where they apply,
and only there.
"""
from __future__ import annotations

import platform
import sys

import pytest

from secretscope import do, protection
from secretscope._freelists import DTOA_STATIC_NOT_FOUND
from secretscope._limits import WITH_EXIT_SLOT, known_limits, version_limits


@pytest.mark.parametrize("version, machine, expected", [
    ((3, 10), "x86_64", set()),
    ((3, 11), "x86_64", {WITH_EXIT_SLOT}),
    ((3, 11), "aarch64", set()),
    ((3, 12), "x86_64", set()),
    ((3, 13), "aarch64", set()),
    ((3, 14), "x86_64", set()),
    ((3, 15), "aarch64", set()),
])
def test_each_version_gets_its_own_limits(version, machine, expected):
    assert set(version_limits(version, machine)) == expected


def test_protection_lists_the_limits_of_this_interpreter(native):
    do(lambda: None)  # the first scope installs the heap wrappers
    p = protection()
    assert p.limits == known_limits(native.native_heap, native.free_lists.limits())
    assert set(version_limits(sys.version_info, platform.machine())) <= set(p.limits)
    assert (WITH_EXIT_SLOT in p.limits) == (sys.version_info[:2] == (3, 11) and platform.machine() == "x86_64")


class _Heap:
    def __init__(self, covered: bool, foreign: int) -> None:
        self.covered, self._foreign = covered, foreign

    def foreign_objects(self) -> int:
        return self._foreign


def test_a_foreign_allocator_chain_is_a_limit_of_the_native_heap():
    assert not [x for x in known_limits(_Heap(True, 0)) if x.startswith("native heap")]
    (limit,) = [x for x in known_limits(_Heap(True, 2)) if x.startswith("native heap")]
    assert "2 object(s)" in limit
    # not covered at all: native_heap is False with the reason, not a limit
    assert not [x for x in known_limits(_Heap(False, 2)) if x.startswith("native heap")]


def test_this_test_process_binds_no_foreign_allocator(native):
    do(lambda: None)
    assert native.native_heap.foreign_objects() == 0, native.native_heap.families


def test_dtoa_bigints_of_3_10_3_11_are_located_here(native):
    """3.10-3.11 locate dtoa's static free lists in the interpreter's .bss; when that fails the
    other lists still hold and the limit says so."""
    do(lambda: None)
    fl = native.free_lists
    if not fl.installed or sys.version_info >= (3, 12):
        pytest.skip("3.10-3.11 with the free lists installed")
    assert [c for c in fl.chains if c.name == "dtoa_bigints"], fl.chains
    assert DTOA_STATIC_NOT_FOUND not in protection().limits
    saved = fl.chains
    fl.chains = []
    try:
        assert DTOA_STATIC_NOT_FOUND in protection().limits
    finally:
        fl.chains = saved
