"""The native backend: loads the assembly for this architecture and wires it to CPython."""
from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from . import _cpython
from ._call_results import install_call_hooks
from ._errors import SUSPEND_MESSAGE, WITH_MESSAGE, NativeLoadError
from ._freelists import FreeLists
from ._greenlets import GreenletScopes
from ._heap import HeapZeroing
from ._inherit import in_force as inheritance_in_force
from ._interface import ABI_VERSION as ABI_VERSION  # re-exported: the old names stay importable from here
from ._interface import CAP_HEAP as CAP_HEAP
from ._interface import CAP_SIGNAL_STACKS as CAP_SIGNAL_STACKS
from ._interface import API_NAMES, ARCHES, OBJECT_LAYOUT, feature_names
from ._limits import known_limits
from ._loader import library_path, load_verified
from ._native_heap import NativeHeapZeroing
from ._platform import native_arch, platform_tag
from ._protection import Protection
from ._threads import StackRegistry

# The values shared with the assembly live in _interface.py (asm/build.py generates each
# architecture's interface.inc from it).

# ss_features bits NativeBackend.features() reports, per architecture (FEAT_* in interface.inc)
_FEATURE_NAMES: Dict[str, Tuple[Tuple[int, str], ...]] = {arch: feature_names(arch) for arch in ARCHES}

# index of each entry of ss_api (API_* / 8 in interface.inc)
_API_SLOTS = API_NAMES


# C-API functions the backend hands to the assembly or calls through ctypes.  Checked before
# anything is installed, so that an interpreter lacking one (a future CPython that drops or
# renames it) falls back with the name in the reason instead of failing half-way.
# PyObject_Vectorcall and _PyStack_AsDict are optional (the assembly has replacements).
_REQUIRED_API = ("PyObject_CallNoArgs", "PyBool_FromLong", "PyErr_SetString", "Py_IncRef", "Py_DecRef",
                 "PyEval_GetFrame", "PyObject_VectorcallDict", "PyVectorcall_Call", "PyCFunction_NewEx",
                 "PyType_FromSpec", "PyType_GenericAlloc", "PyMem_GetAllocator", "PyMem_SetAllocator",
                 "PyMethod_New", "PyObject_GC_UnTrack", "PyObject_ClearWeakRefs", "PyObject_GC_Del",
                 "PyObject_GenericGetDict", "PyObject_GenericSetDict", "PyType_GenericNew", "PyFrame_GetBack",
                 "PyFrame_GetCode")

# Exported symbols the Python side binds unconditionally (asm/<arch>/exports.map).
_REQUIRED_EXPORTS = ("ss_api", "ss_abi_version", "ss_features", "ss_init", "ss_register_thread",
                     "ss_forget_thread", "ss_reset_after_fork", "ss_thread_depth", "ss_call", "ss_do_checked",
                     "ss_do_step", "ss_enabled_exact", "ss_object_layout", "ss_object_call", "ss_object_get",
                     "ss_object_traverse", "ss_object_clear", "ss_object_dealloc", "ss_scope_enter",
                     "ss_scope_exit_unbound", "ss_exit_get", "ss_exit_dealloc", "ss_scope_new", "ss_block_types",
                     "ss_call_hooks", "ss_greenlet_entry", "ss_vectorcall_compat")

AT_HWCAP, AT_HWCAP2 = 16, 26


def auxv_hwcaps() -> Tuple[int, int]:
    """(AT_HWCAP, AT_HWCAP2) from the auxiliary vector: how AArch64 learns of SVE/SME."""
    try:
        data = Path("/proc/self/auxv").read_bytes()
    except OSError:
        return 0, 0
    entries = dict(struct.iter_unpack("<QQ", data[: len(data) // 16 * 16]))
    return entries.get(AT_HWCAP, 0), entries.get(AT_HWCAP2, 0)


def glibc_rseq_offset() -> Optional[int]:
    """glibc's __rseq_offset when glibc registers an rseq area for each thread, else None.

    glibc 2.35+ exports __rseq_size (0 when registration is disabled or failed) and
    __rseq_offset (from the thread pointer).  Other C libraries have neither."""
    try:
        libc = ctypes.CDLL(None)
        size = ctypes.c_uint.in_dll(libc, "__rseq_size").value
        offset = ctypes.c_ssize_t.in_dll(libc, "__rseq_offset").value
    except (OSError, ValueError):
        return None
    return offset if size >= 20 else None  # 20: cpu_id_start, cpu_id, rseq_cs, flags


def check_exports(lib: ctypes.CDLL, path: Path) -> None:
    """Every symbol the Python side binds must be there, before any of them is used."""
    missing = [name for name in _REQUIRED_EXPORTS if not hasattr(lib, name)]
    if missing:
        raise NativeLoadError(f"{path.name} lacks the symbols {', '.join(missing)}")


def _function_repr(self: Any) -> str:
    name = getattr(self, "__qualname__", None) or repr(self.__wrapped__)
    return f"<secret function {name} at {id(self):#x}>"


def _function_reduce(self: Any) -> str:
    # Like a function: pickled by reference (module and qualified name), copied as itself.
    name = getattr(self, "__qualname__", None)
    if name is None:
        raise TypeError(f"cannot pickle a secret function wrapping {self.__wrapped__!r}: it has no __qualname__")
    return name  # type: ignore[no-any-return]


def _function_getattr(self: Any, name: str) -> Any:
    # Only reached when normal lookup fails.  functools.update_wrapper copies __annotations__
    # before 3.14; from 3.14 (PEP 649) it copies only __annotate__, and a function's
    # __annotations__ are evaluated when asked: so are these, from the wrapped function.
    if name == "__annotations__":
        return self.__wrapped__.__annotations__
    raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class NativeBackend:
    """Scopes erased by the assembly in secretscope/_lib."""

    name = "native"

    def __init__(self) -> None:
        self.arch = self._check_interpreter()
        self.lib = self._load()
        self._init_features()
        self._bind_thread_routines()
        self._init_heap()
        self.registry = StackRegistry(self.lib.ss_register_thread, self.lib.ss_forget_thread,
                                      self.lib.ss_reset_after_fork, on_register=self._first_scope_of_thread)
        self._fill_api()
        self._make_function_type()
        self._make_calls()
        self._make_block_types()
        self.addresses = {name: self._routine(name) for name in ("ss_call", "ss_vectorcall_compat")}

    @staticmethod
    def _check_interpreter() -> str:
        """This machine's architecture, once the interpreter is known to export every C-API
        function the backend uses."""
        arch = native_arch()
        assert arch is not None
        missing = [name for name in _REQUIRED_API if not _cpython.has_symbol(name)]
        if missing:
            raise NativeLoadError(f"this interpreter does not export the C-API functions {', '.join(missing)}")
        return arch

    @staticmethod
    def _load() -> ctypes.CDLL:
        """The verified object, with every required export and this side's interface version."""
        lib = load_verified(library_path())
        check_exports(lib, library_path())
        abi = ctypes.c_uint64.in_dll(lib, "ss_abi_version").value
        if abi != ABI_VERSION:
            raise NativeLoadError(f"{library_path().name} has interface version {abi}, expected {ABI_VERSION}")
        return lib

    def _init_features(self) -> None:
        """ss_init (CPU/OS feature detection, the page size), then rseq where the assembly has it."""
        lib = self.lib
        lib.ss_init.restype = ctypes.c_uint64
        lib.ss_init.argtypes = [ctypes.c_uint64] * 3
        hwcap, hwcap2 = auxv_hwcaps()
        self.page_size = os.sysconf("SC_PAGE_SIZE")
        self.feature_bits = lib.ss_init(hwcap, hwcap2, self.page_size)
        # Signal detection without a system call (signals.S); only where the assembly has it.
        self.rseq_offset = glibc_rseq_offset() if hasattr(lib, "ss_rseq_setup") else None
        if self.rseq_offset is not None:
            lib.ss_rseq_setup.restype = None
            lib.ss_rseq_setup.argtypes = [ctypes.c_int64]
            lib.ss_rseq_setup(self.rseq_offset)

    def _bind_thread_routines(self) -> None:
        """ctypes signatures of the per-thread routines (threads.S, stack.S)."""
        lib = self.lib
        lib.ss_register_thread.restype = ctypes.c_uint64
        lib.ss_register_thread.argtypes = [ctypes.c_uint64] * 4
        lib.ss_forget_thread.restype = ctypes.c_int
        lib.ss_forget_thread.argtypes = [ctypes.c_uint64]
        lib.ss_reset_after_fork.restype = None
        lib.ss_thread_depth.restype = ctypes.c_uint64
        self._thread_scans = getattr(lib, "ss_thread_scans", None)  # stack.S's record statistics
        if self._thread_scans is not None:
            self._thread_scans.restype = ctypes.c_uint64
            self._thread_scans.argtypes = [ctypes.POINTER(ctypes.c_uint64)]

    def _init_heap(self) -> None:
        """What ss_capabilities says the object implements; the heap, native heap and free-list
        parts, installed later by the first scope of the process."""
        lib = self.lib
        caps = ctypes.c_uint64.in_dll(lib, "ss_capabilities").value if hasattr(lib, "ss_capabilities") else 0
        self.signal_stacks = bool(caps & CAP_SIGNAL_STACKS)
        self.heap = HeapZeroing(lib, implemented=bool(caps & CAP_HEAP))
        # native heap (issue 12): malloc & co. of every loaded object, wrapped at the first scope
        self.native_heap = NativeHeapZeroing(lib, self.arch,
                                             own_paths=(str(library_path()), str(library_path("probe"))))
        # The heap wrapper is installed lazily, by the first scope of the process (the first
        # thread registration), and re-checked by every later one.
        self.free_lists = FreeLists(lib, self.heap.available)  # located at the first scope too

    def _routine(self, name: str) -> int:
        """The address of the exported routine name."""
        return ctypes.cast(getattr(self.lib, name), ctypes.c_void_p).value or 0

    def _make_function_type(self) -> None:
        """What @secret returns: an object whose call enters ss_object_call (decorated.S)."""
        layout = (ctypes.c_uint64 * len(OBJECT_LAYOUT)).in_dll(self.lib, "ss_object_layout")
        for index, offset in enumerate(_cpython.object_layout()):
            layout[index] = offset
        self.function_type = _cpython.secret_function_type(
            "secretscope.secret_function", "A callable run inside a secret scope (see secretscope.secret).",
            self._routine)
        self.function_type.__repr__ = _function_repr  # type: ignore[assignment]
        self.function_type.__reduce__ = _function_reduce  # type: ignore[assignment]
        self.function_type.__getattr__ = _function_getattr  # type: ignore[attr-defined]
        self._object_call = self._routine("ss_object_call")

    def _make_calls(self) -> None:
        """do, a decorated generator's steps, enabled() and the greenlet hooks."""
        routine = self._routine
        call_flags = _cpython.METH_FASTCALL | _cpython.METH_KEYWORDS
        self.do: Callable[..., Any] = _cpython.MethodDef(
            "do", routine("ss_do_checked"), call_flags,
            "do(f, /, *args, **kwargs)\n--\n\nCall f(*args, **kwargs) inside a secret scope.").bind()
        self.do_step: Callable[..., Any] = _cpython.MethodDef(  # _suspendable.py's steps (decorated.S)
            "do", routine("ss_do_step"), call_flags, "One step of a decorated generator, in a scope.").bind()
        install_call_hooks(self.lib)  # decorated calls and do end through _call_results.py (decorated.S)
        self.enabled: Callable[[], bool] = _cpython.MethodDef(
            "enabled", routine("ss_enabled_exact"), _cpython.METH_NOARGS,  # per greenlet (greenlets.S)
            "enabled()\n--\n\nTrue while a secret scope is active on this thread.").bind()
        self.greenlets = GreenletScopes(self.lib)  # parks a switching greenlet's scopes (_greenlets.py)
        self.registry.on_registered.append(self.greenlets.thread_registered)

    def _make_block_types(self) -> None:
        """`with secret():` (block.S): one Scope object per block; its __enter__ and __exit__ are
        vectorcall objects.  __exit__ binds to a fresh exit object whose call goes from the
        block's frame straight into the assembly, so no CPython C frame sits between the
        block's frame and the erasure (a builtin would leave its helper's frame, with stale
        slots, there); the `with` looks it up before calling __enter__, which arms it."""
        routine = self._routine
        enter_edge = _cpython.vectorcall_type("secretscope.ScopeEnter", "Entry of a `with secret():` block.",
                                              descr_get=routine("ss_object_get"), method_descriptor=True)
        exit_edge = _cpython.vectorcall_type("secretscope.ScopeExitEdge", "Exit of a `with secret():` block.",
                                             descr_get=routine("ss_exit_get"))
        self.enter: Callable[[Any], None] = _cpython.vectorcall_object(enter_edge, routine("ss_scope_enter"))  # type: ignore[assignment]
        self.exit: Callable[..., bool] = _cpython.vectorcall_object(exit_edge, routine("ss_scope_exit_unbound"))  # type: ignore[assignment]
        self.scope_type: Optional[type] = _cpython.scope_type(
            "secretscope.Scope", "What secret() returns: a `with` block's scope, or a decorator.", routine)
        self.scope_type.__enter__ = self.enter  # type: ignore[attr-defined]
        self.scope_type.__exit__ = self.exit  # type: ignore[attr-defined]
        self._exit_type = _cpython.scope_exit_type(
            "secretscope.ScopeExit", "The exit of one `with secret():` block.", routine)
        block_types = (ctypes.c_void_p * 2).in_dll(self.lib, "ss_block_types")
        block_types[0], block_types[1] = id(self.scope_type), id(self._exit_type)
        # secret() with no argument: a builtin that allocates the Scope (no type call)
        self.new_scope: Callable[[], Any] = _cpython.MethodDef(
            "new_scope", routine("ss_scope_new"), _cpython.METH_NOARGS,
            "new_scope()\n--\n\nA new secret() scope.").bind()

    def _first_scope_of_thread(self) -> None:
        """Each thread's first scope (StackRegistry.register): install, or check, the heap wrappers
        and the free lists."""
        self.heap.ensure()
        self.free_lists.ensure()
        self.native_heap.ensure()

    def _fill_api(self) -> None:
        api = (ctypes.c_void_p * len(_API_SLOTS)).in_dll(self.lib, "ss_api")  # API_SIZE / 8
        self._suspend_message = ctypes.create_string_buffer(SUSPEND_MESSAGE.encode())  # kept alive
        self._with_message = ctypes.create_string_buffer(WITH_MESSAGE.encode())
        vectorcall = (_cpython.symbol("PyObject_Vectorcall") if _cpython.has_symbol("PyObject_Vectorcall")
                      else ctypes.cast(self.lib.ss_vectorcall_compat, ctypes.c_void_p).value)
        self._register_cb = self.registry.register  # kept alive: the table holds a borrowed pointer
        frames_311 = _cpython.has_symbol("PyFrame_GetGenerator")  # the 3.11+ frame API
        values = {
            "vectorcall": vectorcall,
            "call_noargs": _cpython.symbol("PyObject_CallNoArgs"),
            "bool_from_long": _cpython.symbol("PyBool_FromLong"),
            "err_set_string": _cpython.symbol("PyErr_SetString"),
            "exc_runtime": _cpython.data_pointer("PyExc_RuntimeError"),
            "exc_type": _cpython.data_pointer("PyExc_TypeError"),
            "register_cb": id(self._register_cb),
            "none": id(None),
            "incref": _cpython.symbol("Py_IncRef"),
            "vectorcall_dict": _cpython.symbol("PyObject_VectorcallDict"),
            "stack_as_dict": (_cpython.symbol("_PyStack_AsDict") if _cpython.has_symbol("_PyStack_AsDict") else 0),
            "decref": _cpython.symbol("Py_DecRef"),
            "method_new": _cpython.symbol("PyMethod_New"),
            "gc_untrack": _cpython.symbol("PyObject_GC_UnTrack"),
            "clear_weakrefs": _cpython.symbol("PyObject_ClearWeakRefs"),
            "gc_del": _cpython.symbol("PyObject_GC_Del"),
            "eval_get_frame": _cpython.symbol("PyEval_GetFrame"),
            # 3.11+: ss_scope_enter refuses a block in a generator/coroutine frame itself
            "frame_get_generator": (_cpython.symbol("PyFrame_GetGenerator")
                                    if _cpython.has_symbol("PyFrame_GetGenerator") else 0),
            "suspend_message": ctypes.addressof(self._suspend_message),
            "generic_alloc": _cpython.symbol("PyType_GenericAlloc"),
            # 3.10: a Python __enter__ (_scope.py) calls ss_scope_enter; the block's frame is its caller
            "frame_get_back": 0 if frames_311 else _cpython.symbol("PyFrame_GetBack"),
            "with_message": ctypes.addressof(self._with_message),
            # 3.11+: ss_scope_enter checks that a `with` statement calls it (block.S)
            "frame_get_lasti": _cpython.symbol("PyFrame_GetLasti") if frames_311 else 0,
            "frame_get_code": _cpython.symbol("PyFrame_GetCode"),
            "code_get_code": _cpython.symbol("PyCode_GetCode") if frames_311 else 0,
            "with_opcodes": _cpython.with_opcodes(),
        }
        self.enter_checks_suspension = bool(values["frame_get_generator"])
        for index, name in enumerate(_API_SLOTS):
            api[index] = values[name]

    def wrap(self, f: Callable[..., Any]) -> Callable[..., Any]:
        """An object that calls f inside a scope and binds like a function (decorated.S); the
        caller copies f's metadata onto it."""
        return _cpython.wrap_callable(self.function_type, self._object_call, f)  # type: ignore[no-any-return]

    def scan_counts(self) -> Optional[Tuple[int, int]]:
        """(scopes that scanned the stack with mincore, scopes that used the record instead) on the
        calling thread; None where the assembly keeps no such record (stack.S explains it)."""
        if self._thread_scans is None:
            return None
        recorded = ctypes.c_uint64()
        return int(self._thread_scans(ctypes.byref(recorded))), recorded.value

    def features(self) -> Tuple[str, ...]:
        return tuple(name for bit, name in _FEATURE_NAMES[self.arch] if self.feature_bits & bit)

    def depth(self) -> int:
        return int(self.lib.ss_thread_depth())

    def protection(self) -> Protection:
        if self.heap.installed:
            self.heap.ensure()  # notices a bypass (allocators swapped underneath the wrapper)
        if self.native_heap.installed:
            self.native_heap.ensure()  # patches objects loaded since the last check
        heap_note = self.heap.note()
        free_list_note = self.free_lists.note() if self.heap.available else None
        native_heap_note = self.native_heap.note()
        signal_note = (None if self.signal_stacks else
                       "signal stacks: frames on an alternate signal stack are not erased on this architecture yet")
        missing = [note for note in (heap_note, free_list_note, signal_note, native_heap_note) if note]
        return Protection(backend="native", platform=platform_tag(), registers=True, stack=True,
                          heap=self.heap.available and not self.heap.bypasses and free_list_note is None,
                          signal_stacks=self.signal_stacks,
                          reason="; ".join(missing) or None, features=self.features(),
                          inherit=inheritance_in_force(), native_heap=self.native_heap.covered,
                          limits=known_limits(self.native_heap, self.free_lists.limits()))
