"""ctypes glue to CPython: builtins whose C function is a routine of a shared object.

A `PyMethodDef` placed in ctypes memory and passed to `PyCFunction_NewEx`
gives a builtin whose call goes straight into the routine: no ctypes foreign
call on the way.  The `PyMethodDef` must outlive every builtin made from it,
so each `MethodDef` keeps its structure and strings alive for the process.
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, List

METH_VARARGS = 0x0001
METH_KEYWORDS = 0x0002
METH_NOARGS = 0x0004
METH_O = 0x0008
METH_FASTCALL = 0x0080


class _PyMethodDef(ctypes.Structure):
    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


_new_ex = ctypes.pythonapi.PyCFunction_NewEx
_new_ex.restype = ctypes.py_object
_new_ex.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]

_KEEP: List[Any] = []  # method definitions live as long as the process


class MethodDef:
    """One PyMethodDef for `address`; `bind(obj)` makes a builtin with self=obj."""

    def __init__(self, name: str, address: int, flags: int, doc: str = "") -> None:
        self._name = name.encode()
        self._doc = doc.encode() or None
        self._def = _PyMethodDef(self._name, address, flags, self._doc)
        _KEEP.append(self)

    def bind(self, obj: object = None) -> Callable[..., Any]:
        return _new_ex(ctypes.addressof(self._def), obj, None)  # type: ignore[no-any-return]


def symbol(name: str) -> int:
    """Address of a function exported by the running interpreter."""
    return ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value or 0


def has_symbol(name: str) -> bool:
    return hasattr(ctypes.pythonapi, name)


def data_pointer(name: str) -> int:
    """Value of a pointer variable exported by the interpreter (e.g. PyExc_TypeError)."""
    return ctypes.c_void_p.in_dll(ctypes.pythonapi, name).value or 0
