"""A bytearray whose storage is memory of our own: the base type of SecretBuffer (CPython).

`hmac.new` and others accept only `bytes`/`bytearray` instances, so a SecretBuffer must be a
bytearray.  bytearray's C code reaches its bytes through `ob_start` directly (never through
the buffer protocol), so pointing `ob_bytes`/`ob_start` at a locked mapping makes every
bytearray method work on that memory.  What keeps the storage from moving:

* `ob_exports` is raised by one for the object's whole life: every path that resizes or
  reallocates a bytearray (`PyByteArray_Resize`, slice deletion, `pop`, `take_bytes`,
  `__init__` of a non-empty one, ...) checks it first and raises BufferError, on every
  CPython from 3.10 to 3.15;
* the layout is the same on 3.10-3.14 (ob_alloc, ob_bytes, ob_start, ob_exports after the
  variable-size header); 3.15 appends `ob_bytes_object` (the bytes object that holds a plain
  bytearray's data), which stays the empty bytes bytearray's first `__init__` put there;
* the base type made here (PyType_FromSpecWithBases with bytearray as base) has two C slots
  in asm/<arch>/buffer/buffer.S: bf_getbuffer raises ValueError once the buffer is closed,
  and tp_dealloc empties the object (no exports, ob_bytes 0) before bytearray's dealloc, so
  that bytearray never frees our mapping with the allocator.

Two words follow the PyByteArrayObject: the data pointer (0 when closed) and the length.
"""
from __future__ import annotations

import ctypes
import sys
from typing import Any, List, Optional

from ._cpython import PyTypeSlot, PyTypeSpec, Py_TPFLAGS_DEFAULT, api_function, data_pointer, symbol
from ._errors import NativeLoadError
from ._loader import library_path, load_verified
from ._platform import free_threaded, native_arch, native_unavailable_reason

Py_bf_getbuffer, Py_tp_dealloc, Py_tp_doc = 1, 52, 56
Py_TPFLAGS_BASETYPE = 1 << 10

_HEADER = object.__basicsize__
#: byte offsets within a bytearray (Include/cpython/bytearrayobject.h, 3.10-3.15)
OB_TYPE = _HEADER - 8
OB_SIZE = _HEADER
OB_ALLOC = _HEADER + 8
OB_BYTES = _HEADER + 16
OB_START = _HEADER + 24
OB_EXPORTS = _HEADER + 32
#: after PyByteArrayObject (40 bytes after the header on 3.10-3.14, 48 on 3.15)
DATA = bytearray.__basicsize__
LENGTH = DATA + 8

_KEEP: List[Any] = []


class _PyTypeObjectHead(ctypes.Structure):
    # the start of PyTypeObject up to tp_as_buffer (Include/cpython/object.h, 3.10-3.15)
    _fields_ = [("ob_refcnt", ctypes.c_ssize_t), ("ob_type", ctypes.c_void_p), ("ob_size", ctypes.c_ssize_t),
                ("tp_name", ctypes.c_char_p), ("tp_basicsize", ctypes.c_ssize_t),
                ("tp_itemsize", ctypes.c_ssize_t), ("tp_dealloc", ctypes.c_void_p),
                ("tp_vectorcall_offset", ctypes.c_ssize_t), ("tp_getattr", ctypes.c_void_p),
                ("tp_setattr", ctypes.c_void_p), ("tp_as_async", ctypes.c_void_p),
                ("tp_repr", ctypes.c_void_p), ("tp_as_number", ctypes.c_void_p),
                ("tp_as_sequence", ctypes.c_void_p), ("tp_as_mapping", ctypes.c_void_p),
                ("tp_hash", ctypes.c_void_p), ("tp_call", ctypes.c_void_p), ("tp_str", ctypes.c_void_p),
                ("tp_getattro", ctypes.c_void_p), ("tp_setattro", ctypes.c_void_p),
                ("tp_as_buffer", ctypes.c_void_p)]


def unavailable_reason() -> Optional[str]:
    """Why a bytearray cannot get storage of its own here, or None."""
    reason = native_unavailable_reason()
    if reason:
        return reason
    if free_threaded():
        return "the free-threaded build's bytearray locks its storage per object: not supported"
    if not (3, 10) <= sys.version_info[:2] <= (3, 15):
        return f"bytearray's layout is verified for CPython 3.10-3.15, not {sys.version_info[0]}.{sys.version_info[1]}"
    expected = _HEADER + (48 if sys.version_info >= (3, 15) else 40)
    if bytearray.__basicsize__ != expected:
        return f"unexpected bytearray layout ({bytearray.__basicsize__} bytes, expected {expected})"
    return None


def _word(obj: object, offset: int) -> "ctypes.c_ssize_t":
    return ctypes.c_ssize_t.from_address(id(obj) + offset)


def make_base_type() -> type:
    """The C base type: a bytearray with buffer.S's bf_getbuffer and tp_dealloc."""
    reason = unavailable_reason()
    if reason:
        raise NativeLoadError(reason)
    lib = load_verified(library_path("buffer", native_arch()))
    api = (ctypes.c_void_p * 12).in_dll(lib, "buffer_api")
    head = _PyTypeObjectHead.from_address(id(bytearray))
    base_getbuffer = ctypes.c_void_p.from_address(head.tp_as_buffer).value  # PyBufferProcs.bf_getbuffer
    values = [symbol("PyErr_SetString"), data_pointer("PyExc_ValueError"), base_getbuffer, head.tp_dealloc,
              symbol("Py_DecRef"), DATA, LENGTH, OB_SIZE, OB_BYTES, OB_START, OB_EXPORTS, OB_TYPE]
    if not all(values[:5]):
        raise NativeLoadError("bytearray's slots or a C-API function could not be found")
    for i, value in enumerate(values):
        api[i] = value
    doc = ctypes.create_string_buffer(b"bytearray with storage of its own (SecretBuffer's base)")
    slots = (PyTypeSlot * 4)(
        PyTypeSlot(Py_bf_getbuffer, ctypes.cast(lib.buffer_getbuffer, ctypes.c_void_p).value),
        PyTypeSlot(Py_tp_dealloc, ctypes.cast(lib.buffer_dealloc, ctypes.c_void_p).value),
        PyTypeSlot(Py_tp_doc, ctypes.addressof(doc)),
        PyTypeSlot())
    name = b"secretscope._SecretBufferBase"
    spec = PyTypeSpec(name, LENGTH + 8, 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
                      ctypes.cast(slots, ctypes.POINTER(PyTypeSlot)))
    from_spec = api_function("PyType_FromSpecWithBases")
    from_spec.restype = ctypes.py_object
    from_spec.argtypes = [ctypes.POINTER(PyTypeSpec), ctypes.py_object]
    _KEEP.extend((lib, api, doc, slots, name, spec))
    kind: type = from_spec(ctypes.byref(spec), (bytearray,))
    return kind


class Attachment:
    """What a bytearray held before its storage was pointed at ours (restored on detach)."""

    __slots__ = ("bytes", "start", "alloc")

    def __init__(self, obj: bytearray) -> None:
        self.bytes = _word(obj, OB_BYTES).value
        self.start = _word(obj, OB_START).value
        self.alloc = _word(obj, OB_ALLOC).value


def attach(obj: bytearray, address: int, length: int) -> Attachment:
    """Point an empty, freshly initialised instance of the base type at [address, address+length).

    The byte at address+length must be readable and zero (bytearray keeps a NUL after its
    data): the memory module places a read-only zero page there."""
    if _word(obj, OB_SIZE).value != 0 or _word(obj, OB_EXPORTS).value != 0 or _word(obj, DATA).value != 0:
        raise RuntimeError("attach: the object is not a fresh, empty bytearray")
    before = Attachment(obj)
    _word(obj, OB_EXPORTS).value = 1          # never resized, never reallocated
    _word(obj, OB_BYTES).value = address
    _word(obj, OB_START).value = address
    _word(obj, OB_ALLOC).value = length + 1
    _word(obj, LENGTH).value = length
    _word(obj, DATA).value = address
    _word(obj, OB_SIZE).value = length
    return before


def exports(obj: bytearray) -> int:
    """Buffers of obj alive now, not counting the permanent one attach() took."""
    return _word(obj, OB_EXPORTS).value - 1


def detach(obj: bytearray, before: Attachment) -> None:
    """Make obj an empty bytearray again (its export pin stays: it can never grow)."""
    _word(obj, DATA).value = 0                # from now on, getbuffer raises ValueError
    _word(obj, OB_SIZE).value = 0
    _word(obj, LENGTH).value = 0
    _word(obj, OB_START).value = before.start
    _word(obj, OB_BYTES).value = before.bytes
    _word(obj, OB_ALLOC).value = before.alloc


def storage_address(obj: bytearray) -> int:
    """Where obj's bytes are (ob_start)."""
    return _word(obj, OB_START).value
