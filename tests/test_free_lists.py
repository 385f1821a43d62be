"""Guarantee 3, free lists: no object parked on an interpreter free list holds data a scope put there.

For every data-bearing free list of the running CPython (docs/free-lists.md), a sentinel is put
through an object of that kind -- a float whose bits are the sentinel, a one-digit int, a complex,
a hashed tuple, a range iterator, a bytes writer (3.15), a unicode writer -- and the object is
dropped.  Three runs each:

- control, without a scope: the object is parked on its list holding the sentinel;
- "off", inside a scope but with the free-list mechanism switched off: the same (the allocator
  wrapper alone cannot see it: the object came from the list, not from the allocator);
- scoped: nothing holds it -- not the object, not the list, and (for 8-byte sentinels) nowhere
  in the process, before and after gc.collect().

The 3.15 bytes-writer case of issue 12 is covered explicitly: the writer is allocated before the
scope and would be reused inside it.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc

import struct
import sys
import threading
from typing import Callable, Iterator, NoReturn, Tuple

import pytest

from secretscope import do, protection
from secretscope._freelists import FreeLists, Unsupported, _Memory
from secretscope.diagnostics.memory_scan import bytes_sentinel_masked, make_bytes, writable_mappings
from secretscope.diagnostics.probe import masked_bytes

# this module's tags (tests/_support/residue.py): the id bytes no other test family uses
_tags = iter([*range(0x00, 0x0A), 0x0E, 0x0F, 0x10, *range(0x1A, 0x20), 0x5B, 0x5F, 0x90, *range(0x9A, 0xA0),
              *range(0xB6, 0xC0)])
MODES = ["control", "off", "scoped"]


@pytest.fixture(scope="module")
def lists(native):
    fl = native.free_lists
    fl.ensure()
    if not fl.installed:
        if native.arch == "aarch64" and fl.reason and "architecture" in fl.reason:
            pytest.skip(fl.reason)
        pytest.fail(f"free lists not installed: {fl.reason}")
    return fl


@pytest.fixture(scope="module")
def mem():
    m = _Memory()
    yield m
    m.close()




def _not_here(what: str) -> NoReturn:
    pytest.skip(f"CPython {sys.version_info[0]}.{sys.version_info[1]} {what} (docs/free-lists.md)")


def _located(lists: FreeLists, name: str):
    for loc in lists.located:
        if loc.spec.name == name:
            return loc
    _not_here(f"has no {name} free list")


def _head(loc) -> int:
    return ctypes.c_void_p.from_address(loc.head).value or 0


@contextlib.contextmanager
def _mechanism_off(lists: FreeLists) -> Iterator[None]:
    """The negative control inside a scope: the trampolines skip the lists while count is 0."""
    assert lists.inside.value == 0
    zero = ctypes.c_uint64.in_dll(lists.lib, "ss_fl_zero_count")
    chains = ctypes.c_uint64.in_dll(lists.lib, "ss_fl_chain_count")
    saved = lists.count.value, zero.value, chains.value
    lists.count.value = zero.value = chains.value = 0
    try:
        yield
    finally:
        lists.count.value, zero.value, chains.value = saved


def _run(lists: FreeLists, mode: str, body: Callable[[], Tuple[int, ...]]) -> Tuple[int, ...]:
    if mode == "control":
        return body()
    if mode == "off":
        with _mechanism_off(lists):
            return do(body)
    return do(body)


def _sentinel_word(tag: int) -> int:
    """The 8-byte sentinel as an int (built from its masked form: call inside the run)."""
    return int.from_bytes(bytes(b ^ 0xA5 for b in masked_bytes(tag)), "little")


def _parked(mem, loc) -> list:
    """The objects on the list now (read through /proc/self/mem: never faults)."""
    out, node = [], _head(loc)
    while node and len(out) <= loc.spec.maximum:
        out.append(node)
        node = mem.word(node + loc.link) & (1 << 64) - 1
    return out


def _check(mem, loc, mode, addresses, holds, scanner=None, tag=None):
    """control/off: (most of) the objects are parked, holding the secret; scoped: none of them is
    parked or holds it, and for an 8-byte sentinel, nothing in the process does.

    Several objects are used, because the interpreter may take one of them off the list for an
    object of its own before it is looked at."""
    if mode == "scoped" and scanner is not None:
        assert scanner.count_process(bytes_sentinel_masked(tag)) == 0   # first: before any read
    parked = set(_parked(mem, loc))
    kept = [a for a in addresses if a in parked and holds(a)]
    if mode != "scoped":
        assert len(kept) >= len(addresses) // 2, \
            f"{loc.spec.name}: the control parked {len(kept)} of {len(addresses)} objects with the secret"
        return
    assert not parked & set(addresses), f"{loc.spec.name}: an object of the scope was parked"
    assert not [a for a in addresses if holds(a)], f"{loc.spec.name}: an object of the scope holds the secret"


def _many(loc, make: Callable[[], object]) -> Callable[[], Tuple[int, ...]]:
    """A body that makes several objects of the kind (each with the secret) and drops them."""
    def body():
        objs = [make() for _ in range(min(loc.spec.maximum, 20))]
        addresses = tuple(id(o) for o in objs)
        del objs
        return addresses
    return body


def _word_at(mem, offset: int, value: int, width: int = 8) -> Callable[[int], bool]:
    mask = (1 << 8 * width) - 1
    return lambda a: mem.word(a + offset, width) & mask == value & mask


# ---- the lists --------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_floats(lists, mem, scanner, mode):
    loc = _located(lists, "floats")
    tag = next(_tags)
    body = _many(loc, lambda: struct.unpack("<d", make_bytes(tag, 8))[0])   # ob_fval is the sentinel
    addresses = _run(lists, mode, body)
    _check(mem, loc, mode, addresses, _word_at(mem, 16, _sentinel_word(tag)), scanner, tag)


@pytest.mark.parametrize("mode", MODES)
def test_floats_refilled_by_gc_inside_the_scope(lists, mem, scanner, mode):
    """3.10-3.13: gc.collect() clears the float list and resets its count, re-enabling it mid-scope."""
    loc = _located(lists, "floats")
    tag = next(_tags)
    inner = _many(loc, lambda: struct.unpack("<d", make_bytes(tag, 8))[0])

    def body():
        gc.collect()
        return inner()
    addresses = _run(lists, mode, body)
    _check(mem, loc, mode, addresses, _word_at(mem, 16, _sentinel_word(tag)), scanner, tag)


@pytest.mark.parametrize("mode", MODES)
def test_floats_from_before_the_scope_reused_after_gc(lists, probe, mode):
    """3.10-3.13: floats allocated BEFORE the scope (never recorded), freed inside it after a
    gc.collect() re-enabled the list, so parked; taken again for values of the scope and parked once
    more.  The last exit frees what the list holds; without zeroing each value first the secret
    stayed in those freed floats ('off' and 'control' keep them parked, holding it).

    Freed pymalloc blocks are reused at once (last freed, first reused), so the values are read
    right after the scope by one probe call per float over spans computed inside it: nothing of
    the floats' size class is allocated before they are looked at."""
    loc = _located(lists, "floats")
    if sys.version_info >= (3, 14):
        _not_here("does not clear the float list in gc.collect()")
    tag = next(_tags)
    n = loc.spec.maximum             # a full list
    before = [float(i) + 0.25 for i in range(n)]   # not recorded

    def body():
        gc.collect()                 # clears the float list and its count: re-enabled
        before.clear()               # the old floats parked on it
        objs = [struct.unpack("<d", make_bytes(tag, 8))[0] for _ in range(n)]   # popped for the secret
        spans = tuple((id(o) + 16, id(o) + 24) for o in objs)                  # ob_fval of each
        del objs                     # parked again
        return spans
    spans = _run(lists, mode, body)
    holding = sum(probe.count(lo, hi, tag) for lo, hi in spans)
    if mode == "scoped":
        assert holding == 0, f"{holding} of {n} floats freed at the last exit kept the secret"
    else:
        assert holding >= n // 2, f"the control: only {holding} of {n} parked floats hold the secret"


@pytest.mark.parametrize("mode", MODES)
def test_ints(lists, mem, mode):
    loc = _located(lists, "ints")
    tag = next(_tags)
    digit = 0x1EC2E7 << 8 | tag
    body = _many(loc, lambda: (0x1EC2E7 << 8 | tag) & 0x3FFFFFFF)   # one 30-bit digit: a compact int
    addresses = _run(lists, mode, body)
    _check(mem, loc, mode, addresses, _word_at(mem, 24, digit, 4))


@pytest.mark.parametrize("mode", MODES)
def test_complexes(lists, mem, scanner, mode):
    loc = _located(lists, "complexes")
    tag = next(_tags)

    def make():
        part = struct.unpack("<d", make_bytes(tag, 8))[0]
        return complex(part, part)                       # cval: two copies of the sentinel
    addresses = _run(lists, mode, _many(loc, make))
    _check(mem, loc, mode, addresses, _word_at(mem, 16, _sentinel_word(tag)), scanner, tag)


@pytest.mark.parametrize("mode", MODES)
def test_tuple_hashes(lists, mem, mode):
    """3.14+ caches a tuple's hash in the tuple; for (n,) it gives n back (mod 2**61 - 1)."""
    loc = _located(lists, "tuples[0]")
    tag = next(_tags)
    value = (0x51EC2E7 << 8 | tag) * 3
    expected = hash((value,))

    def make():
        t = ((0x51EC2E7 << 8 | tag) * 3,)
        hash(t)
        return t
    addresses = _run(lists, mode, _many(loc, make))
    _check(mem, loc, mode, addresses, _word_at(mem, 24, expected))


@pytest.mark.parametrize("mode", MODES)
def test_range_iterators(lists, mem, mode):
    loc = _located(lists, "range_iters")
    tag = next(_tags)
    start = 0x51EC2E7 << 8 | tag
    addresses = _run(lists, mode, _many(loc, lambda: iter(range(0x51EC2E7 << 8 | tag, 1 << 40))))
    _check(mem, loc, mode, addresses, _word_at(mem, 16, start))   # start, step, len: C longs


@pytest.mark.parametrize("mode", MODES)
def test_unicode_writers(lists, mem, mode):
    """The public PyUnicodeWriter (3.14+) keeps how much was written (pos) and the text's kind."""
    loc = _located(lists, "unicode_writers")
    create = ctypes.pythonapi.PyUnicodeWriter_Create
    create.restype, create.argtypes = ctypes.c_void_p, [ctypes.c_ssize_t]
    write = ctypes.pythonapi.PyUnicodeWriter_WriteUTF8
    write.restype, write.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ssize_t]
    discard = ctypes.pythonapi.PyUnicodeWriter_Discard
    discard.restype, discard.argtypes = None, [ctypes.c_void_p]
    tag = next(_tags)
    length = 0x1000 + tag                                # the "secret": the length of the text
    text = b"a" * length

    def body():
        w = create(0)
        assert w and write(w, text, length) == 0
        discard(w)
        return (w,)
    addresses = _run(lists, mode, body)
    # _PyUnicodeWriter: buffer, data, kind, maxchar, size, pos (+32); the first word is the link
    _check(mem, loc, mode, addresses, _word_at(mem, 32, length))


@pytest.mark.parametrize("mode", MODES)
def test_dict_keys_hashes_310(lists, mem, mode):
    """3.10 parks a small dict's keys object with its entries {hash, key, value}: an int key's hash is
    the key (mod 2**61 - 1).  That list is an array (it cannot be disabled): zeroed at scope exit."""
    arr = next((a for a in lists.arrays if a.name == "dictkeys"), None) or _not_here(
        "parks only str-keyed dict keys, without hashes")
    tag = next(_tags)
    secret_key = (0x51EC2E7 << 8 | tag) * 7

    def body():
        dicts = [{(0x51EC2E7 << 8 | tag) * 7: i} for i in range(10)]
        keys = tuple(ctypes.c_void_p.from_address(id(d) + 32).value for d in dicts)
        del dicts
        return keys
    addresses = _run(lists, mode, body)
    n = mem.word(arr.count, 4)
    parked = {mem.word(arr.array + 8 * i) & (1 << 64) - 1 for i in range(max(0, min(n, arr.limit)))}
    holding = [a for a in addresses if mem.word(a + 48) == secret_key]   # entry 0's hash
    if mode != "scoped":
        assert len([a for a in holding if a in parked]) >= 5, "the control parked no keys with the hash"
    else:
        assert not holding, "a parked keys object of the scope still holds the key's hash"


def _bigints(mem, chain) -> list:
    out = []
    for k in range(chain.nheads):
        node = mem.word(chain.heads + 8 * k) & (1 << 64) - 1
        while node and len(out) < 10000:
            out.append(node)
            node = mem.word(node) & (1 << 64) - 1
    return out


@pytest.mark.parametrize("mode", MODES)
def test_dtoa_bigints(lists, mem, mode):
    """float <-> str conversions (repr, format, float(str)) work in dtoa's Bigints, which are parked on
    lists of their own, never freed: the digits of the number stay there (3.12+: interp->dtoa)."""
    chain = next((c for c in lists.chains if c.name == "dtoa_bigints"), None) or _not_here(
        "keeps dtoa's Bigints in static variables of libpython, not located")
    tag = next(_tags)

    def body():
        text = format((0x51EC2E7 * 1000 + tag) / 7.0 / 2 ** 60, ".60e")   # 61 digits through a Bigint
        del text
        return ()
    _run(lists, mode, body)
    nodes = _bigints(mem, chain)
    dirty = [n for n in nodes if mem.word(n + chain.dirty) != 0]
    if mode == "scoped":
        assert not dirty, f"{len(dirty)} parked Bigints still hold data after the scope"
        return
    digits = format((0x51EC2E7 * 1000 + tag) / 7.0 / 2 ** 60, ".60e").split("e")[0].replace(".", "")
    wanted = digits.rstrip("0")[12:].encode()          # (bytes 0-15 of the Bigint are its header)
    assert len(wanted) >= 16
    assert any(wanted in mem.read(n, 600) for n in dirty), "the control left no digits in a Bigint"


def _writer_holds(mem, address: int, masked: bytes) -> bool:
    # struct PyBytesWriter { char small_buffer[256]; ... }: the list's link overwrites bytes 0-7
    return bytes(b ^ 0xA5 for b in mem.read(address + 8, 24)) == masked[8:32]


@pytest.mark.parametrize("op", ["fromhex", "to_bytes", "bytes_of_list"])
@pytest.mark.parametrize("mode", MODES)
def test_bytes_writer_allocated_before_the_scope(lists, mem, scanner, mode, op):
    """Issue 12's case: the writer was parked before the scope; the scope would reuse it."""
    loc = _located(lists, "bytes_writers")
    tag = next(_tags)
    masked = masked_bytes(tag) * 4                       # what the writer would hold, masked
    bytes.fromhex("00" * 40)                             # a writer, allocated outside, now parked
    writer = _head(loc)
    assert writer and not _writer_holds(mem, writer, masked)

    def body():
        secret = make_bytes(tag, 32)
        if op == "fromhex":
            out = bytes.fromhex(secret.hex())
        elif op == "to_bytes":
            out = int.from_bytes(secret, "little").to_bytes(32, "little")
        else:
            out = bytes(list(secret))
        del out, secret
        return ()
    _run(lists, mode, body)
    if mode != "scoped":
        assert _head(loc) == writer, "the control did not reuse the writer"
        assert _writer_holds(mem, writer, masked), "the control's writer lost the data"
        return
    assert scanner.count_process(bytes_sentinel_masked(tag), list(writable_mappings())) == 0
    assert _head(loc) == writer, "the saved list was not put back"
    assert not _writer_holds(mem, writer, masked)
    gc.collect()                                         # frees the writer (it never held the secret)
    assert scanner.count_process(bytes_sentinel_masked(tag), list(writable_mappings())) == 0


# ---- behaviour of the mechanism ----------------------------------------------------------------

def test_lists_stay_disabled_while_any_thread_is_inside(lists, native):
    loc = _located(lists, "floats")
    inside, release = threading.Event(), threading.Event()

    def worker():
        inside.set()
        release.wait(30)

    before = _head(loc)
    t = threading.Thread(target=do, args=(worker,))
    t.start()
    assert inside.wait(30)
    try:
        assert lists.inside.value == 1
        assert _head(loc) == 0                           # disabled by the other thread's scope

        def nested():
            assert lists.inside.value == 2
            return _head(loc)
        assert do(nested) == 0
        assert lists.inside.value == 1 and _head(loc) == 0   # ours ended, the other's has not
    finally:
        release.set()
        t.join(30)
    assert lists.inside.value == 0
    assert _head(loc) != 0 or before == 0                # put back when the last one left


def test_verification_failure_is_reported(native, monkeypatch):
    import secretscope._freelists as fl_module

    def broken():
        raise Unsupported("free lists: the float free list was found 0 times in the interpreter state")
    monkeypatch.setattr(fl_module, "locate", broken)
    fresh = FreeLists(native.lib, heap_available=True)
    assert fresh.note() and "float free list" in fresh.note()
    assert not fresh.installed
    monkeypatch.setattr(native, "free_lists", fresh)
    p = protection()
    assert p.heap is False and "free lists" in (p.reason or "")


def test_protection_claims_the_lists(lists):
    p = protection()
    assert p.heap is True, p.reason
    assert "floats" in lists.names
    if sys.version_info >= (3, 15):
        assert {"bytes_writers", "unicode_writers", "ints", "complexes"} <= set(lists.names)


def test_protection_in_a_subinterpreter_says_no(lists, monkeypatch):
    import secretscope._freelists as fl_module
    monkeypatch.setattr(fl_module, "_interpreter_current", lambda: 1)   # "not the main interpreter"
    note = lists.note()
    assert note and "subinterpreter" in note
    p = protection()
    assert p.heap is False and "subinterpreter" in (p.reason or "")


_CHILD = r"""
import ctypes, os, struct, sys, threading
from secretscope import do, protection
from secretscope._active import backend
fl = backend.free_lists
assert protection().heap, protection().reason
do(lambda: None)                                         # located and installed
head = lambda: ctypes.c_void_p.from_address(fl.located[0].head).value or 0
inside, release = threading.Event(), threading.Event()
t = threading.Thread(target=do, args=(lambda: (inside.set(), release.wait(30)),))
t.start()
assert inside.wait(30) and fl.inside.value == 1 and head() == 0
pid = os.fork()                                          # the thread inside its scope is gone in the child
if pid == 0:
    ok = fl.inside.value == 0
    x = [i + 0.5 for i in range(10)]
    del x
    os._exit(0 if ok and head() else 3)                  # the float list works again
release.set()
t.join()
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), "parent", fl.inside.value, bool(head()))
"""


def test_fork_child_gets_its_lists_back(lists):
    from tests._support.environment import run_python
    r = run_python(_CHILD)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["child", "0", "parent", "0", "True"]


_UNDER = r"""
import struct, sys
{prelude}
from secretscope import do, protection
from secretscope._active import backend
from secretscope._freelists import _Memory
p = protection()
assert p.heap, p.reason
mem = _Memory()
def body():
    xs = [struct.unpack("<d", bytes([0x5E, 0xC2, 0xE7, 0x00, 0x11, 0x22, 0x33, 0x7F]))[0] for _ in range(20)]
    return tuple(id(x) for x in xs)
for scoped in (False, True):
    addresses = do(body) if scoped else body()
    kept = sum(1 for a in addresses if mem.read(a + 16, 8) == bytes([0x5E, 0xC2, 0xE7, 0x00, 0x11, 0x22, 0x33, 0x7F]))
    print(kept)
"""


@pytest.mark.parametrize("setup", ["PYTHONMALLOC=debug", "tracemalloc first"])
def test_located_under_other_allocators(lists, setup):
    """The lists are found and kept off with the debug allocator and under tracemalloc too."""
    from tests._support.environment import run_python
    env = {"PYTHONMALLOC": "debug"} if setup.startswith("PYTHONMALLOC") else {}
    prelude = "import tracemalloc; tracemalloc.start()" if setup == "tracemalloc first" else ""
    r = run_python(_UNDER.format(prelude=prelude), env=env)
    assert r.returncode == 0, r.stderr
    control, scoped = (int(n) for n in r.stdout.split())
    assert control >= 10 and scoped == 0


def test_array_zeroing_routine(lists):
    """fl_zero_arrays on a synthetic array list (every version and architecture, not only 3.10's):
    after a scope, each parked object marked dirty has its payload zeroed and its mark cleared; an
    object marked clean, bytes outside the payload and entries past the count are left alone."""
    from secretscope._freelists import ZERO_MAX
    zero_count = ctypes.c_uint64.in_dll(lists.lib, "ss_fl_zero_count")
    table = (ctypes.c_uint64 * (ZERO_MAX * 6)).in_dll(lists.lib, "ss_fl_zero")
    slot = zero_count.value
    assert slot < ZERO_MAX
    objects = [(ctypes.c_ubyte * 192)(*([0x5A] * 192)) for _ in range(4)]
    for i, obj in enumerate(objects):
        ctypes.c_uint64.from_buffer(obj, 16).value = 0 if i == 1 else 7    # the dirty word
    array = (ctypes.c_void_p * 8)(*[ctypes.addressof(o) for o in objects])
    count = ctypes.c_int32(3)                                             # objects[3] is past it
    saved = [table[slot * 6 + j] for j in range(6)]
    for j, value in enumerate((ctypes.addressof(array), ctypes.addressof(count), 16, 32, 128, 8)):
        table[slot * 6 + j] = value
    zero_count.value = slot + 1
    try:
        do(lambda: None)
    finally:
        zero_count.value = slot
        for j in range(6):
            table[slot * 6 + j] = saved[j]
    for i, obj in enumerate(objects):
        data = bytes(obj)
        if i in (0, 2):
            assert data[32:160] == bytes(128) and data[160:] == b"\x5a" * 32 and data[:16] == b"\x5a" * 16
            assert ctypes.c_uint64.from_buffer(obj, 16).value == 0
        else:
            assert data[32:160] == b"\x5a" * 128, f"object {i} should not have been touched"


_SUBINTERPRETER = r"""
try:
    import _interpreters as interpreters
except ImportError:
    import _xxsubinterpreters as interpreters
import secretscope
assert secretscope.protection().heap
iid = interpreters.create()
failure = interpreters.run_string(iid, '''
import secretscope
p = secretscope.protection()
print("sub", p.heap, "|", p.reason)
try:
    secretscope.do(lambda: [i + 0.5 for i in range(100)])    # a scope there is refused
except secretscope.SecretscopeError:
    print("sub scope refused")
''')
secretscope.do(lambda: [i + 0.5 for i in range(100)])        # the main lists still work
print("main", secretscope.protection().heap)
if failure is not None:
    print("failure", failure.type.__name__, failure.msg)
"""


def test_a_subinterpreter_reports_its_lists_uncovered(lists):
    """Imported in a (legacy, shared-GIL) subinterpreter, secretscope claims no heap protection (its free
    lists are not kept off: the native backend is not loaded there) and refuses scopes; main's lists work."""
    from tests._support.environment import run_python
    r = run_python(_SUBINTERPRETER)
    if "does not support loading in subinterpreters" in r.stdout + r.stderr:
        pytest.skip("secretscope cannot be imported in an isolated subinterpreter on this version")
    assert r.returncode == 0, r.stderr
    assert "sub False | " in r.stdout and "subinterpreter" in r.stdout, r.stdout
    assert "sub scope refused" in r.stdout and "main True" in r.stdout, r.stdout
