"""Checks on a shared object's bytes before it is loaded: its structure, and its load digest.

What the integrity check protects against is *corruption* — a truncated download, a damaged disk,
a partial upgrade, the wrong architecture's file — not tampering: whoever can rewrite the object
can rewrite the manifest next to it (docs/guarantees.md).  So the checks are:

- structure (`validate`), before anything is mapped: an ELF64 little-endian shared object for the
  expected machine, with the expected soname, whose loadable segments all lie inside the file (a
  truncated object would otherwise die with SIGBUS inside dlopen), that needs no other library and
  runs no initialisers (ours have none: a foreign object with a matching manifest entry is refused
  without running any of its code);
- content (`_loaddigest.load_digest`): SHA-256 over exactly what the dynamic loader maps — every PT_LOAD
  segment's file bytes, with its flags, address and sizes — leaving out the ELF header's
  section-header fields.  `strip` (Debian's dh_strip, Fedora's brp-strip, `strip --strip-all`)
  rewrites only non-loaded sections and those header fields, so a distribution-stripped object
  keeps its digest, while any change to code or data that would run changes it.
"""
from __future__ import annotations

import struct
from typing import Dict, Iterator, List, Tuple

from ._errors import NativeLoadError
from ._loaddigest import PT_LOAD, Segment, segments

PT_DYNAMIC = 2
ET_DYN = 3
DT_NULL, DT_NEEDED, DT_INIT, DT_FINI, DT_SONAME, DT_STRTAB = 0, 1, 12, 13, 14, 5
DT_INIT_ARRAY, DT_FINI_ARRAY, DT_PREINIT_ARRAY = 25, 26, 32
#: e_machine of each backend architecture
MACHINES: Dict[str, int] = {"x86_64": 62, "aarch64": 183}


def _dynamic(data: bytes, dyn: Segment) -> Iterator[Tuple[int, int]]:
    for off in range(dyn[2], dyn[2] + dyn[4] - 15, 16):
        tag, value = struct.unpack_from("<qQ", data, off)
        if tag == DT_NULL:
            return
        yield tag, value


def _file_offset(loads: List[Segment], vaddr: int) -> int:
    for _, _, offset, seg_vaddr, filesz, _ in loads:
        if seg_vaddr <= vaddr < seg_vaddr + filesz:
            return vaddr - seg_vaddr + offset
    raise NativeLoadError(f"address {vaddr:#x} is outside the object's loadable segments")


def validate(data: bytes, arch: str, soname: str) -> None:
    """Raise NativeLoadError (with what is wrong) unless `data` is a well-formed object of ours."""
    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise NativeLoadError("not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise NativeLoadError("not a 64-bit little-endian ELF object")
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    if e_type != ET_DYN:
        raise NativeLoadError(f"not a shared object (ELF type {e_type})")
    if e_machine != MACHINES.get(arch):
        raise NativeLoadError(f"built for ELF machine {e_machine}, not {arch}")
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    if phentsize != 56 or phnum == 0 or phoff + phnum * phentsize > len(data):
        raise NativeLoadError("its program headers are missing or truncated")
    table = list(segments(data))
    loads = [s for s in table if s[0] == PT_LOAD]
    if not loads or loads[0][2] != 0 or loads[0][4] < phoff + phnum * phentsize:
        raise NativeLoadError("its first loadable segment does not hold its headers")
    for _, _, offset, _, filesz, memsz in loads:
        if offset + filesz > len(data):
            raise NativeLoadError(f"truncated: a loadable segment ends at byte {offset + filesz}, "
                                  f"the file has {len(data)}")
        if filesz > memsz:
            raise NativeLoadError("a loadable segment is larger in the file than in memory")
    dynamics = [s for s in table if s[0] == PT_DYNAMIC]
    if len(dynamics) != 1:
        raise NativeLoadError("it has no dynamic section")
    entries = list(_dynamic(data, dynamics[0]))
    tags = {tag for tag, _ in entries}
    if DT_NEEDED in tags:
        raise NativeLoadError("it needs other libraries (ours link against nothing)")
    if tags & {DT_INIT, DT_FINI, DT_INIT_ARRAY, DT_FINI_ARRAY, DT_PREINIT_ARRAY}:
        raise NativeLoadError("it has initialisers or finalisers (ours have none)")
    values = dict(entries)
    if DT_SONAME not in values or DT_STRTAB not in values:
        raise NativeLoadError("it has no soname")
    start = _file_offset(loads, values[DT_STRTAB]) + values[DT_SONAME]
    end = data.find(b"\0", start)
    found = data[start:end].decode("ascii", "replace") if end >= 0 else ""
    if found != soname:
        raise NativeLoadError(f"its soname is {found!r}, not {soname!r}")
