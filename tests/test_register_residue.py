"""Guarantee 1: registers hold nothing of the scope's function after it ends.

probe_regs_fill loads the sentinel into every register class the CPU and the
kernel enable; probe_call_and_spill calls it through the trampoline (or, for
the control, through a plain vectorcall) and spills all registers the
instant the call returns.

x86-64: caller-saved GPRs, xmm/ymm/zmm0-31, k0-k7, mm0-mm7, MXCSR status flags.
AArch64: x1-x18, v0-v31 (both 64-bit halves; v8-v15 only the upper one, their
low halves are callee-saved), with SVE the z registers above 128 bits, p0-p15
and FFR (a monotonic marker: WRFFR takes nothing else), with SME the ZA array,
the FPSR cumulative flags and NZCV.  Every class has its negative control
(found without a scope) and its positive check (gone after the scope).
"""
from __future__ import annotations

import re

import pytest

from secretscope._platform import native_arch
from secretscope.diagnostics.probe import D_MARK, FFR_MARK, FPCR_FZ, FPSR_CUMULATIVE, sentinel
from tests._support.residue import in_thread

TAG = 0x5A
ARCH = native_arch()
AARCH64 = ARCH == "aarch64"

# register classes and the names in a spill that belong to them
X86_CLASSES = {
    "gpr": lambda n: n in {"rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"},
    "x87/mmx": lambda n: n.startswith("st"),
    "xmm": lambda n: n.startswith("xmm"),
    "ymm upper": lambda n: n.startswith("ymm"),
    "zmm0-15 upper": lambda n: n.startswith("zmm") and n.endswith(".hi"),
    "zmm16-31": lambda n: n.startswith("zmm") and not n.endswith(".hi"),
    "k": lambda n: n.startswith("k"),
}
A64_GPRS = {f"x{i}" for i in range(1, 19)}
A64_CALLEE_SAVED_LOW = {f"v{i}.lo" for i in range(8, 16)}
A64_CLASSES = {
    "gpr x1-x18": lambda n: n in A64_GPRS,
    "v low 64": lambda n: n.startswith("v") and n.endswith(".lo") and n not in A64_CALLEE_SAVED_LOW,
    "v high 64": lambda n: n.startswith("v") and n.endswith(".hi"),
    "sve z upper": lambda n: n.startswith("z") and n.endswith(".upper"),
    "sve p": lambda n: re.fullmatch(r"p\d+", n) is not None,
    "sme za": lambda n: n.startswith("za"),
}
CLASSES = A64_CLASSES if AARCH64 else X86_CLASSES


def _needed(features, spill):
    if AARCH64:
        need = ["gpr x1-x18"]
        if "fp-simd" in features:
            need += ["v low 64", "v high 64"]
        if "sve" in features:
            need.append("sve p")
            if spill.vector_length > 16:  # at 128 bits z has no part above v
                need.append("sve z upper")
        if "sme" in features:
            need.append("sme za")
        return need
    need = ["gpr", "x87/mmx", "xmm"]
    if "avx" in features:
        need.append("ymm upper")
    if "avx512" in features:
        need += ["zmm0-15 upper", "zmm16-31", "k"]
    return need


def _by_class(names):
    return {cls: sorted(n for n in names if match(n)) for cls, match in CLASSES.items()}


def _control_spill(probe):
    return probe.spill_after(probe.plain_vectorcall(), probe.regs_fill, TAG)


def _scoped_spill(probe, native):
    return probe.spill_after(native.addresses["ss_call"], probe.regs_fill, TAG)


def test_control_finds_the_sentinel_in_every_class(probe, native):
    spill = _control_spill(probe)
    found = _by_class(spill.holding(sentinel(TAG)))
    for cls in _needed(native.features(), spill):
        assert found[cls], f"negative control: no {cls} register kept the sentinel without a scope"
    if AARCH64:
        assert spill.fp_status_flags == FPSR_CUMULATIVE, f"FPSR {spill.fpsr:#x}"
        assert spill.nzcv == 0xF0000000, f"negative control: NZCV {spill.nzcv:#x}"
        if "sve" in native.features():
            assert spill.registers["ffr"][0] == FFR_MARK, "negative control: FFR lost its marker"
        if "sme" in native.features():
            assert spill.svcr & 2, "negative control: ZA was not left on"
    else:
        assert spill.mxcsr_flags == 0x3F


def test_scope_leaves_no_register_holding_the_sentinel(probe, native):
    spill = _scoped_spill(probe, native)
    assert spill.holding(sentinel(TAG)) == []
    if AARCH64:
        assert spill.fp_status_flags == 0, f"FPSR cumulative flags set inside the scope survived it: {spill.fpsr:#x}"
        assert spill.nzcv == 0, f"NZCV set inside the scope survived it: {spill.nzcv:#x}"
        if "sve" in native.features():
            assert not any(spill.registers["ffr"]), "FFR written inside the scope survived it"
        if "sme" in native.features():
            assert spill.svcr == 0, f"streaming mode or ZA left on by the scope: SVCR {spill.svcr:#x}"
    else:
        assert spill.mxcsr_flags == 0, "MXCSR status flags set inside the scope survived it"


def test_scope_clears_every_vector_and_mask_register(probe, native):
    spill = _scoped_spill(probe, native)
    if AARCH64:
        leftovers = {n: v.hex() for n, v in spill.registers.items()
                     if not n.startswith("x") and n not in A64_CALLEE_SAVED_LOW and any(v)}
        assert leftovers == {}
        gprs = {n: spill.registers[n] for n in sorted(A64_GPRS)}
    else:
        leftovers = {n: v.hex() for n, v in spill.registers.items()
                     if not n.startswith(("r",)) and any(v)}
        assert leftovers == {}
        gprs = {n: spill.registers[n] for n in ("rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11")}
    assert all(v == bytes(8) for v in gprs.values()), gprs


@pytest.mark.skipif(not AARCH64, reason="AArch64: v8-v15 low halves are callee-saved")
def test_callee_saved_d8_d15_are_the_callers(probe, native):
    # probe_call_and_spill holds known values in d8-d15 across the call; the scope must hand
    # them back (the ABI) while clearing everything above them
    for spill in (_control_spill(probe), _scoped_spill(probe, native)):
        for n in range(8, 16):
            assert spill.registers[f"v{n}.lo"] == (D_MARK + n).to_bytes(8, "little"), f"d{n}"


def test_mxcsr_control_bits_are_the_callers(probe, native):
    spill = _scoped_spill(probe, native)
    if AARCH64:
        # FPCR (rounding, flush-to-zero, traps...) is the caller's: probe_regs_fill sets FZ,
        # which survives a plain call (the control) but not the scope
        control = _control_spill(probe)
        assert control.fpcr & FPCR_FZ, "negative control: FPCR.FZ set by f was not seen"
        assert spill.fpcr == control.fpcr & ~FPCR_FZ, f"FPCR {spill.fpcr:#x}"
        assert not spill.fpcr & FPCR_FZ
    else:
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
