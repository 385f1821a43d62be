"""The known limits of guarantees that hold: what `protection().limits` lists.

A guarantee of docs/guarantees.md can hold and still leave out something specific to this
interpreter version or to what this process has loaded.  Those exceptions are written in the
guarantees' "Not covered" section; the ones that depend on the version or on the process are
also named here, at run time, so that a program can see them without reading the docs:
`protection().limits` is empty when none applies.
"""
from __future__ import annotations

import platform
import sys
from typing import List, Optional, Protocol, Sequence, Tuple

WITH_EXIT_SLOT = ("stack: on CPython 3.11 (x86-64) the interpreter calls a `with secret():` block's exit through "
                  "PyObject_Vectorcall, whose frame keeps one 8-byte slot it never writes above the erased "
                  "region: 8 bytes the block's calls left at that depth can survive (decorate the function "
                  "or use do(): they have no such frame)")
FOREIGN_FAMILY = ("native heap: {n} object(s) bind malloc's family to an allocator other than the one "
                  "malloc_usable_size answers for: their freed blocks are zeroed up to the C library's "
                  "usable size only (best effort)")


class _NativeHeap(Protocol):
    @property
    def covered(self) -> bool: ...

    def foreign_objects(self) -> int: ...


def version_limits(version: Sequence[int], machine: str) -> Tuple[str, ...]:
    """The limits that depend on the interpreter's version (CPython's (major, minor)) and on the
    architecture (platform.machine()): 3.11's PyObject_Vectorcall has its dead slot in x86-64
    builds (push, push, sub $8: checked in pyenv's 3.11.7 and Debian's 3.11.2); Debian's arm64
    build saves four registers in its 32-byte frame and leaves no gap."""
    v = tuple(version[:2])
    out: List[str] = []
    if v == (3, 11) and machine == "x86_64":
        out.append(WITH_EXIT_SLOT)
    return tuple(out)


def known_limits(native_heap: Optional[_NativeHeap], others: Sequence[str] = ()) -> Tuple[str, ...]:
    """The limits that apply in this process now (the native backend's, on CPython); `others`:
    those the other parts found (the free lists')."""
    out = list(version_limits((sys.version_info[0], sys.version_info[1]), platform.machine()))
    out += others
    if native_heap is not None and native_heap.covered:
        n = native_heap.foreign_objects()
        if n:
            out.append(FOREIGN_FAMILY.format(n=n))
    return tuple(out)
