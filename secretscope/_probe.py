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


def sentinel(tag: int) -> int:
    """An 8-byte pattern, as Go's tests use: 'SECRET', an id byte, '!'."""
    return int.from_bytes(b"SECRET" + bytes([tag & 0xFF]) + b"!", "little")


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

    def holding(self, value: int) -> List[str]:
        """Registers holding the sentinel (any 8-byte lane; mask registers: its low 16 bits too)."""
        pattern = value.to_bytes(8, "little")
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
        self.api = (ctypes.c_void_p * 4).in_dll(lib, "probe_api")
        self.api[0] = id(None)
        self.api[1] = _cpython.symbol("Py_IncRef")
        self.api[3] = backend.feature_bits
        self._write = lib.probe_stack_write
        self._write.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p]
        self._write.restype = None
        self._scan = lib.probe_stack_scan
        self._scan.argtypes = [ctypes.c_uint64] * 3
        self._scan.restype = ctypes.c_uint64
        self._sp = lib.probe_stack_pointer
        self._sp.restype = ctypes.c_uint64
        self._spill = lib.probe_call_and_spill
        self._spill.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p]
        self._spill.restype = ctypes.c_void_p
        self.regs_fill = _cpython.MethodDef(
            "probe_regs_fill", ctypes.cast(lib.probe_regs_fill, ctypes.c_void_p).value or 0,
            _cpython.METH_NOARGS).bind()
        self._out = (ctypes.c_uint64 * 2)()

    # ---- stack -----------------------------------------------------------
    def stack_writer(self, depth: int, stride: int, tag: int) -> Tuple[Callable[[], None], Callable[[], Tuple[int, int]]]:
        """(write, written): write() plants the sentinel `depth` bytes deep below its own frame,
        every `stride` bytes (stride > 4096 leaves untouched pages); written() -> (low, high)."""
        out = (ctypes.c_uint64 * 2)()
        value = sentinel(tag)

        def write() -> None:
            self._write(depth, stride, value, ctypes.addressof(out))

        return write, lambda: (out[0], out[1])

    def count(self, low: int, high: int, tag: int) -> int:
        """8-byte words equal to the sentinel in [low, high) (addresses that are mapped)."""
        return int(self._scan(low, high, sentinel(tag)))

    def stack_pointer(self) -> int:
        return int(self._sp())

    # ---- registers ---------------------------------------------------------
    def spill_after(self, function: int, obj: Any, tag: int) -> RegisterSpill:
        """Call function(obj, NULL, 0, NULL) and capture every register the moment it returns.

        obj is called with the sentinel loaded into every register (probe_regs_fill)."""
        self.api[2] = sentinel(tag)
        raw = (ctypes.c_uint8 * SPILL_BYTES)()
        base = ctypes.addressof(raw)
        pad = (-(base + 128)) % 64               # XSAVE image must be 64-byte aligned
        start = base + pad
        result = self._spill(function, obj, start)
        if result:
            ctypes.pythonapi.Py_DecRef(ctypes.c_void_p(result))
        data = bytes(raw)[pad: pad + 128 + 4096]
        mxcsr = int.from_bytes(data[_XSAVE + 24: _XSAVE + 28], "little")
        return RegisterSpill(_x86_registers(data), mxcsr)

    def plain_vectorcall(self) -> int:
        """Address of a plain vectorcall (the control: same call, no scope)."""
        if _cpython.has_symbol("PyObject_Vectorcall"):
            return _cpython.symbol("PyObject_Vectorcall")
        return self.backend.addresses["ss_vectorcall_compat"]
