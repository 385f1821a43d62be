"""Residue probes: plant a known sentinel in the stack and registers, then look for it.

Backed by libsecretscope_probe_<arch>.so, a diagnostic object separate from
the protecting code.  Used by `python -m secretscope` and by the test suite.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Protocol, Tuple

from .. import _cpython
from .._loader import library_path, load_verified

SPILL_BYTES = 128 + 4096 + 64
# asm/aarch64/probe/probe.S: OUT_SIZE, plus room to align the buffer to 16 bytes
SPILL_BYTES_AARCH64 = 13824 + 16


_MASK = 0xA5  # asm/*/probe/probe.S: MASK is this byte repeated
_MASKED_PREFIX = bytes(b ^ _MASK for b in b"SECRET")


def sentinel(tag: int) -> bytes:
    """The 8-byte pattern, as Go's tests use: 'SECRET', an id byte, '!' (a bytes object)."""
    return bytes(b ^ _MASK for b in masked_bytes(tag))


def masked_bytes(tag: int) -> bytes:
    return _MASKED_PREFIX + bytes([(tag & 0xFF) ^ _MASK, ord("!") ^ _MASK])


def masked(tag: int) -> int:
    """The sentinel as handed to the probe: XOR-masked, so that no copy of the real value
    is ever made by Python or ctypes on the stack (which would pollute the scans)."""
    return int.from_bytes(masked_bytes(tag), "little")


# Where each register lands in probe_call_and_spill's buffer (x86-64):
# GPRs first, then a standard-format XSAVE image at +128.
_X86_GPRS = ("rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11")
_XSAVE = 128


def _x86_registers(buf: bytes) -> Dict[str, bytes]:
    regs: Dict[str, bytes] = {name: buf[8 * i: 8 * i + 8] for i, name in enumerate(_X86_GPRS)}
    x = _XSAVE
    for i in range(8):
        regs[f"st{i}/mm{i}"] = buf[x + 32 + 16 * i: x + 40 + 16 * i]
    for i in range(16):
        regs[f"xmm{i}"] = buf[x + 160 + 16 * i: x + 176 + 16 * i]
        regs[f"ymm{i}.hi"] = buf[x + 576 + 16 * i: x + 592 + 16 * i]
        regs[f"zmm{i}.hi"] = buf[x + 1152 + 32 * i: x + 1184 + 32 * i]
        regs[f"zmm{16 + i}"] = buf[x + 1664 + 64 * i: x + 1728 + 64 * i]
    for i in range(8):
        regs[f"k{i}"] = buf[x + 1088 + 8 * i: x + 1096 + 8 * i]
    return regs


# Where each register lands in probe_call_and_spill's buffer (AArch64, asm/aarch64/probe/probe.S
# OUT_*): x0-x18, then NZCV, FPSR, FPCR, the SVE vector length, SVCR and the SME streaming
# vector length; q0-q31; z0-z31 (VL bytes each); p0-p15 and FFR (VL/8 bytes each); ZA rows
# 0-15 (SVL bytes each, only when ZA was on).
_A64_NZCV, _A64_FPSR, _A64_FPCR, _A64_VL, _A64_SVCR, _A64_SVL = 160, 168, 176, 184, 192, 200
_A64_Q, _A64_Z, _A64_P, _A64_ZA = 256, 768, 8960, 9728
#: FPSR cumulative exception flags IOC DZC OFC UFC IXC IDC and the saturation flag QC
FPSR_CUMULATIVE = 0x0800009F
#: probe_regs_fill sets FFR to this monotonic value (WRFFR takes no other kind): the first
#: 7 byte elements active, i.e. FFR's first byte is 0x7f
FFR_MARK = 0x7F
SVCR_ZA = 2
#: FPCR flush-to-zero: probe_regs_fill sets this control bit, which a scope must not let out
FPCR_FZ = 1 << 24
#: probe_call_and_spill holds d<n> = D_MARK + n (n = 8..15) across the call: the callee-saved
#: low halves of v8-v15 must come back unchanged
D_MARK = 0xCAFE00000000D000


def _aarch64_registers(buf: bytes) -> Tuple[Dict[str, bytes], Dict[str, int]]:
    def word(off: int) -> int:
        return int.from_bytes(buf[off: off + 8], "little")

    regs: Dict[str, bytes] = {f"x{i}": buf[8 * i: 8 * i + 8] for i in range(19)}
    vl, svcr, svl = word(_A64_VL), word(_A64_SVCR), word(_A64_SVL)
    for i in range(32):
        q = buf[_A64_Q + 16 * i: _A64_Q + 16 * i + 16]
        regs[f"v{i}.lo"], regs[f"v{i}.hi"] = q[:8], q[8:]
    if vl > 16:
        for i in range(32):
            regs[f"z{i}.upper"] = buf[_A64_Z + vl * i + 16: _A64_Z + vl * (i + 1)]
    if vl:
        plen = vl // 8
        for i in range(16):
            regs[f"p{i}"] = buf[_A64_P + plen * i: _A64_P + plen * (i + 1)]
        regs["ffr"] = buf[_A64_P + plen * 16: _A64_P + plen * 17]
    if svcr & SVCR_ZA:
        for row in range(16):
            regs[f"za{row}"] = buf[_A64_ZA + svl * row: _A64_ZA + svl * (row + 1)]
    status = {"nzcv": word(_A64_NZCV), "fpsr": word(_A64_FPSR), "fpcr": word(_A64_FPCR),
              "vector_length": vl, "svcr": svcr, "streaming_vector_length": svl}
    return regs, status


@dataclass(frozen=True)
class RegisterSpill:
    registers: Dict[str, bytes]
    mxcsr: int
    # AArch64 only (x86-64 leaves the defaults)
    arch: str = "x86_64"
    nzcv: int = 0
    fpsr: int = 0
    fpcr: int = 0
    vector_length: int = 0            # SVE vector length in bytes, 0 without SVE
    svcr: int = 0                     # SME: bit 0 streaming mode, bit 1 ZA
    streaming_vector_length: int = 0

    def holding(self, pattern: bytes) -> List[str]:
        """Registers holding the sentinel (any 8-byte lane; mask registers: its low 16 bits too;
        AArch64 predicates narrower than 8 bytes: as many of its bytes as they hold)."""
        found: List[str] = []
        for name, data in self.registers.items():
            lanes = [data[i:i + 8] for i in range(0, len(data) - 7, 8)]
            if pattern in lanes or (name.startswith("k") and data[:2] == pattern[:2] and any(data[:2])):
                found.append(name)
            elif (self.arch == "aarch64" and name[:1] == "p" and 0 < len(data) < 8
                  and data == pattern[:len(data)]):
                found.append(name)
        return found

    @property
    def fp_status_flags(self) -> int:
        """The floating-point status flags left set: MXCSR bits 0-5 (x86-64), or the FPSR
        cumulative flags (AArch64)."""
        if self.arch == "aarch64":
            return self.fpsr & FPSR_CUMULATIVE
        return self.mxcsr & 0x3F

    @property
    def mxcsr_flags(self) -> int:
        """x86-64's name for fp_status_flags (kept for callers written against it)."""
        return self.fp_status_flags


class ProbeBackend(Protocol):
    """What the probe needs of the native backend (secretscope._native.NativeBackend)."""

    @property
    def arch(self) -> str: ...

    @property
    def feature_bits(self) -> int: ...

    @property
    def addresses(self) -> Dict[str, int]: ...


class Probe:
    def __init__(self, backend: ProbeBackend) -> None:
        self.backend: ProbeBackend = backend
        self.lib: ctypes.CDLL = load_verified(library_path("probe", backend.arch), ctypes.PyDLL)
        lib = self.lib
        self.api: Any = (ctypes.c_void_p * 8).in_dll(lib, "probe_api")  # ctypes array of 8 c_void_p
        self.api[0] = id(None)
        self.api[1] = _cpython.symbol("Py_IncRef")
        self.api[3] = backend.feature_bits
        self.api[4] = _cpython.symbol("PyErr_SetString")
        self.api[5] = _cpython.data_pointer("PyExc_ValueError")
        self._write = lib.probe_stack_write
        self._write.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p]
        self._write.restype = None
        self._scan = lib.probe_stack_scan
        self._scan.argtypes = [ctypes.c_uint64] * 3
        self._scan.restype = ctypes.c_uint64
        self._mem_scan = lib.probe_mem_scan
        self._mem_scan.argtypes = [ctypes.c_uint64] * 3
        self._mem_scan.restype = ctypes.c_uint64
        self._sp = lib.probe_stack_pointer
        self._sp.restype = ctypes.c_uint64
        self._spill = lib.probe_call_and_spill
        self._spill.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p]
        self._spill.restype = ctypes.c_void_p
        self.regs_fill: Callable[..., Any] = _cpython.MethodDef(
            "probe_regs_fill", ctypes.cast(lib.probe_regs_fill, ctypes.c_void_p).value or 0,
            _cpython.METH_NOARGS).bind()
        self.regs_fill_signal: Callable[..., Any] = _cpython.MethodDef(
            "probe_regs_fill_signal", ctypes.cast(lib.probe_regs_fill_signal, ctypes.c_void_p).value or 0,
            _cpython.METH_NOARGS).bind()
        self.regs_fill_raise: Callable[..., Any] = _cpython.MethodDef(
            "probe_regs_fill_raise", ctypes.cast(lib.probe_regs_fill_raise, ctypes.c_void_p).value or 0,
            _cpython.METH_NOARGS).bind()
        #: builtins using N bytes of stack, as in the seed benchmark: {N: callable}
        self.use_stack: Dict[int, Callable[..., Any]] = {
            size: _cpython.MethodDef(f"use_stack_{label}",
                                     ctypes.cast(getattr(lib, f"probe_use_stack_{label}"), ctypes.c_void_p).value or 0,
                                     _cpython.METH_NOARGS).bind()
            for size, label in ((1024, "1k"), (4096, "4k"), (16384, "16k"), (65536, "64k"), (1 << 20, "1m"))
        }

    # ---- stack -----------------------------------------------------------
    def stack_writer(self, depth: int, stride: int, tag: int) -> Tuple[Callable[[], None], Callable[[], Tuple[int, int]]]:
        """(write, written): write() plants the sentinel `depth` bytes deep below its own frame,
        every `stride` bytes (stride > 4096 leaves untouched pages); written() -> (low, high)."""
        out = (ctypes.c_uint64 * 2)()
        value = masked(tag)

        def write() -> None:
            self._write(depth, stride, value, ctypes.addressof(out))

        return write, lambda: (out[0], out[1])

    def count(self, low: int, high: int, tag: int) -> int:
        """8-byte words equal to the sentinel in [low, high) (addresses that are mapped)."""
        return int(self._scan(low, high, masked(tag)))

    def count_any_offset(self, low: int, high: int, masked_word: int) -> int:
        """Occurrences of the 8-byte word (given XOR-masked, see masked()) at any byte offset."""
        return int(self._mem_scan(low, high, masked_word))

    def stack_pointer(self) -> int:
        return int(self._sp())

    # ---- registers ---------------------------------------------------------
    def spill_after(self, function: int, obj: Any, tag: int) -> RegisterSpill:
        """Call function(obj, NULL, 0, NULL) and capture every register the moment it returns.

        obj is called with the sentinel loaded into every register (probe_regs_fill)."""
        self.api[2] = masked(tag)
        if self.backend.arch == "aarch64":
            return self._spill_aarch64(function, obj)
        raw = (ctypes.c_uint8 * SPILL_BYTES)()
        base = ctypes.addressof(raw)
        pad = (-(base + 128)) % 64               # XSAVE image must be 64-byte aligned
        start = base + pad
        try:
            result = self._spill(function, obj, start)
        except ValueError:  # obj raised on purpose (probe_regs_fill_raise); PyDLL re-raises it
            result = None
        if result:
            ctypes.pythonapi.Py_DecRef(ctypes.c_void_p(result))
        data = bytes(raw)[pad: pad + 128 + 4096]
        mxcsr = int.from_bytes(data[_XSAVE + 24: _XSAVE + 28], "little")
        return RegisterSpill(_x86_registers(data), mxcsr)

    def _spill_aarch64(self, function: int, obj: Any) -> RegisterSpill:
        raw = (ctypes.c_uint8 * SPILL_BYTES_AARCH64)()
        base = ctypes.addressof(raw)
        pad = (-base) % 16                       # stp q / str z need no more than this
        try:
            result = self._spill(function, obj, base + pad)
        except ValueError:  # obj raised on purpose (probe_regs_fill_raise); PyDLL re-raises it
            result = None
        if result:
            ctypes.pythonapi.Py_DecRef(ctypes.c_void_p(result))
        registers, status = _aarch64_registers(bytes(raw)[pad: pad + SPILL_BYTES_AARCH64 - 16])
        return RegisterSpill(registers, 0, arch="aarch64", **status)

    def fill_address(self, raising: bool = False) -> int:
        """Address of probe_regs_fill (or _raise): calling it directly through spill_after is
        a control with no code at all between the fill and the spill."""
        fn = self.lib.probe_regs_fill_raise if raising else self.lib.probe_regs_fill
        return ctypes.cast(fn, ctypes.c_void_p).value or 0

    def signal_setup(self, tag: int, signo: int, spin: int = 0) -> None:
        """Arm regs_fill_signal: sentinel `tag`, raise `signo` on the calling thread, then spin."""
        self.api[2] = masked(tag)
        self.api[6] = signo
        self.api[7] = spin

    def plain_vectorcall(self) -> int:
        """Address of a plain vectorcall (the control: same call, no scope)."""
        if _cpython.has_symbol("PyObject_Vectorcall"):
            return _cpython.symbol("PyObject_Vectorcall")
        return self.backend.addresses["ss_vectorcall_compat"]
