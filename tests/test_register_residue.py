"""Guarantee 1: registers hold nothing of the scope's function after it ends.

probe_regs_fill loads the sentinel into every caller-saved GPR, xmm/ymm/zmm0-31,
k0-k7 and mm0-mm7 and sets every MXCSR status flag; probe_call_and_spill calls
it through the trampoline (or, for the control, through a plain vectorcall)
and spills all registers the instant the call returns.
"""
from __future__ import annotations

import pytest

from residue import in_thread
from secretscope._probe import sentinel

TAG = 0x5A

# register classes and the names in a spill that belong to them
CLASSES = {
    "gpr": lambda n: n in {"rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"},
    "x87/mmx": lambda n: n.startswith("st"),
    "xmm": lambda n: n.startswith("xmm"),
    "ymm upper": lambda n: n.startswith("ymm"),
    "zmm0-15 upper": lambda n: n.startswith("zmm") and n.endswith(".hi"),
    "zmm16-31": lambda n: n.startswith("zmm") and not n.endswith(".hi"),
    "k": lambda n: n.startswith("k"),
}


def _needed(features):
    need = ["gpr", "x87/mmx", "xmm"]
    if "avx" in features:
        need.append("ymm upper")
    if "avx512" in features:
        need += ["zmm0-15 upper", "zmm16-31", "k"]
    return need


def _by_class(names):
    return {cls: sorted(n for n in names if match(n)) for cls, match in CLASSES.items()}


def test_control_finds_the_sentinel_in_every_class(probe, native):
    spill = probe.spill_after(probe.plain_vectorcall(), probe.regs_fill, TAG)
    found = _by_class(spill.holding(sentinel(TAG)))
    for cls in _needed(native.features()):
        assert found[cls], f"negative control: no {cls} register kept the sentinel without a scope"
    assert spill.mxcsr_flags == 0x3F


def _scoped_spill(probe, native):
    return probe.spill_after(native.addresses["ss_call"], probe.regs_fill, TAG)


def test_scope_leaves_no_register_holding_the_sentinel(probe, native):
    spill = _scoped_spill(probe, native)
    assert spill.holding(sentinel(TAG)) == []
    assert spill.mxcsr_flags == 0, "MXCSR status flags set inside the scope survived it"


def test_scope_clears_every_vector_and_mask_register(probe, native):
    spill = _scoped_spill(probe, native)
    leftovers = {n: v.hex() for n, v in spill.registers.items()
                 if not n.startswith(("r",)) and any(v)}
    assert leftovers == {}
    gprs = {n: spill.registers[n] for n in ("rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11")}
    assert all(v == bytes(8) for v in gprs.values()), gprs


def test_mxcsr_control_bits_are_the_callers(probe, native):
    spill = _scoped_spill(probe, native)
    assert spill.mxcsr & ~0x3F == 0x1F80  # CPython's default rounding/masks, unchanged


def test_worker_thread(probe, native):
    spill = in_thread(lambda: _scoped_spill(probe, native))
    assert spill.holding(sentinel(TAG)) == []


@pytest.mark.parametrize("depth_first", [True, False])
def test_registers_after_a_deep_scope(probe, native, depth_first):
    # the register erasure must hold whatever the stack erasure had to do
    if depth_first:
        write, _ = probe.stack_writer(1 << 20, 4096, 3)
        from secretscope import do
        do(write)
    spill = _scoped_spill(probe, native)
    assert spill.holding(sentinel(TAG)) == []
