"""The load digest of a shared object: SHA-256 over exactly what the dynamic loader maps.

Every PT_LOAD segment's file bytes, with its flags, address and sizes, in program-header order;
the ELF header's section-header fields (e_shoff, e_shentsize, e_shnum, e_shstrndx), which the
loader never reads, count as zero.  `strip` in any of its forms (--strip-debug, --strip-unneeded,
--strip-all: what Debian's dh_strip and Fedora's brp-strip run) rewrites only sections outside the
loaded segments and those header fields, so it leaves the digest unchanged; any change to code or
data that would be mapped changes it.

No imports from the package: asm/build.py loads this file by path to write _lib/SHA256SUMS.
"""
from __future__ import annotations

import hashlib
import struct
from typing import Iterator, Tuple

PT_LOAD = 1
#: ELF64 header byte ranges that describe section headers only
SECTION_FIELDS = ((40, 48), (58, 64))

Segment = Tuple[int, int, int, int, int, int]  # type, flags, offset, vaddr, filesz, memsz


def segments(data: bytes) -> Iterator[Segment]:
    """The program headers of an ELF64 little-endian object (the caller checked the header)."""
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, flags, offset, vaddr, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        yield p_type, flags, offset, vaddr, filesz, memsz


def load_digest(data: bytes) -> str:
    """SHA-256 (hex) of what the dynamic loader maps from `data`; unchanged by strip."""
    digest = hashlib.sha256()
    for p_type, flags, offset, vaddr, filesz, memsz in segments(data):
        if p_type != PT_LOAD:
            continue
        segment = bytearray(data[offset:offset + filesz])
        if offset == 0:
            for lo, hi in SECTION_FIELDS:
                segment[lo:hi] = bytes(hi - lo)
        digest.update(struct.pack("<IQQQ", flags, vaddr, filesz, memsz))
        digest.update(segment)
    return digest.hexdigest()
