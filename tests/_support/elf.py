"""A minimal ELF64 little-endian reader: enough to check the shared objects' properties."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

PT_LOAD, PT_DYNAMIC, PT_NOTE, PT_GNU_EH_FRAME, PT_GNU_STACK, PT_GNU_PROPERTY = 1, 2, 4, 0x6474E550, 0x6474E551, 0x6474E553
DT_NEEDED, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_TEXTREL, DT_GNU_HASH = 1, 5, 6, 10, 22, 0x6FFFFEF5
SHN_UNDEF = 0
STT_FUNC = 2


@dataclass
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int


@dataclass
class Symbol:
    name: str
    value: int
    size: int
    type: int
    shndx: int


class Elf:
    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        d = self.data
        assert d[:4] == b"\x7fELF" and d[4] == 2 and d[5] == 1, "not ELF64 little-endian"
        (self.type, self.machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, shstrndx) = \
            struct.unpack_from("<HHIQQQIHHHHHH", d, 16)
        self.segments = [Segment(*self._phdr(phoff + i * phentsize)) for i in range(phnum)]
        # section headers give the full symbol table (.dynsym is what we need)
        self.sections = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize) for i in range(shnum)]

    def _phdr(self, off: int) -> Tuple[int, int, int, int, int]:
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from("<IIQQQQQQ", self.data, off)
        return p_type, p_flags, p_offset, p_vaddr, p_filesz

    def segment(self, kind: int) -> List[Segment]:
        return [s for s in self.segments if s.type == kind]

    def file_offset(self, vaddr: int) -> int:
        for s in self.segment(PT_LOAD):
            if s.vaddr <= vaddr < s.vaddr + s.filesz:
                return vaddr - s.vaddr + s.offset
        raise ValueError(hex(vaddr))

    def dynamic(self) -> List[Tuple[int, int]]:
        (dyn,) = self.segment(PT_DYNAMIC)
        out = []
        for off in range(dyn.offset, dyn.offset + dyn.filesz, 16):
            tag, val = struct.unpack_from("<qQ", self.data, off)
            if tag == 0:
                break
            out.append((tag, val))
        return out

    def dynamic_symbols(self) -> List[Symbol]:
        SHT_DYNSYM = 11
        for name, sh_type, _, _, offset, size, link, _, _, entsize in self.sections:
            if sh_type == SHT_DYNSYM:
                strtab = self.sections[link]
                str_off = strtab[4]
                symbols = []
                for i in range(1, size // entsize):
                    st_name, st_info, _, st_shndx, st_value, st_size = struct.unpack_from(
                        "<IBBHQQ", self.data, offset + i * entsize)
                    end = self.data.index(b"\0", str_off + st_name)
                    symbols.append(Symbol(self.data[str_off + st_name:end].decode(), st_value, st_size,
                                          st_info & 0xF, st_shndx))
                return symbols
        return []

    def notes(self) -> List[Tuple[str, int, bytes]]:
        out = []
        for seg in self.segment(PT_NOTE):
            off, end = seg.offset, seg.offset + seg.filesz
            while off < end:
                namesz, descsz, ntype = struct.unpack_from("<III", self.data, off)
                name = self.data[off + 12: off + 12 + namesz].rstrip(b"\0").decode()
                desc_off = off + 12 + ((namesz + 3) & ~3)
                out.append((name, ntype, self.data[desc_off: desc_off + descsz]))
                align = 8 if ntype == 5 else 4  # NT_GNU_PROPERTY_TYPE_0 is 8-aligned on ELF64
                off = desc_off + ((descsz + align - 1) & ~(align - 1))
        return out

    def gnu_properties(self) -> Dict[int, int]:
        props = {}
        for name, ntype, desc in self.notes():
            if name == "GNU" and ntype == 5:
                off = 0
                while off + 8 <= len(desc):
                    pr_type, pr_datasz = struct.unpack_from("<II", desc, off)
                    if pr_datasz == 4:
                        props[pr_type] = struct.unpack_from("<I", desc, off + 8)[0]
                    off += 8 + ((pr_datasz + 7) & ~7)
        return props
