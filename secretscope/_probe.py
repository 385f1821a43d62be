"""Residue probes: plant a known sentinel in the stack and registers, then look for it.

Backed by libsecretscope-probe-<arch>.so, a diagnostic object separate from
the protecting code.  Used by `python -m secretscope` and by the test suite.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

from . import _cpython
from ._native import NativeBackend, library_path, load_verified

SPILL_BYTES = 128 + 4096 + 64


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


@dataclass(frozen=True)
class RegisterSpill:
    registers: Dict[str, bytes]
    mxcsr: int

    def holding(self, pattern: bytes) -> List[str]:
        """Registers holding the sentinel (any 8-byte lane; mask registers: its low 16 bits too)."""
        found = []
        for name, data in self.registers.items():
            lanes = [data[i:i + 8] for i in range(0, len(data) - 7, 8)]
            if pattern in lanes or (name.startswith("k") and data[:2] == pattern[:2] and any(data[:2])):
                found.append(name)
        return found

    @property
    def mxcsr_flags(self) -> int:
        return self.mxcsr & 0x3F


class Probe:
    def __init__(self, backend: NativeBackend) -> None:
        self.backend = backend
        lib = self.lib = load_verified(library_path("probe", backend.arch), ctypes.PyDLL)
        self.api = (ctypes.c_void_p * 8).in_dll(lib, "probe_api")
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
        self.regs_fill = _cpython.MethodDef(
            "probe_regs_fill", ctypes.cast(lib.probe_regs_fill, ctypes.c_void_p).value or 0,
            _cpython.METH_NOARGS).bind()
        self.regs_fill_signal = _cpython.MethodDef(
            "probe_regs_fill_signal", ctypes.cast(lib.probe_regs_fill_signal, ctypes.c_void_p).value or 0,
            _cpython.METH_NOARGS).bind()
        self.regs_fill_raise = _cpython.MethodDef(
            "probe_regs_fill_raise", ctypes.cast(lib.probe_regs_fill_raise, ctypes.c_void_p).value or 0,
            _cpython.METH_NOARGS).bind()
        #: builtins using N bytes of stack, as in the seed benchmark: {N: callable}
        self.use_stack = {
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
