"""wipe(obj): zero a mutable buffer in place (bytearray, memoryview, array, ctypes, mmap, SecretBuffer)."""
from __future__ import annotations

import ctypes
import sys
from typing import Any, Callable, cast

from ._secretbuffer import SecretBuffer, wipe_secretbuffer


def _zero_contiguous(view: memoryview) -> None:
    arr = (ctypes.c_char * view.nbytes).from_buffer(view)
    try:
        ctypes.memset(arr, 0, view.nbytes)
    finally:
        del arr  # it holds an export of view


def _cast_to_format(view: memoryview, fmt: str) -> memoryview:
    """view.cast(fmt) for any struct format (typeshed's overloads name only the common ones)."""
    cast_any = cast(Callable[[str], memoryview], view.cast)
    return cast_any(fmt)


def _zero_bytearray_spare(obj: bytearray) -> None:
    """Also zero a bytearray's spare capacity and the bytes before its logical start (CPython):
    what earlier contents left there (ob_bytes .. ob_bytes + ob_alloc)."""
    if sys.implementation.name != "cpython":
        return
    try:
        from ._bytearray_storage import OB_ALLOC, OB_BYTES
    except Exception:  # no ctypes.pythonapi here: nothing more to do
        return
    start = ctypes.c_void_p.from_address(id(obj) + OB_BYTES).value
    alloc = ctypes.c_ssize_t.from_address(id(obj) + OB_ALLOC).value
    if start and alloc > 0:
        ctypes.memset(start, 0, alloc)


def wipe(obj: Any) -> None:
    """Overwrite every byte of obj with zero, in place.

    Accepts any writable buffer: bytearray (with its spare capacity), a writable memoryview,
    array.array, ctypes arrays and structures, mmap, SecretBuffer (which stays open).  bytes
    and str are immutable and cannot be wiped: TypeError.  Copies made earlier (slices,
    bytes(...), a bytearray's previous allocations) are not reached.
    """
    if isinstance(obj, SecretBuffer):
        wipe_secretbuffer(obj)
        return
    if isinstance(obj, (bytes, str)):
        raise TypeError(f"wipe() cannot erase {type(obj).__name__}: it is immutable (keep secrets in a "
                        f"bytearray or a SecretBuffer)")
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(f"wipe() needs a writable buffer, not {type(obj).__name__}") from None
    with view:
        if view.readonly:
            raise TypeError(f"wipe() needs a writable buffer; this {type(obj).__name__} is read-only")
        if view.nbytes:
            if view.c_contiguous:
                _zero_contiguous(view)
            elif view.ndim == 1:
                with memoryview(bytes(view.nbytes)) as zeros, _cast_to_format(zeros, view.format) as typed:
                    view[:] = typed
            else:
                raise TypeError("wipe(): a non-contiguous multi-dimensional view is not supported")
    if isinstance(obj, bytearray):
        _zero_bytearray_spare(obj)
