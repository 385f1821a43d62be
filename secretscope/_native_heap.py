"""The Python half of native-heap zeroing: pointing every loaded object's allocator GOT entries
at the wrappers in asm/<arch>/native.S, and keeping objects loaded later covered.

For each loaded object (dl_iterate_phdr, copied by the assembly's ss_native_collect so that no
Python runs under the loader's lock) the dynamic section gives the relocation tables (DT_JMPREL
and DT_RELA); every JUMP_SLOT or GLOB_DAT relocation whose symbol is one of ALLOCATOR_NAMES names
a GOT slot.  What the slot holds is what the object was bound to: that becomes the "next"
function of the wrapper written there.  A lazy slot not yet bound still points into the object's
own PLT: the loader would bind it to the global definition, so that is its next function
(unless the object's own dependencies would give another one: then the object is left alone and
reported, since RTLD_DEEPBIND would pick those).  Slots inside PT_GNU_RELRO are made writable
with mprotect for the write and read-only again afterwards.

Never patched: the dynamic loader, the vDSO, this package's own objects, and the object that
provides the global malloc (libc, or a preloaded allocator): its internal calls are its own.
Objects loaded later are patched when the next check runs: an extension module's import, a
ctypes library load, a thread's first scope, and protection().  Installed lazily at the first
scope of the process and never removed (blocks recorded must meet the wrapper when freed).
"""
from __future__ import annotations

import ctypes
import os
import struct
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from ._interface import COLLECT_ENTRY, COLLECT_HEADER, NATIVE_API, NATIVE_FAMILIES, NATIVE_KINDS
from ._interface import COLLECT_NAME as COLLECT_NAME  # the old name stays importable
from ._platform import free_threaded

# native.S's columns (K_*), families and ss_native_collect's layout: secretscope/_interface.py
ALLOCATOR_NAMES = tuple(kind.name for kind in NATIVE_KINDS)
FAMILIES = NATIVE_FAMILIES

PT_LOAD, PT_DYNAMIC, PT_GNU_RELRO = 1, 2, 0x6474E552
DT_NULL, DT_PLTRELSZ, DT_STRTAB, DT_SYMTAB, DT_RELA, DT_RELASZ, DT_JMPREL = 0, 2, 5, 6, 7, 8, 23
DT_PLTREL, DT_REL = 20, 17
RELOC_TYPES = {  # (GLOB_DAT, JUMP_SLOT, 64-bit absolute: a function pointer stored in data)
    "x86_64": (6, 7, 1),
    "aarch64": (1025, 1026, 257),
}
AT_BASE, AT_SYSINFO_EHDR = 7, 33
RTLD_LAZY, RTLD_NOLOAD = 1, 4
PROT_READ, PROT_WRITE = 1, 2


def _auxv() -> Dict[int, int]:
    try:
        data = Path("/proc/self/auxv").read_bytes()
    except OSError:
        return {}
    return dict(struct.iter_unpack("<QQ", data[: len(data) // 16 * 16]))


def _u64(address: int) -> int:
    return ctypes.c_uint64.from_address(address).value


@dataclass
class LoadedObject:
    base: int
    phdr: int
    phnum: int
    name: str

    def segments(self) -> List[Tuple[int, int, int, int]]:
        """(p_type, start address, memory size, p_flags) of each program header."""
        out: List[Tuple[int, int, int, int]] = []
        for i in range(self.phnum):
            raw = ctypes.string_at(self.phdr + 56 * i, 56)
            p_type, p_flags, _off, vaddr, _paddr, _filesz, memsz, _align = struct.unpack("<IIQQQQQQ", raw)
            out.append((p_type, self.base + vaddr, memsz, p_flags))
        return out


@dataclass
class Slot:
    address: int
    kind: int           # index in ALLOCATOR_NAMES
    bound: int          # what it holds now (0: an unbound lazy slot)


@dataclass
class PatchReport:
    patched_objects: Set[str] = field(default_factory=set)
    slots: int = 0
    problems: List[str] = field(default_factory=list)


class NativeHeapZeroing:
    """Installs native.S's wrappers into every loaded object's GOT and keeps new objects covered."""

    def __init__(self, lib: Any, arch: str, own_paths: Sequence[str] = ()) -> None:
        self.lib = lib
        self.arch = arch
        self.installed = False
        self.reason: Optional[str] = None
        self.problems: List[str] = []
        self._foreign: Set[str] = set()
        self.slots = 0
        self.patched_objects: Set[str] = set()
        self._seen: Set[Tuple[int, str]] = set()
        self._adds: Tuple[int, int] = (-1, -1)
        self._main_ranges: List[Tuple[int, int]] = []
        self._canonical: Dict[int, int] = {}  # kind -> the executable's canonical PLT entry for it
        # object name -> (slot, wrapper, RELRO ranges) written there
        self._written: Dict[str, List[Tuple[int, int, List[Tuple[int, int]]]]] = {}
        self.rebound = 0  # wrappers put back after lazy binding overwrote them
        self._lock = threading.RLock()
        self._own = {os.path.realpath(p) for p in own_paths}
        if not sys.platform.startswith("linux"):
            self.reason = "native allocator: only on Linux (GOT rewriting needs the ELF dynamic loader)"
            return
        if free_threaded():
            self.reason = "native allocator: unavailable on the free-threaded build (as the PyMem wrapper)"
            return
        if not hasattr(lib, "ss_native_collect") or arch not in RELOC_TYPES:
            self.reason = "native allocator: not implemented on this architecture yet"
            return
        try:
            self._setup()
        except (OSError, AttributeError, ValueError) as exc:
            self.reason = f"native allocator: unavailable ({exc})"

    # ---- one-time set-up -----------------------------------------------------------------
    def _setup(self) -> None:
        lib = self.lib
        self.next = (ctypes.c_void_p * (FAMILIES * len(ALLOCATOR_NAMES))).in_dll(lib, "ss_native_next")
        self.tracked = ctypes.c_uint64.in_dll(lib, "ss_native_tracked")
        self.stats = (ctypes.c_uint64 * 4).in_dll(lib, "ss_native_stats")
        self.wrappers = [[_address(getattr(lib, f"ss_native_{name}_{f}")) for name in ALLOCATOR_NAMES]
                         for f in range(FAMILIES)]
        self._ours = {a for row in self.wrappers for a in row}
        lib.ss_native_recorded.restype = ctypes.c_uint64
        lib.ss_native_recorded.argtypes = [ctypes.c_void_p]
        libc = ctypes.CDLL(None)
        self._global = [_symbol(libc, name) for name in ALLOCATOR_NAMES]
        for required in ("malloc", "calloc", "realloc", "free"):
            if not self._global[ALLOCATOR_NAMES.index(required)]:
                raise OSError(f"the C library has no {required}")
        usable = _symbol(libc, "malloc_usable_size")
        errno_location = _symbol(libc, "__errno_location")
        if not usable or not errno_location:
            raise OSError("the C library lacks malloc_usable_size or __errno_location")
        api = (ctypes.c_void_p * NATIVE_API.words).in_dll(lib, "ss_native_api")  # NAPI_USABLE, _ERRNO, _PAGE
        api[0], api[1], api[2] = usable, errno_location, os.sysconf("SC_PAGE_SIZE")
        # Rows already filled (this object loaded by another interpreter of the process, which has
        # patched slots pointing at them): reuse them, never overwrite one.
        k = len(ALLOCATOR_NAMES)
        self.families: List[Tuple[int, ...]] = [
            row for row in (tuple(int(v or 0) for v in self.next[f * k:(f + 1) * k]) for f in range(FAMILIES))
            if any(row)]
        # dl_iterate_phdr through PyDLL: the GIL stays held, and the callback is assembly
        self._iterate = ctypes.PyDLL(None).dl_iterate_phdr
        self._iterate.restype = ctypes.c_int
        self._iterate.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._collect = _address(lib.ss_native_collect)
        self._mprotect = ctypes.PyDLL(None, use_errno=True).mprotect
        self._mprotect.restype = ctypes.c_int
        self._mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.page = os.sysconf("SC_PAGE_SIZE")
        aux = _auxv()
        self._skip_bases = {aux.get(AT_BASE, 0), aux.get(AT_SYSINFO_EHDR, 0)} - {0}
        self._register_atfork(libc)

    def _register_atfork(self, libc: Any) -> None:
        prepare = _address(self.lib.ss_native_atfork_prepare)
        release = _address(self.lib.ss_native_atfork_release)
        if _symbol(libc, "pthread_atfork"):
            fn = getattr(libc, "pthread_atfork")
            fn.argtypes = [ctypes.c_void_p] * 3
            rc = fn(prepare, release, release)
        elif _symbol(libc, "__register_atfork"):  # glibc: pthread_atfork itself is in libc_nonshared.a
            fn = getattr(libc, "__register_atfork")
            fn.argtypes = [ctypes.c_void_p] * 4
            rc = fn(prepare, release, release, None)
        else:
            raise OSError("no pthread_atfork in the C library")
        if rc != 0:
            raise OSError(f"pthread_atfork failed ({rc})")

    @property
    def available(self) -> bool:
        return self.reason is None

    # ---- the link map ------------------------------------------------------------------
    def _collect_objects(self) -> Tuple[List[LoadedObject], Tuple[int, int]]:
        capacity = 256
        while True:
            buf = (ctypes.c_uint64 * ((COLLECT_HEADER + capacity * COLLECT_ENTRY) // 8))()
            buf[0] = capacity
            self._iterate(self._collect, ctypes.addressof(buf))
            count, adds = buf[1], (buf[2], buf[3])
            if count <= capacity:
                break
            capacity = count + 64
        base = ctypes.addressof(buf) + COLLECT_HEADER
        out: List[LoadedObject] = []
        for i in range(count):
            e = base + i * COLLECT_ENTRY
            name = ctypes.string_at(e + 24).decode("utf-8", "surrogateescape")
            out.append(LoadedObject(_u64(e), _u64(e + 8), _u64(e + 16), name))
        return out, adds

    def link_map_changed(self) -> bool:
        buf = (ctypes.c_uint64 * 4)()
        self._iterate(self._collect, ctypes.addressof(buf))
        return (int(buf[2]), int(buf[3])) != self._adds

    # ---- installation --------------------------------------------------------------------
    def ensure(self) -> None:
        """Install on first use; afterwards patch objects loaded since the last check."""
        if not self.available:
            return
        with self._lock:
            if self.installed and not self.link_map_changed():
                self._verify_slots()
                return
            objects, adds = self._collect_objects()
            if not self.installed:
                self._resolve_past_the_main_program(objects)
                if not self.available:
                    return
            if adds[1] != self._adds[1]:
                self._seen.clear()  # something was unloaded: its address may hold another object now
                self._written.clear()
            for obj in objects:
                key = (obj.base, obj.name)
                if key in self._seen:
                    continue
                self._seen.add(key)
                self._patch_object(obj)
            if adds[1] == self._adds[1]:
                self._verify_slots()
            self._adds = adds
            if not self.installed:
                self.installed = True
                self._hook_loaders()

    def _hook_loaders(self) -> None:
        """Check the link map right after an extension module or a ctypes library is loaded."""
        import ctypes as ctypes_module
        from importlib.machinery import ExtensionFileLoader

        ensure = self.ensure
        real_create = ExtensionFileLoader.create_module
        real_init = ctypes_module.CDLL.__init__

        def create_module(loader: Any, spec: Any) -> Any:
            module = real_create(loader, spec)
            ensure()
            return module

        def init(lib: Any, *args: Any, **kwargs: Any) -> None:
            real_init(lib, *args, **kwargs)
            ensure()

        create_module.__doc__, init.__doc__ = real_create.__doc__, real_init.__doc__
        ExtensionFileLoader.create_module = create_module  # type: ignore[method-assign, assignment]
        ctypes_module.CDLL.__init__ = init  # type: ignore[method-assign, assignment]

    def _verify_slots(self) -> None:
        """Put back a wrapper that the loader's lazy binding overwrote: a thread inside the PLT
        resolver for a slot while it was patched writes the resolved function last.  Only called
        while no object was unloaded since the slots were written (dlpi_subs unchanged)."""
        for name, written in self._written.items():
            handle = None
            if name:  # pinned while read (the main program is never unloaded)
                try:
                    handle = _dlopen(name, RTLD_LAZY | RTLD_NOLOAD)
                except OSError:
                    continue
                if not handle:
                    continue
            try:
                for slot, value, relro in written:
                    if _u64(slot) != value:
                        self._write_slot(slot, value, relro)
                        self.rebound += 1
            finally:
                if handle:
                    _dlclose(handle)

    def _resolve_past_the_main_program(self, objects: List[LoadedObject]) -> None:
        """A position-dependent executable that takes malloc's address gets a canonical PLT entry:
        dlsym(RTLD_DEFAULT) and every GLOB_DAT slot then give that stub, not the function.  The
        real definition is the first one, in link-map order, among the other objects."""
        main = [obj for obj in objects if not obj.name and obj.base not in self._skip_bases]
        self._main_ranges = ([(start, start + size) for kind, start, size, _ in main[0].segments() if kind == PT_LOAD]
                             if main else [])
        for kind, address in enumerate(self._global):
            if not self._in_main(address):
                continue
            self._canonical[kind] = address
            self._global[kind] = 0
            for obj in objects:
                if not obj.name or obj.base in self._skip_bases:
                    continue
                try:
                    handle = _dlopen(obj.name, RTLD_LAZY | RTLD_NOLOAD)
                except OSError:
                    continue
                try:
                    found = _dlsym(handle, ALLOCATOR_NAMES[kind])
                finally:
                    _dlclose(handle)
                loads = [(st, st + sz) for k, st, sz, _ in obj.segments() if k == PT_LOAD]
                if found and any(lo <= found < hi for lo, hi in loads):
                    self._global[kind] = found
                    break
        if not self._global[0] or not self._global[ALLOCATOR_NAMES.index("free")]:
            self.reason = "native allocator: cannot find the definition of malloc/free"

    def _in_main(self, address: int) -> bool:
        return any(lo <= address < hi for lo, hi in self._main_ranges)

    def _skip(self, obj: LoadedObject) -> bool:
        if obj.base in self._skip_bases:
            return True  # the dynamic loader, the vDSO
        if obj.name and os.path.realpath(obj.name) in self._own:
            return True
        return False

    def _patch_object(self, obj: LoadedObject) -> None:
        if self._skip(obj):
            return
        handle = None
        if obj.name:
            # Pin it: a concurrent dlclose must not unmap it while we read and write it.
            try:
                handle = _dlopen(obj.name, RTLD_LAZY | RTLD_NOLOAD)
            except OSError:
                return  # already unloaded
            if not handle:
                return
        try:
            self._patch_pinned(obj, handle)
        finally:
            if handle:
                _dlclose(handle)

    def _patch_pinned(self, obj: LoadedObject, handle: Optional[int]) -> None:
        segments = obj.segments()
        loads = [(start, start + size) for kind, start, size, _ in segments if kind == PT_LOAD]
        if any(lo <= self._global[0] < hi for lo, hi in loads):
            return  # the allocator's own object (libc, or a preloaded malloc)
        dynamic = [start for kind, start, _, _ in segments if kind == PT_DYNAMIC]
        if not dynamic:
            return
        relro = [(start, start + size) for kind, start, size, _ in segments if kind == PT_GNU_RELRO]
        slots = self._find_slots(obj, dynamic[0], loads)
        if not slots:
            return
        label = obj.name or "the main program"
        row = list(self._global)
        for slot in slots:
            if slot.bound in self._ours:
                continue  # patched already (an object seen again at the same address)
            if slot.bound == 0 and handle:
                local = _dlsym(handle, ALLOCATOR_NAMES[slot.kind])
                if local and local != self._global[slot.kind]:
                    self.problems.append(f"{label}: its dependencies define their own "
                                         f"{ALLOCATOR_NAMES[slot.kind]}; not covered")
                    return
            target = slot.bound or self._global[slot.kind]
            if row[slot.kind] != self._global[slot.kind] and row[slot.kind] != target:
                self.problems.append(f"{label}: {ALLOCATOR_NAMES[slot.kind]} is bound to two different "
                                     f"functions; not covered")
                return
            row[slot.kind] = target
        family = self._family(tuple(row))
        if family is None:
            self.problems.append(f"{label}: more than {FAMILIES} distinct allocator chains; not covered")
            return
        if tuple(row) != tuple(self._global):
            self._foreign.add(label)  # zeroed up to the C library's usable size only (protection().limits)
        for slot in slots:
            if slot.bound in self._ours:
                # ours already (the object seen again after an unload cleared the record): keep it
                # under watch, so that lazy binding overwriting it is noticed (_verify_slots)
                self._written.setdefault(obj.name, []).append((slot.address, slot.bound, relro))
                continue
            if not self._write_slot(slot.address, self.wrappers[family][slot.kind], relro):
                self.problems.append(f"{label}: mprotect refused to make its GOT writable; not covered")
                return
            self._written.setdefault(obj.name, []).append((slot.address, self.wrappers[family][slot.kind], relro))
            self.slots += 1
        self.patched_objects.add(label)

    def _family(self, row: Tuple[int, ...]) -> Optional[int]:
        if row in self.families:
            return self.families.index(row)
        if len(self.families) >= FAMILIES:
            return None
        f = len(self.families)
        for kind, target in enumerate(row):  # filled before any slot points at the family
            self.next[f * len(ALLOCATOR_NAMES) + kind] = target
        self.families.append(row)
        return f

    def _find_slots(self, obj: LoadedObject, dynamic: int, loads: List[Tuple[int, int]]) -> List[Slot]:
        tags: Dict[int, int] = {}
        address = dynamic
        while True:
            tag, value = _u64(address), _u64(address + 8)
            if tag == DT_NULL:
                break
            tags.setdefault(tag, value)
            address += 16

        def absolute(value: int) -> int:
            # glibc rewrites these entries to addresses; musl keeps them relative to the base
            return value if obj.base == 0 or value >= obj.base else obj.base + value

        if DT_SYMTAB not in tags or DT_STRTAB not in tags:
            return []
        symtab, strtab = absolute(tags[DT_SYMTAB]), absolute(tags[DT_STRTAB])
        tables: List[Tuple[int, int]] = []
        if DT_RELA in tags and DT_RELASZ in tags:
            tables.append((absolute(tags[DT_RELA]), tags[DT_RELASZ]))
        if DT_JMPREL in tags and DT_PLTRELSZ in tags and tags.get(DT_PLTREL, DT_RELA) == DT_RELA:
            tables.append((absolute(tags[DT_JMPREL]), tags[DT_PLTRELSZ]))
        glob_dat, jump_slot, absolute64 = RELOC_TYPES[self.arch]
        wanted = {name.encode(): i for i, name in enumerate(ALLOCATOR_NAMES)}
        slots: List[Slot] = []
        for start, size in tables:
            raw = ctypes.string_at(start, size - size % 24)
            for r_offset, r_info, addend in struct.iter_unpack("<QQq", raw):
                r_type = r_info & 0xFFFFFFFF
                if r_type not in (glob_dat, jump_slot) and not (r_type == absolute64 and addend == 0):
                    continue
                sym = symtab + 24 * (r_info >> 32)
                name = ctypes.string_at(strtab + ctypes.c_uint32.from_address(sym).value)
                kind = wanted.get(name)
                if kind is None:
                    continue
                slot = obj.base + r_offset
                bound = _u64(slot)
                if r_type == absolute64 and r_type not in (glob_dat, jump_slot):
                    # A pointer in data is a variable the program may have changed (CPython's
                    # _decimal points libmpdec's at PyMem_Malloc): wrap it only while it still
                    # holds the allocator's own function.
                    if bound == self._canonical.get(kind):
                        bound = self._global[kind]
                    if bound != self._global[kind] and bound not in self._ours:
                        continue
                    slots.append(Slot(slot, kind, bound))
                    continue
                if any(lo <= bound < hi for lo, hi in loads):
                    bound = 0  # a lazy slot: still points back into the object's own PLT
                elif bound and bound == self._canonical.get(kind):
                    bound = self._global[kind]  # the executable's canonical PLT entry: the real one

                slots.append(Slot(slot, kind, bound))
        return slots

    def _write_slot(self, slot: int, value: int, relro: List[Tuple[int, int]]) -> bool:
        page = slot & ~(self.page - 1)
        mask = ~(self.page - 1)
        # the loader protects whole pages only: [start rounded down, end rounded down)
        protected = any(lo & mask <= slot < hi & mask for lo, hi in relro)
        if protected and self._mprotect(page, self.page, PROT_READ | PROT_WRITE) != 0:
            return False
        ctypes.c_uint64.from_address(slot).value = value  # one aligned store: atomic for callers
        if protected:
            self._mprotect(page, self.page, PROT_READ)
        return True

    def allocator(self, name: str) -> int:
        """The address of the C allocator's own `name` (what unbound slots chain to)."""
        return self._global[ALLOCATOR_NAMES.index(name)]

    # ---- reporting ----------------------------------------------------------------------
    def note(self) -> Optional[str]:
        if not self.available:
            return self.reason
        if self.problems:
            return "native allocator: " + "; ".join(dict.fromkeys(self.problems))
        return None

    @property
    def covered(self) -> bool:
        return self.available and not self.problems

    def foreign_objects(self) -> int:
        """How many patched objects chain to an allocator other than the C library's own functions
        (an interposer, a library's own malloc): their freed blocks are zeroed up to
        malloc_usable_size of the C library, which may not answer for them."""
        return len(self._foreign)


def _address(fn: Any) -> int:
    return ctypes.cast(fn, ctypes.c_void_p).value or 0


def _symbol(lib: Any, name: str) -> int:
    try:
        return _address(getattr(lib, name))
    except AttributeError:
        return 0


def _dlopen(name: str, mode: int) -> int:
    import _ctypes
    return int(_ctypes.dlopen(name, mode))


def _dlclose(handle: int) -> None:
    import _ctypes
    _ctypes.dlclose(handle)


def _dlsym(handle: int, name: str) -> int:
    import _ctypes
    try:
        return int(_ctypes.dlsym(handle, name))
    except OSError:
        return 0
