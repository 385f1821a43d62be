"""The probe-alloc object (asm/<arch>/probe_alloc): a native library that allocates through its
own PLT/GOT, as C extensions do, seen through ctypes (test_native_heap.py and its children)."""
from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from secretscope._loader import LIB_DIR

# The sentinel's first byte is 0xF5, which never occurs in UTF-8: no text in the process can hold it.
# ("NATIVE" and the tag could: tag 34 is 'NATIVE"' and a NUL, the end of the bytes object holding
# the token text "SECRETSCOPE_REQUIRE_NATIVE" (quotes included) that compiling test_backend_selection.py
# leaves in freed pymalloc memory: the "copy" the scoped aligned_alloc/large case, tag 34, used to find.)
_MASKED_PREFIX = int.from_bytes(bytes(b ^ 0xA5 for b in bytes([0xF5]) + b"NATIV"), "little")  # never unmasked


def masked(n: int) -> int:
    """The native-heap tests' sentinels: 0xF5 "NATIV" and a 16-bit number, XOR-masked (as pa_fill takes
    them), so they never collide with the tagged sentinels of the other residue tests, nor with text."""
    return _MASKED_PREFIX | ((n & 0xFFFF) ^ 0xA5A5) << 48


def signature(fn: Any, restype: Any, *argtypes: Any) -> Any:
    """fn (a ctypes foreign function) with its result and argument types set."""
    fn.restype, fn.argtypes = restype, list(argtypes)
    return fn


class Alloc:
    """ctypes view of the probe-alloc object (or a copy of it, loaded as another library)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lib = self.lib = ctypes.CDLL(str(path))
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        self.malloc = signature(lib.pa_malloc, vp, sz)
        self.malloc_got = signature(lib.pa_malloc_got, vp, sz)
        self.calloc = signature(lib.pa_calloc, vp, sz, sz)
        self.realloc = signature(lib.pa_realloc, vp, vp, sz)
        self.reallocarray = signature(lib.pa_reallocarray, vp, vp, sz, sz)
        self.posix_memalign = signature(lib.pa_posix_memalign, ctypes.c_int, ctypes.POINTER(vp), sz, sz)
        self.aligned_alloc = signature(lib.pa_aligned_alloc, vp, sz, sz)
        self.memalign = signature(lib.pa_memalign, vp, sz, sz)
        self.valloc = signature(lib.pa_valloc, vp, sz)
        self.pvalloc = signature(lib.pa_pvalloc, vp, sz)
        self.free = signature(lib.pa_free, None, vp)
        self.free_got = signature(lib.pa_free_got, None, vp)
        self.fill = signature(lib.pa_fill, None, vp, sz, ctypes.c_uint64)

    def allocate(self, how: str, size: int) -> int:
        if how == "malloc":
            return self.malloc(size)
        if how == "malloc_got":
            return self.malloc_got(size)
        if how == "calloc":
            return self.calloc(size // 8, 8)
        if how == "realloc_grown":
            p = self.realloc(None, 16)
            return self.realloc(p, size)
        if how == "reallocarray":
            return self.reallocarray(None, size // 8, 8)
        if how == "posix_memalign":
            out = ctypes.c_void_p()
            assert self.posix_memalign(ctypes.byref(out), 64, size) == 0
            return out.value
        if how == "aligned_alloc":
            return self.aligned_alloc(64, size)
        if how == "memalign":
            return self.memalign(256, size)
        if how == "valloc":
            return self.valloc(size)
        if how == "pvalloc":
            return self.pvalloc(size)
        raise ValueError(how)


KINDS = ["malloc", "malloc_got", "calloc", "realloc_grown", "reallocarray", "posix_memalign",
         "aligned_alloc", "memalign", "valloc", "pvalloc"]


def probe_alloc_path(arch: str) -> Path:
    return LIB_DIR / f"libsecretscope_probe_alloc_{arch}.so"
