"""Scanning the process's own writable memory for a sentinel, without making copies of it.

Memory is read through /proc/self/mem (unmapped ranges just fail) into one reused buffer, and
the buffer is scanned by the probe with the sentinel passed XOR-masked: the real pattern never
exists in this module's own objects.
"""
from __future__ import annotations

import ctypes
import io
from typing import Iterator, List, Optional, Tuple

from .probe import Probe, masked, masked_bytes

CHUNK = 1 << 20
MASK_WORD = 0xA5A5A5A5A5A5A5A5


def writable_mappings() -> Iterator[Tuple[int, int]]:
    with open("/proc/self/maps") as f:
        rows = f.read().splitlines()
    for row in rows:
        parts = row.split()
        perms = parts[1]
        name = parts[5] if len(parts) > 5 else ""
        if perms.startswith("rw") and name not in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            yield lo, hi


class MemoryScanner:
    def __init__(self, probe: Probe) -> None:
        self.probe: Probe = probe
        self.buf: bytearray = bytearray(CHUNK + 8)
        self.view: memoryview = memoryview(self.buf)
        self.addr: int = ctypes.addressof((ctypes.c_char * len(self.buf)).from_buffer(self.buf))
        self.mem: io.FileIO = open("/proc/self/mem", "rb", buffering=0)

    def count(self, low: int, high: int, masked_word: int) -> int:
        """Occurrences of the word in [low, high) of this process (unreadable parts skipped)."""
        total = 0
        off = low
        while off < high:
            n = min(CHUNK + 7, high - off)  # 7 bytes of overlap: nothing straddles unseen
            try:
                self.mem.seek(off)
                got = self.mem.readinto(self.view[:n])
            except OSError:
                got = 0
            if got:
                total += self.probe.count_any_offset(self.addr, self.addr + got, masked_word)
            off += CHUNK
        return total

    def count_process(self, masked_word: int, mappings: Optional[List[Tuple[int, int]]] = None) -> int:
        """Occurrences in every writable mapping, this scanner's own buffer excepted.

        Pass `mappings` (list(writable_mappings())) read before freeing what is being looked for:
        parsing /proc/self/maps afterwards allocates strings that may reuse the freed blocks."""
        total = 0
        own = (self.addr, self.addr + len(self.buf))
        for lo, hi in (mappings if mappings is not None else list(writable_mappings())):
            if lo < own[1] and own[0] < hi:  # split around our buffer
                total += self.count(lo, own[0], masked_word) + self.count(own[1], hi, masked_word)
            else:
                total += self.count(lo, hi, masked_word)
        self.buf[:] = bytes(len(self.buf))
        return total


# ---- sentinels inside heap objects --------------------------------------------------------------

def bytes_sentinel_masked(tag: int) -> int:
    return masked(tag)


def make_bytes(tag: int, size: int) -> bytes:
    """Call inside the scope under test: the pattern exists only from here on."""
    pattern = bytes(b ^ 0xA5 for b in masked_bytes(tag))
    return pattern * max(1, size // 8)


def int_digit(tag: int) -> int:
    return (0x1EC2E7 << 8 | tag) & 0x3FFFFFFF  # a 30-bit CPython digit


def int_sentinel_masked(tag: int) -> int:
    """The 8-byte word two equal digits make in an int's memory, masked."""
    d = int_digit(tag) ^ 0xA5A5A5A5
    return d | (d << 32)


def make_int(tag: int, size: int) -> int:
    """An int whose every 30-bit digit is int_digit(tag); call inside the scope."""
    d = int_digit(tag)
    block = (d | d << 30 | d << 60 | d << 90).to_bytes(15, "little")  # 120 bits = 4 digits
    return int.from_bytes(block * max(1, size // 15), "little")
