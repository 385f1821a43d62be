"""The interpreter's data-bearing free lists: where they are, and keeping scopes off them.

CPython parks some freed objects on free lists instead of freeing them, and hands them out again
without going through the allocator.  A parked object keeps its payload (a float's value, an
int's digit, a bytes writer's 256-byte inline buffer, a tuple's cached hash), and an object taken
from a list inside a scope was never allocated there, so the allocator wrapper (heap.S) does not
know it.  docs/free-lists.md lists every free list of CPython 3.10-3.15 and says which ones hold
data.

What secretscope does (asm/<arch>/freelists.S): while any thread of the main interpreter is
inside a scope, every data-bearing list is *disabled* -- its head saved and set to NULL, its
count set to the value that refuses pushes (CPython's own "disabled" state on 3.14+: -1).  Inside
a scope nothing is taken from those lists (every such object is allocated, hence recorded, hence
zeroed when freed) and nothing is parked on them (a freed object goes to the allocator, which
zeroes it if the scope allocated it).  When the last thread leaves its scope the saved lists are
put back: they hold only objects parked before any scope began.  The cost is a few loads and
stores per list at the first entry and the last exit, whatever the scope did.

Two kinds of list cannot be disabled, because no count value refuses pushes: 3.10's dict keys (an
array whose push and pop share one counter) and 3.12+'s dtoa Bigints (no count at all).  Their
parked objects are zeroed instead, at every thread's outermost exit, when marked dirty (a word
CPython resets on reuse: dk_nentries, Bigint sign/wds), and marked clean.

None of the interpreters exports these lists, so this module finds them at run time: it parks a
float of its own and looks for the pointer to it in the interpreter state, checks the counter
next to it moving with it, then places the other lists by the version's layout (from CPython's
headers) and checks each one by behaviour -- an object of that kind, freed, is found at that
head; with the list disabled there, it is not parked.  Anything unexpected leaves the mechanism
off and `protection()` says so (heap: False, with the reason); it is never switched on half-way.
"""
from __future__ import annotations

import bisect
import ctypes
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Set, Tuple

from ._cpython import api_function, has_symbol, symbol
from ._interface import FREE_ARRAYS, FREE_CHAINS, FREE_LISTS
from ._platform import free_threaded

#: ss_fl_entries layout (FL_* in interface.inc, from _interface.FREE_LISTS): one record per disabled list
ENTRY_FIELDS = FREE_LISTS.names
MAX_ENTRIES = FREE_LISTS.maximum
ZERO_MAX = FREE_ARRAYS.maximum  # ss_fl_zero records (FLZ_MAX)
CHAINS_MAX = FREE_CHAINS.maximum  # ss_fl_chains records (FLC_MAX)
SCAN_BYTES = 1 << 20          # how much of the interpreter state is searched for the float anchor
CHUNK = 1 << 16


@dataclass(frozen=True)
class ListSpec:
    """One free list of one CPython version."""

    name: str
    what: str                 # what a parked object keeps (docs/free-lists.md)
    index: int                # position in struct _Py_freelists (3.14+), or -1
    maximum: int              # Py_<name>_MAXFREELIST
    free: str                 # the C function CPython frees such an object with when the list is full


# struct _Py_freelists (Include/internal/pycore_freelist_state.h) of 3.14 and 3.15: every field is a
# struct _Py_freelist {void *freelist; Py_ssize_t size;}.  Only the positions matter here.
_LAYOUT_314 = (["floats", "ints"] + [f"tuples[{i}]" for i in range(20)]
               + ["lists", "list_iters", "tuple_iters", "dicts", "dictkeys", "slices", "ranges", "range_iters",
                  "contexts", "async_gens", "async_gen_asends", "futureiters", "object_stack_chunks",
                  "unicode_writers", "pycfunctionobject", "pycmethodobject", "pymethodobjects"])
_LAYOUT_315 = (["floats", "complexes", "ints"] + [f"tuples[{i}]" for i in range(20)]
               + ["lists", "list_iters", "tuple_iters", "dicts", "dictkeys", "slices", "ranges", "range_iters",
                  "contexts", "async_gens", "async_gen_asends", "futureiters", "object_stack_chunks",
                  "unicode_writers", "bytes_writers", "pycfunctionobject", "pycmethodobject", "pymethodobjects"])


class Unsupported(Exception):
    """The free lists are not where, or not what, this module expects: the mechanism stays off."""


class _Memory:
    """Reads this process's memory through /proc/self/mem: a wrong address fails, never faults.

    libc's pread into one ctypes buffer: os.pread would build its result with a bytes writer
    on 3.15, moving the very list being looked at."""

    def __init__(self) -> None:
        self.fd = os.open("/proc/self/mem", os.O_RDONLY)
        libc = ctypes.PyDLL(None)              # keeps the GIL: no other thread runs meanwhile
        self._pread = libc.pread
        self._pread.restype = ctypes.c_ssize_t
        self._pread.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64]
        self.buf = ctypes.create_string_buffer(SCAN_BYTES)

    def _fill(self, address: int, size: int) -> int:
        done = 0
        while done < size:
            got = self._pread(self.fd, ctypes.addressof(self.buf) + done, min(CHUNK, size - done), address + done)
            if got <= 0:
                break
            done += got
        return done

    def read(self, address: int, size: int) -> bytes:
        n = self._fill(address, min(size, SCAN_BYTES))
        out = ctypes.string_at(ctypes.addressof(self.buf), n)
        ctypes.memset(self.buf, 0, n)          # no second copy of what was read stays behind
        return out

    def word(self, address: int, width: int = 8) -> int:
        got = self._fill(address, width)
        value = (ctypes.c_int64 if width == 8 else ctypes.c_int32).from_buffer(self.buf).value
        ctypes.memset(self.buf, 0, width)
        if got != width:
            raise Unsupported(f"cannot read {width} bytes at {address:#x}")
        return value

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class Located:
    """A list found in memory: where its head and count are, and how to disable it."""

    spec: ListSpec
    head: int                 # address of the head pointer
    count: int                # address of the count
    width: int                # 4 (int numfree) or 8 (Py_ssize_t size)
    disabled: int             # count value that refuses every push
    link: int                 # offset of the next-pointer inside a parked object
    free: int                 # function that frees a parked object (for a list refilled mid-scope), or 0


def _interpreter_main() -> int:
    f = api_function("PyInterpreterState_Main")
    f.restype = ctypes.c_void_p
    f.argtypes = []
    return int(f() or 0)


def _le(value: int) -> bytes:
    return (value & (1 << 64) - 1).to_bytes(8, "little")


def _find_float_head(mem: _Memory, base: int, pre_314: bool, span: int) -> Tuple[int, int]:
    """(address of the float list's head, address of its count): park our own floats and look."""
    hold = [i + 0.5 for i in range(300)]       # empties the list (at most 100 parked), then allocates
    before = mem.read(base, span)
    first = hold.pop()
    first_id = id(first)
    del first                                  # parked: head = first, count = 1
    one = mem.read(base, span)
    second = hold.pop()
    second_id = id(second)
    del second                                 # parked: head = second, count = 2
    two = mem.read(base, span)
    found: List[Tuple[int, int]] = []
    needle = _le(first_id)
    at = one.find(needle)
    while at >= 0:
        if at % 8 == 0 and two[at:at + 8] == _le(second_id) and before[at:at + 8] == bytes(8):
            count_at = at - 8 if pre_314 else at + 8
            width = 4 if pre_314 else 8
            counts = [int.from_bytes(snap[count_at:count_at + width], "little", signed=True)
                      for snap in (before, one, two)]
            if counts == [0, 1, 2]:
                found.append((base + at, base + count_at))
        at = one.find(needle, at + 1)
    del hold
    if len(found) != 1:
        raise Unsupported(f"the float free list was found {len(found)} times in the interpreter state")
    return found[0]


class _Probe:
    """Behavioural checks of one list: park a fresh object, disable, park again."""

    def __init__(self, mem: _Memory) -> None:
        self.mem = mem

    def state(self, loc: Located) -> Tuple[int, int]:
        return ctypes.c_void_p.from_address(loc.head).value or 0, self._count(loc).value

    def _count(self, loc: Located) -> Any:
        return (ctypes.c_int32 if loc.width == 4 else ctypes.c_int64).from_address(loc.count)

    def set(self, loc: Located, head: int, count: int) -> None:
        ctypes.c_void_p.from_address(loc.head).value = head or None
        self._count(loc).value = count

    def check(self, loc: Located, park: Callable[[], int]) -> None:
        """park() makes one object of the kind, frees it, returns its address."""
        head, count = self.state(loc)
        if not (0 <= count <= loc.spec.maximum or (count == -1 and loc.width == 8)):
            raise Unsupported(f"{loc.spec.name}: count {count} out of range")
        if (head == 0) != (count <= 0):
            raise Unsupported(f"{loc.spec.name}: head and count disagree")
        self.set(loc, 0, 0)                    # empty (the saved chain is put back below)
        try:
            address = park()
            got_head, got_count = self.state(loc)
            if got_head != address or got_count != 1:
                raise Unsupported(f"{loc.spec.name}: a freed object was not parked where expected")
            self.set(loc, 0, loc.disabled)
            address = park()                   # pop finds nothing: allocates; push is refused: frees
            got_head, got_count = self.state(loc)
            if got_head != 0 or got_count != loc.disabled:
                raise Unsupported(f"{loc.spec.name}: disabling the list did not stop parking")
        finally:
            self.set(loc, head, count)         # (the object parked by the first park() is dropped)


# ---- what parks one object of each kind (returns the object's address) ------------------------

def _park_float() -> int:
    x = len(sys.argv) + 0.5                    # one fresh float, no intermediate
    address = id(x)
    del x
    return address


def _park_complex() -> int:
    x = complex(len(sys.argv), 3)              # no intermediate float
    address = id(x)
    del x
    return address


def _park_int() -> int:
    x = len(sys.argv) + 123456789              # compact (one digit), not a cached small int
    address = id(x)
    del x
    return address


def _park_tuple(n: int) -> Callable[[], int]:
    items = [None] * n

    def park() -> int:
        t = tuple(items)
        address = id(t)
        del t
        return address
    return park


def _park_range_iter() -> int:
    it = iter(range(len(sys.argv), 1 << 40))
    address = id(it)
    del it
    return address


def _writer_parker(create: str, discard: str) -> Callable[[], int]:
    make = api_function(create)
    make.restype, make.argtypes = ctypes.c_void_p, [ctypes.c_ssize_t]
    drop = api_function(discard)
    drop.restype, drop.argtypes = None, [ctypes.c_void_p]

    def park() -> int:
        w = make(0)
        if not w:
            raise Unsupported(f"{create} failed")
        drop(w)
        return int(w)
    return park


def _specs(version: Tuple[int, int]) -> List[Tuple[ListSpec, Callable[[], int]]]:
    """The data-bearing lists of this version, with the action that parks one object."""
    out: List[Tuple[ListSpec, Callable[[], int]]] = []
    layout = _LAYOUT_315 if version >= (3, 15) else _LAYOUT_314 if version >= (3, 14) else None

    def add(name: str, what: str, maximum: int, free: str, park: Callable[[], int]) -> None:
        index = layout.index(name) if layout is not None else -1
        out.append((ListSpec(name, what, index, maximum, free), park))

    add("floats", "the value (ob_fval)", 100, "PyObject_Free", _park_float)
    if layout is None:
        return out
    add("ints", "the digit of a one-digit int (|value| < 2**30)", 100, "PyObject_Free", _park_int)
    if "complexes" in layout:
        add("complexes", "the value (cval)", 100, "PyObject_Free", _park_complex)
    for n in range(1, 21):
        add(f"tuples[{n - 1}]", "the cached hash of the tuple (ob_hash; invertible for an int item)", 2000,
            "PyObject_GC_Del", _park_tuple(n))
    add("range_iters", "start, step and length (C longs)", 6, "PyObject_Free", _park_range_iter)
    if has_symbol("PyUnicodeWriter_Create"):
        add("unicode_writers", "length and largest code point of the text written", 1, "PyMem_Free",
            _writer_parker("PyUnicodeWriter_Create", "PyUnicodeWriter_Discard"))
    if "bytes_writers" in layout:
        add("bytes_writers", "the 256-byte inline buffer (small_buffer)", 1, "PyMem_Free",
            _writer_parker("PyBytesWriter_Create", "PyBytesWriter_Discard"))
    return out


ATTEMPTS = 5
DTOA_STATIC_NOT_FOUND = ("free lists: dtoa's Bigints (digits of float/str conversions) were not located in this "
                         "CPython 3.10-3.11 build's .bss: those parked inside a scope are not zeroed")
SUBINTERPRETER_NOTE = "free lists: a subinterpreter's free lists are not kept off (only the main interpreter's)"


def locate() -> Tuple[List[Located], List[ZeroedArray], List[ZeroedChains]]:
    """Every data-bearing free list of the main interpreter, located and checked (or Unsupported).

    Other threads making floats (or tuples, ints...) at the same moment could move a list while it
    is looked at: the interpreter is asked not to switch threads meanwhile (the reads hold the GIL),
    and a failed attempt is repeated before giving up."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(max(interval, 30.0))
    try:
        for attempt in range(ATTEMPTS):
            try:
                return _locate_once()
            except Unsupported as exc:
                if attempt == ATTEMPTS - 1 or str(exc) == SUBINTERPRETER_NOTE:
                    raise
        raise AssertionError("unreachable")
    finally:
        sys.setswitchinterval(interval)


@dataclass
class ZeroedArray:
    """An array free list that cannot be disabled: dirty parked objects are zeroed at scope exits."""

    name: str
    what: str
    array: int                # address of the array of parked objects
    count: int                # address of its count (int)
    dirty: int                # offset of a word non-zero while the payload is (cleared once zeroed)
    zero_off: int             # the payload: offset and size
    zero_bytes: int
    limit: int                # the array's length


#: 3.10's PyDictKeysObject (Objects/dict-common.h): dk_refcnt, dk_size, dk_lookup, dk_usable,
#: dk_nentries (+32), dk_indices[8] (+40, one byte each for size 8), then 5 entries {hash, key, value}
_DK_SIZE, _DK_NENTRIES, _DK_INDICES, _DK_PAYLOAD = 8, 32, 40, 8 + 5 * 24
_DICT_MA_KEYS = 32            # PyDictObject: PyObject_HEAD, ma_used, ma_version_tag, ma_keys
_DICT_MAXFREELIST = 80


def _locate_dictkeys_310(mem: _Memory, near: int) -> ZeroedArray:
    """3.10's keys_free_list (interp->dict_state): park the keys of a dict of our own and look."""
    key = len(sys.argv) + 12345678901234                   # an int key: entries with hashes
    hold = [{key + i: i} for i in range(_DICT_MAXFREELIST + 20)]   # empties the list, then allocates
    before = mem.read(near, 1 << 14)
    d = {key: 1}
    keys = ctypes.c_void_p.from_address(id(d) + _DICT_MA_KEYS).value or 0
    if not keys or mem.word(keys + _DK_SIZE) != 8 or mem.word(keys + _DK_NENTRIES) != 1 \
            or mem.word(keys + _DK_INDICES + 8) != hash(key) or mem.word(keys + _DK_INDICES + 16) != id(key):
        raise Unsupported("dict keys: the layout of a small dict's keys is not the expected one")
    del d                                                  # parked: array[0] = keys, count 0 -> 1
    after = mem.read(near, 1 << 14)
    del hold
    found: List[int] = []
    at = after.find(_le(keys))
    while at >= 0:
        count_at = at + 8 * _DICT_MAXFREELIST
        if at % 8 == 0 and before[count_at:count_at + 4] == (0).to_bytes(4, "little") \
                and after[count_at:count_at + 4] == (1).to_bytes(4, "little"):
            found.append(at)
        at = after.find(_le(keys), at + 1)
    if len(found) != 1:
        raise Unsupported(f"dict keys: the keys free list was found {len(found)} times")
    return ZeroedArray("dictkeys", "the hashes of a small dict's keys (an int key's value mod 2**61 - 1)",
                       near + found[0], near + found[0] + 8 * _DICT_MAXFREELIST, _DK_NENTRIES, _DK_INDICES,
                       _DK_PAYLOAD, _DICT_MAXFREELIST)


@dataclass
class ZeroedChains:
    """Linked free lists that cannot be disabled (dtoa's Bigints: no count, every free is a push):
    dirty parked nodes are zeroed at scope exits."""

    name: str
    what: str
    heads: int                # address of the array of list heads
    nheads: int
    dirty: int                # offset of an 8-byte word non-zero while the payload is (then cleared)
    words: int                # offset of the int32 number of 4-byte data words
    data: int                 # offset of the data
    max_words: int            # a larger count is not trusted (the node is skipped)
    limit: int                # nodes walked per list at most


#: struct Bigint {struct Bigint *next; int k, maxwds, sign, wds; uint32_t x[1];} and struct
#: _dtoa_state {Bigint *p5s[8]; Bigint *freelist[Bigint_Kmax + 1]; double preallocated[288];
#: double *preallocated_next;} (pycore_dtoa.h 3.12-3.13, pycore_interp_structs.h 3.14+)
_BIGINT_KMAX, _DTOA_PREALLOC = 7, 2304
_BIGINT_K, _BIGINT_MAXWDS, _BIGINT_SIGN, _BIGINT_X = 8, 12, 16, 24
_CHAIN_LIMIT = 4096


def _bigint_lists_consistent(mem: _Memory, heads: int) -> int:
    """Parked Bigints found on the lists at `heads` (each with k == its list, maxwds == 2**k), or -1."""
    try:
        return _count_bigints(mem, heads)
    except Unsupported:                                   # a pointer that is not one
        return -1


def _count_bigints(mem: _Memory, heads: int) -> int:
    total = 0
    for k in range(_BIGINT_KMAX + 1):
        node, n = mem.word(heads + 8 * k) & (1 << 64) - 1, 0
        while node:
            if mem.word(node + _BIGINT_K, 4) != k or mem.word(node + _BIGINT_MAXWDS, 4) != 1 << k:
                return -1
            n += 1
            if n > _CHAIN_LIMIT:
                return -1
            node = mem.word(node) & (1 << 64) - 1
        total += n
    return total


def _locate_dtoa(mem: _Memory, base: int) -> ZeroedChains:
    """interp->dtoa (3.12+): preallocated_next points into the 2304-byte pool just before it."""
    repr(len(sys.argv) / 3.0)                                  # Bigints parked on the lists now
    data = mem.read(base, SCAN_BYTES)
    words = memoryview(data)[:len(data) // 8 * 8].cast("Q")
    found: List[int] = []
    for i in range((_DTOA_PREALLOC + 128) // 8, len(words)):
        if -_DTOA_PREALLOC <= words[i] - (base + 8 * i) <= 0:
            heads = base + 8 * i - _DTOA_PREALLOC - 8 * (_BIGINT_KMAX + 1)
            if _bigint_lists_consistent(mem, heads) > 0:
                found.append(heads)
    if len(found) != 1:
        raise Unsupported(f"dtoa: the Bigint free lists were found {len(found)} times in the interpreter state")
    return ZeroedChains("dtoa_bigints", "digits of numbers converted between float and str", found[0],
                        _BIGINT_KMAX + 1, _BIGINT_SIGN, _BIGINT_MAXWDS, _BIGINT_X, 1 << _BIGINT_KMAX, _CHAIN_LIMIT)


def _maps() -> List[Tuple[int, int, str, str]]:
    """(start, end, permissions, path) of every mapping of this process."""
    rows: List[Tuple[int, int, str, str]] = []
    with open("/proc/self/maps") as f:
        for row in f.read().splitlines():
            parts = row.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            rows.append((lo, hi, parts[1], parts[5] if len(parts) > 5 else ""))
    return rows


def _bss_ranges(rows: List[Tuple[int, int, str, str]], code_address: int) -> List[Tuple[int, int]]:
    """Where the .bss of the object whose code holds code_address lies: .bss follows .data, so it
    starts within the last page of the object's last rw file mapping and goes on in the anonymous
    mapping right after it, if any (zero-initialized statics, such as dtoa's free lists, are there)."""
    owner = next((name for lo, hi, _, name in rows if lo <= code_address < hi and name.startswith("/")), None)
    if owner is None:
        raise Unsupported("dtoa: the object holding the interpreter's code was not found in /proc/self/maps")
    last = max((i for i, (_, _, perms, name) in enumerate(rows) if name == owner and perms.startswith("rw")),
               default=None)
    if last is None:
        raise Unsupported("dtoa: the interpreter's object has no writable mapping")
    lo, hi = rows[last][0], rows[last][1]
    out = [(max(lo, hi - os.sysconf("SC_PAGE_SIZE")), hi)]
    if last + 1 < len(rows) and not rows[last + 1][3] and rows[last + 1][0] == hi and rows[last + 1][2].startswith("rw"):
        out.append((hi, rows[last + 1][1]))
    return out


def _read_all(mem: _Memory, lo: int, hi: int) -> bytes:
    return b"".join(mem.read(at, min(SCAN_BYTES, hi - at)) for at in range(lo, hi, SCAN_BYTES))


def _locate_dtoa_static(mem: _Memory) -> ZeroedChains:
    """3.10-3.11: dtoa.c's `static Bigint *freelist[Kmax + 1]` in the interpreter's own .bss (no
    symbol in a stripped build): the one array of 8 list heads whose chains are consistent Bigints
    (k == the list, maxwds == 2**k), with some parked after a conversion.

    Only words that point into writable memory, in runs of 8 or more such words (or NULLs), are
    candidates; a head node's own k says which slot of the array it is in (read from the snapshot
    when the node is dtoa's private_mem, in the same .bss, else through /proc/self/mem)."""
    repr(len(sys.argv) / 3.0)                                  # Bigints parked on the lists now
    rows = _maps()
    writable = sorted((lo, hi) for lo, hi, perms, _ in rows if perms.startswith("rw"))
    starts = [lo for lo, _ in writable]
    snapshots = [(lo, _read_all(mem, lo, hi)) for lo, hi in _bss_ranges(rows, symbol("_Py_dg_dtoa"))]

    def header(node: int) -> Tuple[int, int]:
        for lo, data in snapshots:
            if lo <= node and node + 16 <= lo + len(data):
                o = node - lo
                return int.from_bytes(data[o + 8:o + 12], "little"), int.from_bytes(data[o + 12:o + 16], "little")
        try:
            return mem.word(node + _BIGINT_K, 4), mem.word(node + _BIGINT_MAXWDS, 4)
        except Unsupported:
            return -1, -1

    def into_writable(w: int) -> bool:
        j = bisect.bisect_right(starts, w) - 1
        return j >= 0 and w + 16 <= writable[j][1]

    found: Set[int] = set()
    for lo, data in snapshots:
        words = memoryview(data)[:len(data) // 8 * 8].cast("Q")
        # a word can be a head only inside a run of 8 or more words that are each NULL or an aligned
        # pointer into writable memory (the array); most of .data is pointers to code or constants
        ok = [w == 0 or (not w & 7 and into_writable(w)) for w in words]
        in_run = [False] * len(ok)
        i = 0
        while i < len(ok):
            if not ok[i]:
                i += 1
                continue
            j = i
            while j < len(ok) and ok[j]:
                j += 1
            if j - i > _BIGINT_KMAX:
                in_run[i:j] = [True] * (j - i)
            i = j
        for i, w in enumerate(words):
            if not w or not in_run[i]:
                continue
            k, maxwds = header(w)
            if not 0 <= k <= _BIGINT_KMAX or maxwds != 1 << k or i < k:
                continue
            heads = lo + 8 * (i - k)
            if heads not in found and _bigint_lists_consistent(mem, heads) > 0:
                found.add(heads)
    if len(found) != 1:
        raise Unsupported(f"dtoa: the Bigint free lists were found {len(found)} times in the interpreter's data")
    return ZeroedChains("dtoa_bigints", "digits of numbers converted between float and str", found.pop(),
                        _BIGINT_KMAX + 1, _BIGINT_SIGN, _BIGINT_MAXWDS, _BIGINT_X, 1 << _BIGINT_KMAX, _CHAIN_LIMIT)


def _locate_once() -> Tuple[List[Located], List[ZeroedArray], List[ZeroedChains]]:
    version = sys.version_info[:2]
    if free_threaded():
        raise Unsupported("free lists: the free-threaded build keeps them per thread (heap is unavailable anyway)")
    if not (3, 10) <= version <= (3, 15):
        raise Unsupported(f"free lists: CPython {version[0]}.{version[1]} is not a version whose layout is known")
    if not has_symbol("PyInterpreterState_Main"):
        raise Unsupported("free lists: PyInterpreterState_Main is not exported")
    base = _interpreter_main()
    if not base:
        raise Unsupported("free lists: no main interpreter")
    if _interpreter_current() != base:
        raise Unsupported(SUBINTERPRETER_NOTE)
    pre_314 = version < (3, 14)
    mem = _Memory()
    try:
        span = 1 << 16                         # 3.10-3.15: within 300 KiB of its start
        while True:
            try:
                head, count = _find_float_head(mem, base, pre_314, span)
                break
            except Unsupported:
                if span >= SCAN_BYTES:
                    raise
                span *= 4
        located: List[Located] = []
        probe = _Probe(mem)
        for spec, park in _specs(version):
            if pre_314:
                # struct _Py_float_state / _Py_float_freelist {int numfree; PyFloatObject *free_list;},
                # linked through ob_type; a gc clear resets numfree to 0 (re-enabling the list).
                loc = Located(spec, head, count, 4, spec.maximum, 8, symbol(spec.free))
            else:
                # struct _Py_freelist {void *freelist; Py_ssize_t size;}, linked through the first word;
                # size -1 is CPython's own "disabled" (gc clears leave it, only finalization sets it)
                fl = head + 16 * spec.index
                loc = Located(spec, fl, fl + 8, 8, -1, 0, symbol(spec.free))
            probe.check(loc, park)
            located.append(loc)
        arrays = [_locate_dictkeys_310(mem, head)] if version == (3, 10) else []
        if version >= (3, 12):
            chains = [_locate_dtoa(mem, base)]
        else:
            try:
                chains = [_locate_dtoa_static(mem)]
            except Unsupported:
                chains = []    # the other lists still hold: reported by FreeLists.limits()
        return located, arrays, chains
    finally:
        mem.close()


class FreeLists:
    """Installs the located lists into asm/<arch>/freelists.S, once, at the process's first scope."""

    def __init__(self, lib: Any, heap_available: bool) -> None:
        self.lib = lib
        self.located: List[Located] = []
        self.arrays: List[ZeroedArray] = []
        self.chains: List[ZeroedChains] = []
        self.reason: Optional[str] = None
        self.installed = False
        self._tried = False
        self._lock = threading.Lock()
        if not heap_available:
            self.reason = "free lists: not kept off (the heap wrapper is unavailable)"
        elif not hasattr(lib, "ss_fl_entries"):
            self.reason = "free lists: not implemented on this architecture yet"
        if self.reason is not None:
            self._tried = True
            return
        self.count = ctypes.c_uint64.in_dll(lib, "ss_fl_count")
        self.inside = ctypes.c_uint64.in_dll(lib, "ss_fl_inside")
        self.stats = (ctypes.c_uint64 * 3).in_dll(lib, "ss_fl_stats")
        lib.ss_freelists_reset.restype = None
        lib.ss_freelists_reset.argtypes = [ctypes.c_uint64]
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _free_function(self, loc: Located) -> int:
        """What frees an object of a list found refilled at the last exit.  3.10-3.13's float list
        (the one a gc.collect() re-enables inside a scope): ss_fl_free_float, which zeroes the value
        and then calls the list's own free function, since a float allocated before the scope may
        have been parked, reused for a value of the scope and parked again, never recorded."""
        if loc.spec.name != "floats" or sys.version_info >= (3, 14) or not loc.free:
            return loc.free
        ctypes.c_uint64.in_dll(self.lib, "ss_fl_float_free").value = loc.free
        return ctypes.cast(self.lib.ss_fl_free_float, ctypes.c_void_p).value or 0

    def ensure(self) -> None:
        """Locate and install (first call only; the calling thread is not inside a scope yet)."""
        if self._tried:
            return
        with self._lock:
            if self._tried:
                return
            try:
                located, arrays, chains = locate()
            except (Unsupported, OSError) as exc:
                self.reason = str(exc) if str(exc).startswith("free lists") else f"free lists: {exc}"
                self._tried = True
                return
            if len(located) > MAX_ENTRIES:
                self.reason = f"free lists: {len(located)} lists, more than the {MAX_ENTRIES} the backend holds"
                self._tried = True
                return
            stride = FREE_LISTS.words
            entries = (ctypes.c_uint64 * (MAX_ENTRIES * stride)).in_dll(self.lib, "ss_fl_entries")
            for i, loc in enumerate(located):
                values = (loc.head, loc.count, loc.width, loc.disabled & (1 << 64) - 1, loc.link,
                          self._free_function(loc), 0, 0)
                assert len(values) == len(ENTRY_FIELDS)
                for j, value in enumerate(values):
                    entries[i * stride + j] = value
            # the other two tables: one field of the record per attribute of the same name
            zero = (ctypes.c_uint64 * (ZERO_MAX * FREE_ARRAYS.words)).in_dll(self.lib, "ss_fl_zero")
            for i, arr in enumerate(arrays[:ZERO_MAX]):
                for j, name in enumerate(FREE_ARRAYS.names):
                    zero[i * FREE_ARRAYS.words + j] = getattr(arr, name)
            chain_table = (ctypes.c_uint64 * (CHAINS_MAX * FREE_CHAINS.words)).in_dll(self.lib, "ss_fl_chains")
            for i, ch in enumerate(chains[:CHAINS_MAX]):
                for j, name in enumerate(FREE_CHAINS.names):
                    chain_table[i * FREE_CHAINS.words + j] = getattr(ch, name)
            ctypes.c_uint64.in_dll(self.lib, "ss_fl_interp").value = _interpreter_main()
            ctypes.c_uint64.in_dll(self.lib, "ss_fl_get_interp").value = symbol("PyInterpreterState_Get")
            self.located, self.arrays, self.chains = located, arrays, chains
            ctypes.c_uint64.in_dll(self.lib, "ss_fl_zero_count").value = len(arrays)
            ctypes.c_uint64.in_dll(self.lib, "ss_fl_chain_count").value = len(chains)
            self.count.value = len(located)        # last: the trampolines act from here on
            self.installed = True
            self._tried = True

    def _after_fork(self) -> None:
        # Only the forking thread lives on in the child; it may be inside a scope itself.
        if self.installed:
            self.lib.ss_freelists_reset(1 if self.lib.ss_thread_depth() else 0)

    @property
    def names(self) -> List[str]:
        return ([loc.spec.name for loc in self.located] + [arr.name for arr in self.arrays]
                + [ch.name for ch in self.chains])

    def limits(self) -> Tuple[str, ...]:
        """Exceptions of a free-list guarantee that holds (protection().limits)."""
        if not self.installed or sys.version_info >= (3, 12):
            return ()
        if any(c.name == "dtoa_bigints" for c in self.chains):
            return ()
        return (DTOA_STATIC_NOT_FOUND,)

    def note(self) -> Optional[str]:
        """Why the free-list part of the heap guarantee does not hold here, or None."""
        self.ensure()                              # never a "yes" before the lists were checked
        if self.reason is not None:
            return self.reason
        if self.installed and _interpreter_current() != _interpreter_main():
            return SUBINTERPRETER_NOTE
        return None


def _interpreter_current() -> int:
    f = api_function("PyInterpreterState_Get")
    f.restype = ctypes.c_void_p
    f.argtypes = []
    return int(f() or 0)
