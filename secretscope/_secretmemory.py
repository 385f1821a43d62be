"""Memory for secrets at rest (Linux): a mapping of its own, locked, out of core dumps and forks.

A `Region` is laid out as

    [ guard: PROT_NONE ][ data pages: read-write ][ guard: read-only zeros ]

with the caller's bytes placed against the upper guard, so that writing one byte past the end
faults.  The upper guard is readable (zeros) rather than PROT_NONE because bytearray's C code
reads the NUL it keeps after the last byte (int(), compile(), PyByteArray_AsString users);
reading past the end therefore sees zeros, never another secret.

The data pages come from memfd_secret(2) when the kernel offers it: removed from the kernel's
direct map, locked and excluded from core dumps by the kernel itself, unreadable through
/proc/<pid>/mem and ptrace.  They are MAP_SHARED, so MADV_WIPEONFORK does not apply; they are
marked MADV_DONTFORK (a child has no such pages) and an os.register_at_fork handler maps zero
pages in their place in the child, so a child forked by os.fork reads zeros.  Otherwise the
pages are anonymous memory with mlock, MADV_DONTDUMP and MADV_WIPEONFORK.  Whatever could not
be had is reported, with the reason, in `Memory` (`SecretBuffer.protection`).

Small buffers share pages (`Pool`): one locked region holds many slots, each
    [ canary 8 ][ zero padding ][ data ][ NUL ][ canary 8 ]
with a per-chunk random canary checked when the slot is released.

SECRETSCOPE_SECRETMEM=0 turns memfd_secret off (anonymous memory is used): the kernel refuses
to hibernate while secretmem pages exist.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import secrets
import threading
from dataclasses import dataclass, replace
from typing import Dict, FrozenSet, List, Optional, Tuple, cast

from ._config import env_flag

PAGE = mmap.PAGESIZE
PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE = 0x1, 0x2, 0x10, 0x20, 0x4000
MADV_DONTFORK, MADV_DONTDUMP, MADV_WIPEONFORK = 10, 16, 18
SYS_memfd_secret = 447  # x86-64 and AArch64 (asm-generic)
O_CLOEXEC = 0o2000000
MAP_FAILED = ctypes.c_void_p(-1).value

#: buffers of at most this many bytes share pages from the pool unless told otherwise
POOL_MAX = 256
_SLOT_SIZES = (64, 128, 256, 512)
_SLOT_OVERHEAD = 17  # two canaries and the NUL


@dataclass(frozen=True)
class Memory:
    """What the memory under one buffer is (SecretBuffer.protection is built from it)."""
    locked: bool
    not_dumped: bool
    wiped_on_fork: bool
    secretmem: bool
    guard_pages: bool
    pooled: bool
    reason: str


class _Libc:
    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        vp, sz, i = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
        self.mmap = libc.mmap
        self.mmap.restype, self.mmap.argtypes = vp, [vp, sz, i, i, i, ctypes.c_long]
        self.munmap = libc.munmap
        self.mprotect = libc.mprotect
        self.mlock = libc.mlock
        self.munlock = libc.munlock
        self.madvise = libc.madvise
        for f in (self.munmap, self.mlock, self.munlock):
            f.restype, f.argtypes = i, [vp, sz]
        for f in (self.mprotect, self.madvise):
            f.restype, f.argtypes = i, [vp, sz, i]
        self.syscall = libc.syscall
        self.syscall.restype = ctypes.c_long
        self.ftruncate = libc.ftruncate
        self.ftruncate.restype, self.ftruncate.argtypes = i, [i, ctypes.c_long]
        self.close = libc.close
        self.close.restype, self.close.argtypes = i, [i]


_libc: Optional[_Libc] = None


def libc() -> _Libc:
    global _libc
    if _libc is None:
        _libc = _Libc()
    return _libc


def _error(what: str) -> str:
    err = ctypes.get_errno()
    return f"{what}: {os.strerror(err)} ({err})"


#: (kind of memory, VmFlags flag) -> whether the kernel left the flag unset although the call
#: succeeded; checked once per process (qemu-user, for one, returns success for madvise without
#: applying it)
_ignored: Dict[Tuple[str, str], bool] = {}


def vm_flags(address: int) -> Optional[List[str]]:
    """The VmFlags of the mapping holding address (/proc/self/smaps), or None when unreadable."""
    try:
        text = open("/proc/self/smaps").read()
    except OSError:
        return None
    inside = False
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        if "-" in head and not head.endswith(":"):
            lo, _, hi = head.partition("-")
            try:
                inside = int(lo, 16) <= address < int(hi, 16)
            except ValueError:
                inside = False
        elif inside and line.startswith("VmFlags:"):
            return line.split()[1:]
    return None


def _ignored_flags(address: int, kind: str, expected: List[str]) -> FrozenSet[str]:
    """Which of the expected flags (their calls succeeded) the mapping at address lacks."""
    unknown = [f for f in expected if (kind, f) not in _ignored]
    if unknown:
        flags = vm_flags(address)
        for f in unknown:
            _ignored[(kind, f)] = flags is not None and f not in flags
    return frozenset(f for f in expected if _ignored[(kind, f)])


def secretmem_wanted() -> bool:
    return env_flag("SECRETSCOPE_SECRETMEM", True)


def _round_up(n: int) -> int:
    return (n + PAGE - 1) // PAGE * PAGE


class Region:
    """One mapping with guards; `data` is the first byte of the read-write pages."""

    def __init__(self, data_bytes: int) -> None:
        c = libc()
        self.data_len = _round_up(max(data_bytes, 1))
        self.total = self.data_len + 2 * PAGE
        self.pid = os.getpid()
        self.wiped_by_fork = False
        base = c.mmap(None, self.total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if base in (None, MAP_FAILED):
            raise MemoryError(_error("mmap of a secret region failed"))
        self.base = base
        self.data = base + PAGE
        reasons: List[str] = []
        try:
            if c.mprotect(self.data + self.data_len, PAGE, PROT_READ) != 0:
                raise MemoryError(_error("mprotect of the upper guard page failed"))
            self.secretmem = secretmem_wanted() and self._map_secretmem(reasons)
            if self.secretmem:
                locked, not_dumped, wiped_on_fork = True, True, True
                if c.madvise(self.data, self.data_len, MADV_DONTFORK) != 0:
                    wiped_on_fork = False
                    reasons.append(_error("madvise(MADV_DONTFORK) of secretmem pages failed"))
                kind = {"lo": "locked", "dd": "not_dumped", "dc": "wiped_on_fork"}
            else:
                self._map_anonymous()
                locked = c.mlock(self.data, self.data_len) == 0
                if not locked:
                    reasons.append(_error("mlock failed (RLIMIT_MEMLOCK?)"))
                not_dumped = c.madvise(self.data, self.data_len, MADV_DONTDUMP) == 0
                if not not_dumped:
                    reasons.append(_error("madvise(MADV_DONTDUMP) failed"))
                wiped_on_fork = c.madvise(self.data, self.data_len, MADV_WIPEONFORK) == 0
                if not wiped_on_fork:
                    reasons.append(_error("madvise(MADV_WIPEONFORK) failed"))
                kind = {"dd": "not_dumped", "wf": "wiped_on_fork"}
            claimed = {"locked": locked, "not_dumped": not_dumped, "wiped_on_fork": wiped_on_fork}
            ignored = _ignored_flags(self.data, "secretmem" if self.secretmem else "anonymous",
                                     [flag for flag, what in kind.items() if claimed[what]])
            for flag in sorted(ignored):
                reasons.append(f"the call succeeded but /proc/self/smaps lacks {flag!r}: "
                               f"{kind[flag].replace('_', ' ')} does not hold (an emulator such as qemu-user?)")
            locked = locked and "lo" not in ignored
            not_dumped = not_dumped and "dd" not in ignored
            wiped_on_fork = wiped_on_fork and not ({"wf", "dc"} & ignored)
        except BaseException:
            c.munmap(base, self.total)
            raise
        self.memory = Memory(locked=locked, not_dumped=not_dumped, wiped_on_fork=wiped_on_fork,
                             secretmem=self.secretmem, guard_pages=True, pooled=False, reason="; ".join(reasons))
        _live_regions[id(self)] = self

    def _map_secretmem(self, reasons: List[str]) -> bool:
        c = libc()
        fd = int(c.syscall(ctypes.c_long(SYS_memfd_secret), ctypes.c_long(O_CLOEXEC)))
        if fd < 0:
            reasons.append(_error("memfd_secret unavailable") + ", anonymous memory used")
            return False
        try:
            if c.ftruncate(fd, self.data_len) != 0:
                reasons.append(_error("ftruncate of a memfd_secret failed") + ", anonymous memory used")
                return False
            p = c.mmap(self.data, self.data_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0)
            if p != self.data:
                # a failed MAP_FIXED may have removed the reservation: _map_anonymous maps it again
                reasons.append(_error("mmap of memfd_secret pages failed (RLIMIT_MEMLOCK?)") + ", anonymous memory used")
                return False
            return True
        finally:
            c.close(fd)

    def _map_anonymous(self) -> None:
        p = libc().mmap(self.data, self.data_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
        if p != self.data:
            raise MemoryError(_error("mmap of secret pages failed"))

    def forked(self) -> bool:
        return os.getpid() != self.pid

    def after_fork_in_child(self) -> None:
        """secretmem pages are not inherited (MADV_DONTFORK): map zero pages in their place."""
        self.wiped_by_fork = self.secretmem or self.memory.wiped_on_fork
        if self.secretmem:
            self._map_anonymous()
            c = libc()
            locked = c.mlock(self.data, self.data_len) == 0
            not_dumped = c.madvise(self.data, self.data_len, MADV_DONTDUMP) == 0
            wiped_on_fork = c.madvise(self.data, self.data_len, MADV_WIPEONFORK) == 0
            self.secretmem = False
            self.memory = replace(self.memory, secretmem=False, locked=locked, not_dumped=not_dumped,
                                  wiped_on_fork=wiped_on_fork,
                                  reason="this forked child got zero anonymous pages in place of the "
                                         "parent's secretmem pages" + ("" if locked else " (mlock failed)"))

    def release(self) -> None:
        """Zero the data pages and unmap the whole region."""
        if self.base == 0:
            return
        _live_regions.pop(id(self), None)
        if self.memory.secretmem and self.forked() and not self.wiped_by_fork:
            pass  # a C-level fork skipped our handler: the pages are not mapped in this child
        else:
            ctypes.memset(self.data, 0, self.data_len)
        libc().munmap(self.base, self.total)
        self.base = 0


#: every region not yet released, for the fork handler (keyed by id; regions remove themselves)
_live_regions: Dict[int, Region] = {}


def _after_fork_in_child() -> None:
    for region in list(_live_regions.values()):
        region.after_fork_in_child()
    Pool.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Slot:
    """A pooled allocation: `address` is where the data starts."""

    __slots__ = ("chunk", "index", "address", "length", "pid")

    def __init__(self, chunk: "_Chunk", index: int, length: int) -> None:
        self.chunk, self.index, self.length = chunk, index, length
        start = chunk.region.data + index * chunk.slot_size
        self.address = start + chunk.slot_size - 9 - length
        self.pid = os.getpid()


def _char_slice(raw: "ctypes.Array[ctypes.c_char]", start: int, stop: int) -> bytes:
    """raw[start:stop]: a c_char array's slice is bytes (typeshed types every Array slice as a list)."""
    return cast(bytes, raw[start:stop])


class _Chunk:
    def __init__(self, slot_size: int) -> None:
        self.slot_size = slot_size
        self.region = Region(PAGE)
        self.count = self.region.data_len // slot_size
        self.free = list(range(self.count - 1, -1, -1))
        self.canary = secrets.token_bytes(8)

    def _slot_bytes(self, index: int) -> "ctypes.Array[ctypes.c_char]":
        return (ctypes.c_char * self.slot_size).from_address(self.region.data + index * self.slot_size)

    def take(self, length: int) -> Slot:
        index = self.free.pop()
        raw = self._slot_bytes(index)
        ctypes.memset(raw, 0, self.slot_size)
        raw[0:8] = self.canary  # type: ignore[call-overload]  # a c_char slice takes bytes (typeshed: list only)
        raw[self.slot_size - 8:self.slot_size] = self.canary  # type: ignore[call-overload]  # (as above)
        return Slot(self, index, length)

    def wipe(self, slot: Slot) -> bool:
        """Zero the slot; True when its canaries and padding were intact (always True in a
        forked child, whose copy of the pool was wiped by the fork)."""
        raw = self._slot_bytes(slot.index)
        intact = True
        if slot.pid == os.getpid() and not self.region.wiped_by_fork:
            s = self.slot_size
            data_start = s - 9 - slot.length
            intact = (_char_slice(raw, 0, 8) == self.canary and _char_slice(raw, s - 8, s) == self.canary
                      and raw[s - 9] == b"\0" and _char_slice(raw, 8, data_start) == bytes(data_start - 8))
        ctypes.memset(raw, 0, self.slot_size)
        return intact


class Pool:
    """Slots for small secrets in shared locked pages, one size class per chunk.

    A finalizer (SecretBuffer.__del__, run by the garbage collector on any allocation) can
    re-enter give_back while this thread is inside take or give_back: the lock is reentrant,
    and such a nested give_back only wipes its slot, leaving the free list and the unmapping
    of empty chunks to the outer call (`_pending`), so no structure changes under it."""

    lock = threading.RLock()
    _busy = False
    _pending: List[Slot] = []
    _chunks: Dict[int, List[_Chunk]] = {}

    @classmethod
    def after_fork_in_child(cls) -> None:
        """A fresh lock and no call in progress: the forked child has only the forking thread."""
        cls.lock = threading.RLock()
        cls._busy = False

    @classmethod
    def slot_size_for(cls, length: int) -> Optional[int]:
        for size in _SLOT_SIZES:
            if length + _SLOT_OVERHEAD <= size and size <= PAGE:
                return size
        return None

    @classmethod
    def take(cls, length: int) -> Tuple[Slot, Memory]:
        size = cls.slot_size_for(length)
        if size is None:
            raise ValueError(f"{length} bytes do not fit a pool slot")
        with cls.lock:
            outer = not cls._busy
            cls._busy = True
            try:
                chunks = cls._chunks.setdefault(size, [])
                chunk = next((c for c in chunks if c.free), None)
                if chunk is None:
                    chunk = _Chunk(size)
                    chunks.append(chunk)
                slot = chunk.take(length)
            finally:
                if outer:
                    cls._drain()
                    cls._busy = False
        memory = replace(chunk.region.memory, guard_pages=False, pooled=True)
        return slot, memory

    @classmethod
    def give_back(cls, slot: Slot) -> bool:
        with cls.lock:
            intact = slot.chunk.wipe(slot)
            cls._pending.append(slot)
            if not cls._busy:
                cls._busy = True
                try:
                    cls._drain()
                finally:
                    cls._busy = False
            return intact

    @classmethod
    def _drain(cls) -> None:
        """Return wiped slots to their chunks; unmap chunks left empty."""
        while cls._pending:
            slot = cls._pending.pop()
            chunk = slot.chunk
            chunk.free.append(slot.index)
            if len(chunk.free) == chunk.count:
                chunks = cls._chunks.get(chunk.slot_size, [])
                if chunk in chunks:
                    chunks.remove(chunk)
                chunk.region.release()

    @classmethod
    def chunks(cls) -> int:
        return sum(len(v) for v in cls._chunks.values())

