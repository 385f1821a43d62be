"""The native backend: loads the assembly for this architecture and wires it to CPython."""
from __future__ import annotations

import ctypes
import hashlib
import os
import struct
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from . import _cpython
from ._errors import SUSPEND_MESSAGE, NativeLoadError
from ._heap import HeapZeroing
from ._native_heap import NativeHeapZeroing
from ._platform import native_arch, platform_tag
from ._protection import Protection
from ._threads import StackRegistry

ABI_VERSION = 2
LIB_DIR = Path(__file__).resolve().parent / "_lib"

# ss_features bits (asm/x86_64/common.inc, asm/aarch64/common.inc)
_FEATURE_NAMES: Dict[str, Tuple[Tuple[int, str], ...]] = {
    "x86_64": ((1, "xsave"), (2, "avx"), (4, "avx512"), (8, "amx")),
    "aarch64": ((1, "fp-simd"), (2, "sve"), (4, "sme")),
}

# index of each entry of ss_api (API_* / 8 in common.inc)
_API_SLOTS = (
    "vectorcall", "call_noargs", "bool_from_long", "err_set_string", "exc_runtime",
    "exc_type", "register_cb", "none", "incref", "vectorcall_dict", "stack_as_dict", "decref",
    "method_new", "gc_untrack", "clear_weakrefs", "gc_del",
    "eval_get_frame", "frame_get_generator", "suspend_message",
)


# C-API functions the backend hands to the assembly or calls through ctypes.  Checked before
# anything is installed, so that an interpreter lacking one (a future CPython that drops or
# renames it) falls back with the name in the reason instead of failing half-way.
# PyObject_Vectorcall and _PyStack_AsDict are optional (the assembly has replacements).
_REQUIRED_API = ("PyObject_CallNoArgs", "PyBool_FromLong", "PyErr_SetString", "Py_IncRef", "Py_DecRef",
                 "PyEval_GetFrame", "PyObject_VectorcallDict", "PyVectorcall_Call", "PyCFunction_NewEx",
                 "PyType_FromSpec", "PyType_GenericAlloc", "PyMem_GetAllocator", "PyMem_SetAllocator",
                 "PyMethod_New", "PyObject_GC_UnTrack", "PyObject_ClearWeakRefs", "PyObject_GC_Del",
                 "PyObject_GenericGetDict", "PyObject_GenericSetDict")

AT_HWCAP, AT_HWCAP2 = 16, 26
CAP_HEAP, CAP_SIGNAL_STACKS = 1, 2  # ss_capabilities bits (asm/<arch>/common.inc)


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


def library_path(kind: str = "", arch: Optional[str] = None) -> Path:
    """Path of the shared object: kind "" is the backend, "probe" the diagnostic helpers."""
    arch = arch or native_arch() or "unknown"
    middle = f"-{kind}" if kind else ""
    return LIB_DIR / f"libsecretscope{middle}-{arch}.so"


def read_manifest() -> Dict[str, str]:
    """file name -> sha256 of every shared object as built from asm/ (asm/build.py writes it)."""
    manifest = LIB_DIR / "SHA256SUMS"
    try:
        lines = manifest.read_text().splitlines()
    except OSError as exc:
        raise NativeLoadError(f"{manifest} is missing: the package is incomplete ({exc})") from None
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def load_verified(path: Path, loader: type = ctypes.CDLL) -> ctypes.CDLL:
    """dlopen `path` after checking it is the file the build produced (sha256 in SHA256SUMS).

    loader=ctypes.PyDLL keeps the GIL held during foreign calls (needed when the
    routine calls back into CPython)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NativeLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    expected = read_manifest().get(path.name)
    if expected is None:
        raise NativeLoadError(f"{path.name} is not listed in {LIB_DIR / 'SHA256SUMS'}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise NativeLoadError(f"{path} is corrupt: sha256 {actual[:16]}..., expected {expected[:16]}...")
    try:
        return loader(str(path))  # type: ignore[no-any-return]
    except OSError as exc:
        raise NativeLoadError(f"cannot load {path}: {exc}") from None


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
        arch = native_arch()
        assert arch is not None
        missing = [name for name in _REQUIRED_API if not _cpython.has_symbol(name)]
        if missing:
            raise NativeLoadError(f"this interpreter does not export the C-API functions {', '.join(missing)}")
        self.arch = arch
        self.lib = lib = load_verified(library_path())
        abi = ctypes.c_uint64.in_dll(lib, "ss_abi_version").value
        if abi != ABI_VERSION:
            raise NativeLoadError(f"{library_path().name} has interface version {abi}, expected {ABI_VERSION}")

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
        caps = ctypes.c_uint64.in_dll(lib, "ss_capabilities").value if hasattr(lib, "ss_capabilities") else 0
        self.signal_stacks = bool(caps & CAP_SIGNAL_STACKS)
        self.heap = HeapZeroing(lib, implemented=bool(caps & CAP_HEAP))
        # native heap (issue 12): malloc & co. of every loaded object, wrapped at the first scope
        self.native_heap = NativeHeapZeroing(lib, arch, own_paths=(str(library_path()), str(library_path("probe"))))
        # The heap wrapper is installed lazily, by the first scope of the process (the first
        # thread registration), and re-checked by every later one.
        self.registry = StackRegistry(lib.ss_register_thread, lib.ss_forget_thread, lib.ss_reset_after_fork,
                                      on_register=self._first_scope_of_thread)
        self._fill_api()

        def routine(name: str) -> int:
            return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value or 0

        call_flags = _cpython.METH_FASTCALL | _cpython.METH_KEYWORDS
        # What @secret returns: an object whose call enters ss_object_call (decorated.S).
        layout = (ctypes.c_uint64 * 4).in_dll(lib, "ss_object_layout")
        for index, offset in enumerate(_cpython.object_layout()):
            layout[index] = offset
        self.function_type = _cpython.secret_function_type(
            "secretscope.secret_function", "A callable run inside a secret scope (see secretscope.secret).", routine)
        self.function_type.__repr__ = _function_repr  # type: ignore[assignment]
        self.function_type.__reduce__ = _function_reduce  # type: ignore[assignment]
        self.function_type.__getattr__ = _function_getattr  # type: ignore[attr-defined]
        self._object_call = routine("ss_object_call")
        self.do: Callable[..., Any] = _cpython.MethodDef(
            "do", routine("ss_do"), call_flags,
            "do(f, /, *args, **kwargs)\n--\n\nCall f(*args, **kwargs) inside a secret scope.").bind()
        self.enabled: Callable[[], bool] = _cpython.MethodDef(
            "enabled", routine("ss_enabled"), _cpython.METH_NOARGS,
            "enabled()\n--\n\nTrue while a secret scope is active on this thread.").bind()
        # `with secret():` edges are vectorcall objects: the interpreter's call site jumps
        # straight into the assembly, so no CPython C frame sits between the block's frame
        # and the erasure (a builtin would leave its helper's frame, with stale slots, there).
        edge = _cpython.vectorcall_type("secretscope.ScopeEdge", "Entry or exit of a `with secret():` block.")
        self.enter: Callable[[], None] = _cpython.vectorcall_object(edge, routine("ss_scope_enter"))  # type: ignore[assignment]
        self.exit: Callable[..., bool] = _cpython.vectorcall_object(edge, routine("ss_scope_exit"))  # type: ignore[assignment]
        self.addresses = {name: routine(name) for name in ("ss_call", "ss_vectorcall_compat")}

    def _first_scope_of_thread(self) -> None:
        self.heap.ensure()
        self.native_heap.ensure()

    def _fill_api(self) -> None:
        api = (ctypes.c_void_p * len(_API_SLOTS)).in_dll(self.lib, "ss_api")
        self._suspend_message = ctypes.create_string_buffer(SUSPEND_MESSAGE.encode())  # kept alive
        vectorcall = (_cpython.symbol("PyObject_Vectorcall") if _cpython.has_symbol("PyObject_Vectorcall")
                      else ctypes.cast(self.lib.ss_vectorcall_compat, ctypes.c_void_p).value)
        self._register_cb = self.registry.register  # kept alive: the table holds a borrowed pointer
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
        native_heap_note = self.native_heap.note()
        signal_note = (None if self.signal_stacks else
                       "signal stacks: frames on an alternate signal stack are not erased on this architecture yet")
        missing = [note for note in (heap_note, signal_note, native_heap_note) if note]
        return Protection(backend="native", platform=platform_tag(), registers=True, stack=True,
                          heap=self.heap.available and not self.heap.bypasses, signal_stacks=self.signal_stacks,
                          reason="; ".join(missing) or None, features=self.features(),
                          native_heap=self.native_heap.covered)
