"""ctypes glue to CPython: builtins whose C function is a routine of a shared object.

A `PyMethodDef` placed in ctypes memory and passed to `PyCFunction_NewEx`
gives a builtin whose call goes straight into the routine: no ctypes foreign
call on the way.  The `PyMethodDef` must outlive every builtin made from it,
so each `MethodDef` keeps its structure and strings alive for the process.
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, List

from ._errors import NativeLoadError
from ._interface import SCOPE

# ctypes.pythonapi is the running CPython's own C-API; other implementations (PyPy, GraalPy)
# have no such object, or not all of these functions: importing this module there raises
# NativeLoadError, so the backend selection falls back instead of the import failing.
_PYTHONAPI: Any = getattr(ctypes, "pythonapi", None)


def api_function(name: str) -> Any:
    """The C-API function `name` of the running interpreter, as a ctypes function."""
    try:
        return getattr(_PYTHONAPI, name)
    except AttributeError:
        raise NativeLoadError(f"this interpreter does not export the C-API function {name}") from None


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


_new_ex = api_function("PyCFunction_NewEx")
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
    return ctypes.cast(api_function(name), ctypes.c_void_p).value or 0


def has_symbol(name: str) -> bool:
    return hasattr(_PYTHONAPI, name)


def data_pointer(name: str) -> int:
    """Value of a pointer variable exported by the interpreter (e.g. PyExc_TypeError)."""
    try:
        return ctypes.c_void_p.in_dll(_PYTHONAPI, name).value or 0
    except (ValueError, TypeError):
        raise NativeLoadError(f"this interpreter does not export the C-API variable {name}") from None


# ---- objects whose call goes straight into a routine (vectorcall) ---------------------------

# typeslots.h, structmember.h, object.h: stable across the supported CPython versions
Py_tp_call, Py_tp_clear, Py_tp_dealloc, Py_tp_descr_get, Py_tp_doc = 50, 51, 52, 54, 56
Py_tp_traverse, Py_tp_members, Py_tp_getset = 71, 72, 73
Py_tp_new = 65
T_PYSSIZET, READONLY = 19, 1
Py_TPFLAGS_HAVE_VECTORCALL = 1 << 11
Py_TPFLAGS_DEFAULT = 1 << 18  # Py_TPFLAGS_HAVE_VERSION_TAG
Py_TPFLAGS_IMMUTABLETYPE = 1 << 8
Py_TPFLAGS_DISALLOW_INSTANTIATION = 1 << 7
Py_TPFLAGS_HAVE_GC = 1 << 14
Py_TPFLAGS_METHOD_DESCRIPTOR = 1 << 17


class _PyMemberDef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int), ("offset", ctypes.c_ssize_t),
                ("flags", ctypes.c_int), ("doc", ctypes.c_char_p)]


class _PyGetSetDef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("get", ctypes.c_void_p), ("set", ctypes.c_void_p),
                ("doc", ctypes.c_char_p), ("closure", ctypes.c_void_p)]


class PyTypeSlot(ctypes.Structure):
    _fields_ = [("slot", ctypes.c_int), ("pfunc", ctypes.c_void_p)]


class PyTypeSpec(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("basicsize", ctypes.c_int), ("itemsize", ctypes.c_int),
                ("flags", ctypes.c_uint), ("slots", ctypes.POINTER(PyTypeSlot))]


_from_spec = api_function("PyType_FromSpec")
_from_spec.restype = ctypes.py_object
_from_spec.argtypes = [ctypes.POINTER(PyTypeSpec)]
_generic_alloc = api_function("PyType_GenericAlloc")
_generic_alloc.restype = ctypes.py_object
_generic_alloc.argtypes = [ctypes.py_object, ctypes.c_ssize_t]

_HEADER = object.__basicsize__  # PyObject header (larger on free-threaded builds)


def vectorcall_type(name: str, doc: str = "", descr_get: int = 0, method_descriptor: bool = False) -> type:
    """A heap type whose instances are called through a vectorcall pointer stored in them.

    Calling an instance goes from the interpreter's call site straight into the
    routine (no C frame of CPython in between).  Without `descr_get` the
    instances have no __get__, so as class attributes they do not bind; with
    it (the address of a tp_descr_get routine) they bind through it, and
    `method_descriptor` lets the interpreter call them with the instance
    prepended instead of binding (Py_TPFLAGS_METHOD_DESCRIPTOR).
    """
    members = (_PyMemberDef * 2)(
        _PyMemberDef(b"__vectorcalloffset__", T_PYSSIZET, _HEADER, READONLY, None), _PyMemberDef())
    doc_buf = ctypes.create_string_buffer(doc.encode())  # the type keeps a pointer to it
    slots = (PyTypeSlot * 5)(
        PyTypeSlot(Py_tp_call, symbol("PyVectorcall_Call")),
        PyTypeSlot(Py_tp_members, ctypes.addressof(members)),
        PyTypeSlot(Py_tp_doc, ctypes.addressof(doc_buf)),
        PyTypeSlot(Py_tp_descr_get, descr_get) if descr_get else PyTypeSlot(),
        PyTypeSlot())
    spec_name = name.encode()
    spec = PyTypeSpec(spec_name, _HEADER + 8, 0,
                      Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_IMMUTABLETYPE
                      | Py_TPFLAGS_DISALLOW_INSTANTIATION
                      | (Py_TPFLAGS_METHOD_DESCRIPTOR if method_descriptor else 0),
                      ctypes.cast(slots, ctypes.POINTER(PyTypeSlot)))
    _KEEP.extend((members, slots, spec, spec_name, doc_buf))
    return _from_spec(ctypes.byref(spec))  # type: ignore[no-any-return]


def vectorcall_object(kind: type, address: int) -> object:
    """An instance of a vectorcall_type whose calls enter the routine at `address`."""
    obj = _generic_alloc(kind, 0)
    ctypes.c_void_p.from_address(id(obj) + _HEADER).value = address
    _KEEP.append(obj)
    return obj


# ---- the object @secret returns: a function-like callable whose call enters the scope ----------

#: byte offsets within an instance (asm/<arch>/decorated.S: LAYOUT_*), after the object header:
#: vectorcall pointer, wrapped callable, __dict__, weak-reference list
OBJECT_VECTORCALL, OBJECT_F, OBJECT_DICT, OBJECT_WEAKLIST = (_HEADER + 8 * i for i in range(4))
OBJECT_TYPE = _HEADER - 8  # ob_type ends the header (default and free-threaded layouts)


def secret_function_type(name: str, doc: str, routines: Callable[[str], int]) -> type:
    """The type of the objects @secret returns (asm/<arch>/decorated.S holds its slots).

    Like a Python function it binds as a method (tp_descr_get, METHOD_DESCRIPTOR), has a
    __dict__ (functools.update_wrapper fills it) and weak references, and takes part in the
    garbage collector (it references the wrapped callable).  `routines(name)` is the address
    of a routine of the backend.  The type stays mutable so that Python can add __repr__ and
    __reduce__; instances are made by wrap_callable only.
    """
    members = (_PyMemberDef * 4)(
        _PyMemberDef(b"__vectorcalloffset__", T_PYSSIZET, OBJECT_VECTORCALL, READONLY, None),
        _PyMemberDef(b"__dictoffset__", T_PYSSIZET, OBJECT_DICT, READONLY, None),
        _PyMemberDef(b"__weaklistoffset__", T_PYSSIZET, OBJECT_WEAKLIST, READONLY, None),
        _PyMemberDef())
    getset = (_PyGetSetDef * 2)(
        _PyGetSetDef(b"__dict__", symbol("PyObject_GenericGetDict"), symbol("PyObject_GenericSetDict"), None, None),
        _PyGetSetDef())
    doc_buf = ctypes.create_string_buffer(doc.encode())
    slots = (PyTypeSlot * 10)(
        PyTypeSlot(Py_tp_call, symbol("PyVectorcall_Call")),
        PyTypeSlot(Py_tp_descr_get, routines("ss_object_get")),
        PyTypeSlot(Py_tp_traverse, routines("ss_object_traverse")),
        PyTypeSlot(Py_tp_clear, routines("ss_object_clear")),
        PyTypeSlot(Py_tp_dealloc, routines("ss_object_dealloc")),
        PyTypeSlot(Py_tp_members, ctypes.addressof(members)),
        PyTypeSlot(Py_tp_getset, ctypes.addressof(getset)),
        PyTypeSlot(Py_tp_doc, ctypes.addressof(doc_buf)),
        PyTypeSlot(), PyTypeSlot())
    spec_name = name.encode()
    spec = PyTypeSpec(spec_name, OBJECT_WEAKLIST + 8, 0,
                      Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_HAVE_GC
                      | Py_TPFLAGS_METHOD_DESCRIPTOR | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                      ctypes.cast(slots, ctypes.POINTER(PyTypeSlot)))
    _KEEP.extend((members, getset, slots, spec, spec_name, doc_buf))
    return _from_spec(ctypes.byref(spec))  # type: ignore[no-any-return]


_incref = api_function("Py_IncRef")
_incref.restype = None
_incref.argtypes = [ctypes.py_object]


def wrap_callable(kind: type, call_address: int, f: object) -> Any:
    """A new instance of a secret_function_type: calls enter `call_address` with f inside."""
    obj = _generic_alloc(kind, 0)  # zeroed, and tracked by the garbage collector
    base = id(obj)
    ctypes.c_void_p.from_address(base + OBJECT_VECTORCALL).value = call_address
    _incref(f)  # the object owns a reference (ss_object_clear releases it)
    ctypes.c_void_p.from_address(base + OBJECT_F).value = id(f)
    return obj


def object_layout() -> List[int]:
    """ss_object_layout's values (LAYOUT_* in common.inc): offsets of f, __dict__, the weak
    list, ob_type, a Scope's own fields and the vectorcall pointer."""
    return [OBJECT_F, OBJECT_DICT, OBJECT_WEAKLIST, OBJECT_TYPE, SCOPE_FIELDS, OBJECT_VECTORCALL]


# ---- `with secret():` blocks (asm/<arch>/block.S) -------------------------------------------

#: a Scope's fields (SCOPE_* in interface.inc, from _interface.SCOPE) follow the decorated-function layout; the exit
#: objects use that layout itself (vectorcall pointer, the Scope in place of f)
SCOPE_FIELDS = OBJECT_WEAKLIST + 8
SCOPE_FIELDS_SIZE = SCOPE.size


def _gc_type(name: str, doc: str, basicsize: int, flags: int, slots: List[Any]) -> type:
    doc_buf = ctypes.create_string_buffer(doc.encode())
    table = (PyTypeSlot * (len(slots) + 2))(*slots, PyTypeSlot(Py_tp_doc, ctypes.addressof(doc_buf)), PyTypeSlot())
    spec_name = name.encode()
    spec = PyTypeSpec(spec_name, basicsize, 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | flags,
                      ctypes.cast(table, ctypes.POINTER(PyTypeSlot)))
    _KEEP.extend((table, spec, spec_name, doc_buf))
    return _from_spec(ctypes.byref(spec))  # type: ignore[no-any-return]


def scope_type(name: str, doc: str, routines: Callable[[str], int]) -> type:
    """The type of what `secret()` returns: instantiable, one object per block; the caller adds
    __enter__/__exit__ (edge objects) and the Python methods.  While open it references the
    thread's enclosing block (in f's place), which the garbage collector sees."""
    return _gc_type(name, doc, SCOPE_FIELDS + SCOPE_FIELDS_SIZE, 0, [
        PyTypeSlot(Py_tp_new, symbol("PyType_GenericNew")),
        PyTypeSlot(Py_tp_traverse, routines("ss_object_traverse")),
        PyTypeSlot(Py_tp_clear, routines("ss_object_clear")),
        PyTypeSlot(Py_tp_dealloc, routines("ss_object_dealloc")),
    ])


def scope_exit_type(name: str, doc: str, routines: Callable[[str], int]) -> type:
    """The type of the objects `Scope.__exit__` binds to (ss_exit_get): called through their
    vectorcall pointer (ss_scope_exit), they hold a reference to their Scope.  No tp_clear: they
    are in no reference cycle (a Scope never references them)."""
    members = (_PyMemberDef * 2)(
        _PyMemberDef(b"__vectorcalloffset__", T_PYSSIZET, OBJECT_VECTORCALL, READONLY, None), _PyMemberDef())
    _KEEP.append(members)
    return _gc_type(name, doc, OBJECT_WEAKLIST + 8,
                    Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION, [
                        PyTypeSlot(Py_tp_call, symbol("PyVectorcall_Call")),
                        PyTypeSlot(Py_tp_members, ctypes.addressof(members)),
                        PyTypeSlot(Py_tp_traverse, routines("ss_object_traverse")),
                        PyTypeSlot(Py_tp_dealloc, routines("ss_exit_dealloc")),
                    ])


def with_opcodes() -> int:
    """API_WITH_OPCODES (asm/<arch>/common.inc): what the instruction of a frame whose `with`
    statement is calling __enter__ looks like in its code (co_code, as PyCode_GetCode returns it),
    for this interpreter: 3.11-3.13 execute BEFORE_WITH; 3.14+ CALL 0 right after
    LOAD_SPECIAL 0 (__enter__).  (3.10 checks SETUP_WITH in Python: _scope.py.)  0 where the
    interpreter has neither form: then every enter is refused, never silently accepted."""
    import dis
    opmap = dis.opmap
    sval = bytes.__basicsize__ - 1  # PyBytesObject: the header, ob_size, ob_shash, then ob_sval
    if "BEFORE_WITH" in opmap:
        return opmap["BEFORE_WITH"] | sval << 32
    if "LOAD_SPECIAL" in opmap and "CALL" in opmap:
        return opmap["CALL"] | opmap["LOAD_SPECIAL"] << 8 | 0 << 16 | sval << 32
    return 0
