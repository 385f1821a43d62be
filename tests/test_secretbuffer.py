"""SecretBuffer, wipe() and harden(): secrets at rest (issue 14).

Each guarantee is checked against memory the kernel reports (/proc/self/smaps, /proc/self/mem,
core dumps, faults in child processes), with a control that shows the check can fail: the same
content in an ordinary bytearray is found, is copied into a forked child, does not fault, ...
"""
from __future__ import annotations

import array
import copy
import ctypes
import hashlib
import hmac
import mmap
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from secretscope import SecretBuffer, wipe
from secretscope._secretbuffer import NATIVE, PLAIN_REASON
from secretscope._secretmemory import PAGE, POOL_MAX, Pool
from tests._support.cores import dump_child, require_core_files, search
from tests._support.environment import ROOT, run_python, skip_locally_fail_in_ci

LINUX_NATIVE = sys.platform.startswith("linux") and sys.implementation.name == "cpython"
KEY = bytes(range(0x41, 0x61))          # 32 distinctive bytes
needs_native = pytest.mark.skipif(not NATIVE, reason=f"SecretBuffer is plain memory here: {PLAIN_REASON}")


@pytest.fixture(params=["secretmem", "anonymous"])
def memory_kind(request, monkeypatch):
    """Run a test once on memfd_secret pages (when the kernel has them) and once on anonymous ones."""
    if request.param == "anonymous":
        monkeypatch.setenv("SECRETSCOPE_SECRETMEM", "0")
    else:
        monkeypatch.delenv("SECRETSCOPE_SECRETMEM", raising=False)
    return request.param


EMULATED = bool(os.environ.get("SECRETSCOPE_ARM64_EMULATED"))


def holds_or_skip(buf: SecretBuffer, *fields: str) -> None:
    """Fail unless buf.protection has each field; under qemu-user (which returns success for
    madvise without applying it, and which protection() then reports) skip with the reason."""
    prot = buf.protection
    missing = [f for f in fields if not getattr(prot, f)]
    if missing:
        message = f"{', '.join(missing)} not provided here: {prot.reason}"
        if EMULATED:
            pytest.skip(f"under qemu-user emulation: {message}")
        pytest.fail(message)


def _native_expected() -> None:
    if not NATIVE and os.environ.get("SECRETSCOPE_SECRETBUFFER") == "plain":
        pytest.skip("plain memory forced by SECRETSCOPE_SECRETBUFFER=plain")
    if not NATIVE and LINUX_NATIVE and sys.maxsize > 2 ** 32:
        pytest.fail(f"SecretBuffer fell back to plain memory on Linux CPython: {PLAIN_REASON}")


def address(buf: bytearray) -> int:
    """Where buf's bytes are, as its buffer says."""
    with memoryview(buf) as view:
        arr = (ctypes.c_char * max(len(buf), 1)).from_buffer(view) if len(buf) else None
        addr = ctypes.addressof(arr) if arr is not None else 0
        del arr
    return addr


def smaps_entry(addr: int) -> Dict[str, str]:
    """The /proc/self/smaps entry of the mapping holding addr: {'name':..., 'Locked':..., 'VmFlags':...}."""
    entry: Dict[str, str] = {}
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        first = line.split()[0] if line.split() else ""
        if "-" in first and not first.endswith(":"):
            lo, hi = (int(x, 16) for x in first.split("-"))
            inside = lo <= addr < hi
            if inside:
                parts = line.split(None, 5)
                entry = {"range": first, "perms": parts[1], "name": parts[5].strip() if len(parts) > 5 else ""}
            continue
        if inside and ":" in line:
            k, v = line.split(":", 1)
            entry[k] = v.strip()
    return entry


def secretmem_available() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(447), ctypes.c_long(0))
    if fd >= 0:
        os.close(fd)
        return True
    return False


def read_mem(addr: int, n: int) -> Optional[bytes]:
    """n bytes at addr through /proc/self/mem (None when unmapped or refused, like secretmem)."""
    fd = os.open("/proc/self/mem", os.O_RDONLY)
    try:
        return os.pread(fd, n, addr)
    except OSError:
        return None
    finally:
        os.close(fd)


# ---- the type: a real bytearray that never moves ------------------------------------------------

def test_native_on_this_platform():
    _native_expected()
    buf = SecretBuffer(16)
    assert buf.protection.native is NATIVE
    buf.close()


def test_is_a_bytearray_usable_by_hmac_hashlib_and_readinto(tmp_path):
    buf = SecretBuffer.from_bytes(KEY)
    assert isinstance(buf, bytearray) and len(buf) == len(KEY)
    assert hmac.new(buf, b"msg", "sha256").digest() == hmac.new(KEY, b"msg", "sha256").digest()
    assert hmac.HMAC(buf, b"msg", "sha512").hexdigest() == hmac.HMAC(KEY, b"msg", "sha512").hexdigest()
    assert hashlib.sha256(buf).digest() == hashlib.sha256(KEY).digest()
    assert hashlib.pbkdf2_hmac("sha256", buf, b"salt", 10) == hashlib.pbkdf2_hmac("sha256", KEY, b"salt", 10)
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY[::-1])
    with SecretBuffer(len(KEY)) as loaded:
        before = address(loaded)
        with open(key_file, "rb", buffering=0) as f:
            assert f.readinto(loaded) == len(KEY)
        assert loaded == KEY[::-1]
        assert address(loaded) == before
    buf.close()


def test_cryptography_accepts_it():
    aead = pytest.importorskip("cryptography.hazmat.primitives.ciphers.aead",
                               reason="cryptography is not installed for this interpreter")
    x25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.x25519")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    with SecretBuffer.from_bytes(KEY) as key:
        nonce = bytes(12)
        sealed = aead.AESGCM(key).encrypt(nonce, b"message", None)
        assert sealed == aead.AESGCM(KEY).encrypt(nonce, b"message", None)
        assert aead.AESGCM(key).decrypt(nonce, sealed, None) == b"message"
        raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
        mine = x25519.X25519PrivateKey.from_private_bytes(key).public_key().public_bytes(*raw)
        assert mine == x25519.X25519PrivateKey.from_private_bytes(KEY).public_key().public_bytes(*raw)


RESIZES = [
    ("append", lambda b: b.append(1)),
    ("extend", lambda b: b.extend(b"xy")),
    ("+=", lambda b: b.__iadd__(b"xy")),
    ("*=", lambda b: b.__imul__(2)),
    ("insert", lambda b: b.insert(0, 1)),
    ("pop", lambda b: b.pop()),
    ("remove", lambda b: b.remove(b[0])),
    ("clear", lambda b: b.clear()),
    ("del item", lambda b: b.__delitem__(0)),
    ("del slice", lambda b: b.__delitem__(slice(0, 4))),
    ("grow slice", lambda b: b.__setitem__(slice(0, 1), b"abc")),
    ("shrink slice", lambda b: b.__setitem__(slice(0, 3), b"a")),
    ("bytearray.clear", lambda b: bytearray.clear(b)),
    ("bytearray.append", lambda b: bytearray.append(b, 1)),
    ("bytearray.__init__", lambda b: bytearray.__init__(b, 5)),
    ("bytearray.__delitem__", lambda b: bytearray.__delitem__(b, slice(0, 2))),
    ("bytearray.pop", lambda b: bytearray.pop(b)),
]
if hasattr(bytearray, "resize"):
    RESIZES.append(("bytearray.resize", lambda b: bytearray.resize(b, 64)))
if hasattr(bytearray, "take_bytes"):
    RESIZES.append(("bytearray.take_bytes", lambda b: bytearray.take_bytes(b, 4)))


@pytest.mark.parametrize("name,op", RESIZES, ids=[r[0] for r in RESIZES])
@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "dedicated"])
def test_never_resized_or_moved(name, op, pooled):
    control = bytearray(KEY)
    op(control)
    assert len(control) != len(KEY)               # control: the operation resizes a bytearray
    buf = SecretBuffer.from_bytes(KEY, pool=pooled)
    where = address(buf)
    with pytest.raises(BufferError):
        op(buf)
    assert address(buf) == where and len(buf) == len(KEY) and bytes(buf) == KEY
    buf[0:2] = b"zz"                              # same-length writes are fine, in place
    assert address(buf) == where and buf[:2] == b"zz"
    buf.close()


# ---- where the bytes live ---------------------------------------------------------------------

@needs_native
@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "dedicated"])
def test_smaps_shows_locked_not_dumped_and_secretmem(memory_kind, pooled):
    buf = SecretBuffer.from_bytes(KEY, pool=pooled)
    entry = smaps_entry(address(buf))
    control = smaps_entry(address(bytearray(KEY * 100)))
    assert "lo" not in control.get("VmFlags", "").split(), control     # the check can fail
    flags = entry.get("VmFlags", "").split()
    prot = buf.protection
    assert prot.locked == ("lo" in flags and entry["Locked"] != "0 kB"), (prot, entry)
    assert prot.not_dumped == ("dd" in flags), (prot, entry)      # what it claims is what the kernel has
    holds_or_skip(buf, "locked", "not_dumped", "wiped_on_fork")
    assert prot.pooled is pooled and prot.guard_pages is (not pooled)
    if memory_kind == "secretmem" and secretmem_available():
        assert entry["name"].startswith("/secretmem"), entry
        assert prot.secretmem
        assert read_mem(address(buf), len(KEY)) is None        # not even through /proc/self/mem
    else:
        assert not prot.secretmem and "secretmem" not in entry["name"]
        assert "wf" in flags, entry                             # MADV_WIPEONFORK
        assert read_mem(address(buf), len(KEY)) == KEY          # what the kernel holds there
    buf.close()


@needs_native
def test_dedicated_buffer_sits_against_a_write_faulting_page():
    buf = SecretBuffer(100, pool=False)
    end = address(buf) + 100
    assert end % PAGE == 0
    after = smaps_entry(end)
    assert after["perms"].startswith("r--"), after              # readable zeros: the NUL
    before = smaps_entry(end - 100 - (end - 100) % PAGE - 1)
    assert before["perms"].startswith("---"), before
    assert ctypes.string_at(end, 1) == b"\0"
    buf.close()


OVERRUN = textwrap.dedent("""
    import ctypes, sys
    from secretscope import SecretBuffer
    buf = SecretBuffer(100, pool=False)
    with memoryview(buf) as view:
        arr = (ctypes.c_char * 100).from_buffer(view)
        base = ctypes.addressof(arr)
        del arr
    offset = int(sys.argv[1])
    ctypes.memset(base + offset, 0x41, 1)
    print("survived")
""")


@needs_native
def test_one_byte_past_the_end_kills_with_sigsegv(tmp_path):
    script = tmp_path / "overrun.py"
    script.write_text(OVERRUN)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    last = subprocess.run([sys.executable, str(script), "99"], env=env, capture_output=True, text=True, timeout=60)
    assert last.returncode == 0 and "survived" in last.stdout, last.stderr   # the last byte is writable
    past = subprocess.run([sys.executable, str(script), "100"], env=env, capture_output=True, text=True, timeout=60)
    assert past.returncode == -signal.SIGSEGV, (past.returncode, past.stdout, past.stderr)


# ---- close, exports, use after close -------------------------------------------------------------

@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "dedicated"])
def test_close_while_exported_raises_and_keeps_the_buffer(pooled):
    buf = SecretBuffer.from_bytes(KEY, pool=pooled)
    view = memoryview(buf)
    with pytest.raises(BufferError):
        buf.close()
    assert not buf.closed and bytes(view) == KEY and buf == KEY
    view.release()
    buf.close()
    assert buf.closed


USES = [
    ("memoryview", lambda b: memoryview(b)),
    ("bytes", lambda b: bytes(b)),
    ("len", lambda b: len(b)),
    ("index", lambda b: b[0]),
    ("slice", lambda b: b[0:2]),
    ("setitem", lambda b: b.__setitem__(0, 1)),
    ("hex", lambda b: b.hex()),
    ("find", lambda b: b.find(b"A")),
    ("iter", lambda b: list(b)),
    ("==", lambda b: b == KEY),
    ("hmac", lambda b: hmac.new(b, b"m", "sha256")),
    ("hashlib", lambda b: hashlib.sha256(b)),
    ("with", lambda b: b.__enter__()),
    ("wipe", lambda b: wipe(b)),
    ("protection", lambda b: b.protection),
]


@pytest.mark.parametrize("name,use", USES, ids=[u[0] for u in USES])
def test_use_after_close_raises_valueerror(name, use):
    buf = SecretBuffer.from_bytes(KEY)
    use(buf)                                           # works while open
    buf.close()
    if not NATIVE and name in ("memoryview", "bytes", "hmac", "hashlib"):
        pytest.skip("plain fallback: the buffer protocol of a closed buffer gives an empty buffer")
    with pytest.raises(ValueError):
        use(buf)


@needs_native
def test_after_close_the_memory_is_zero_or_unmapped(monkeypatch):
    monkeypatch.setenv("SECRETSCOPE_SECRETMEM", "0")   # /proc/self/mem can read anonymous pages
    neighbour = SecretBuffer(8, pool=True)             # keeps the pool page mapped
    pooled = SecretBuffer.from_bytes(KEY, pool=True)
    dedicated = SecretBuffer.from_bytes(KEY, pool=False)
    where_p, where_d = address(pooled), address(dedicated)
    assert read_mem(where_p, len(KEY)) == KEY and read_mem(where_d, len(KEY)) == KEY   # control
    pooled.close()
    dedicated.close()
    assert read_mem(where_p, len(KEY)) == bytes(len(KEY))
    assert read_mem(where_d, len(KEY)) in (None, bytes(len(KEY)))
    neighbour.close()


@needs_native
def test_dealloc_wipes_and_garbage_collection_is_safe(monkeypatch):
    import gc
    monkeypatch.setenv("SECRETSCOPE_SECRETMEM", "0")
    keep = SecretBuffer(8, pool=True)
    buf = SecretBuffer.from_bytes(KEY, pool=True)
    where = address(buf)
    cycle: List[object] = [buf]
    cycle.append(cycle)
    del buf
    gc.collect()
    assert read_mem(where, len(KEY)) == KEY            # still alive: the list holds it
    del cycle
    gc.collect()
    assert read_mem(where, len(KEY)) == bytes(len(KEY))
    keep.close()
    refs = sys.getrefcount(SecretBuffer)
    for _ in range(200):
        SecretBuffer(16)
        SecretBuffer(5000)
    assert sys.getrefcount(SecretBuffer) == refs      # each instance released its type reference


# ---- fork ---------------------------------------------------------------------------------------

@needs_native
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "dedicated"])
def test_forked_child_reads_zeros_parent_keeps_key(memory_kind, pooled):
    buf = SecretBuffer.from_bytes(KEY, pool=pooled)
    holds_or_skip(buf, "wiped_on_fork")
    control = bytearray(KEY)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            result = b"%d%d%d%d" % (bytes(control) == KEY, bytes(buf) == bytes(len(KEY)),
                                    buf.protection.wiped_by_fork, not buf.protection.secretmem)
            buf.close()
            os.write(w, result)
        finally:
            os._exit(0)
    os.close(w)
    result = os.read(r, 16)
    os.close(r)
    os.waitpid(pid, 0)
    assert result[:1] == b"1", "control: the child should inherit an ordinary bytearray"
    assert result == b"1111", result      # zeros, reported, and no longer claiming secretmem
    assert bytes(buf) == KEY and not buf.protection.wiped_by_fork
    buf.close()


# ---- the pool -----------------------------------------------------------------------------------

@needs_native
def test_pool_shares_pages_and_checks_canaries():
    before = Pool.chunks()
    bufs = [SecretBuffer.from_bytes(KEY) for _ in range(100)]
    assert all(b.protection.pooled for b in bufs)
    assert Pool.chunks() - before <= -(-100 * 64 // PAGE) + 1      # shared pages, not one each
    assert len({address(b) for b in bufs}) == 100
    victim = bufs.pop()
    ctypes.memset(address(victim) + len(KEY) + 1, 0x41, 1)        # an overrun into its canary
    with pytest.raises(RuntimeError, match="canar"):
        victim.close()
    assert victim.closed
    for b in bufs:
        b.close()                                                  # intact ones close quietly
    big = SecretBuffer(POOL_MAX + 1)
    assert not big.protection.pooled and big.protection.guard_pages
    big.close()


# ---- RLIMIT_MEMLOCK ------------------------------------------------------------------------------

MEMLOCK_CHILD = textwrap.dedent("""
    import os, resource
    from secretscope import SecretBuffer, BufferProtectionError
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))
    if os.getuid() == 0:
        os.setgid(65534); os.setuid(65534)   # root's CAP_IPC_LOCK ignores the limit
    buf = SecretBuffer.from_bytes(b"k" * 64, pool=False)
    assert buf == b"k" * 64
    p = buf.protection
    print("locked", p.locked, "|", p.reason)
    try:
        SecretBuffer(64, require=("locked",))
    except BufferProtectionError as e:
        print("refused", e)
""")


@needs_native
def test_memlock_limit_still_works_unlocked_unless_required():
    proc = run_python(MEMLOCK_CHILD)
    assert proc.returncode == 0, proc.stderr
    assert "locked False |" in proc.stdout and ("mlock" in proc.stdout or "memfd_secret" in proc.stdout), proc.stdout
    assert "refused" in proc.stdout, proc.stdout


def test_require_names_are_checked():
    with pytest.raises(ValueError, match="unknown"):
        SecretBuffer(8, require=("lockedd",))
    with pytest.raises(ValueError):
        SecretBuffer(POOL_MAX + 1, pool=True)
    with pytest.raises(TypeError):
        SecretBuffer("8")  # type: ignore[arg-type]


# ---- never shown, never copied ------------------------------------------------------------------

def test_repr_str_format_and_errors_never_show_content():
    text = b"TOPSECRET-PASSPHRASE-0123"
    assert text.decode() in repr(bytearray(text))          # control: a bytearray shows it
    buf = SecretBuffer.from_bytes(text)
    shown = [repr(buf), str(buf), format(buf), f"{buf}", "%s" % buf, "%r" % (buf,)]
    for fn in (lambda: format(buf, "x"), lambda: int(buf), lambda: float(buf), lambda: pickle.dumps(buf),
               lambda: copy.copy(buf), lambda: copy.deepcopy(buf), lambda: buf.copy(), lambda: buf < text,
               lambda: buf.append(1)):
        with pytest.raises((TypeError, BufferError)) as info:
            fn()
        shown.append(str(info.value) + repr(info.value))
    bad = SecretBuffer.from_bytes(b"\xffTOPSECRET")
    with pytest.raises(ValueError) as info:
        bad.decode("utf-8")
    shown.append(str(info.value) + repr(info.value) + repr(info.value.__context__))
    for s in shown:
        assert "TOPSECRET" not in s and "PASSPHRASE" not in s, s
    assert repr(buf).startswith(f"SecretBuffer({len(text)} bytes")
    buf.close()
    assert repr(buf) == "SecretBuffer(closed)"
    bad.close()


def test_pickle_and_copy_raise_typeerror():
    buf = SecretBuffer.from_bytes(KEY)
    for fn in (pickle.dumps, copy.copy, copy.deepcopy, lambda b: pickle.dumps(b, protocol=0)):
        with pytest.raises(TypeError):
            fn(buf)
    buf.close()


def test_equality_is_hmac_compare_digest(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append(1)
        return real(a, b)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    buf = SecretBuffer.from_bytes(KEY)
    assert buf == KEY and buf == bytearray(KEY) and buf == memoryview(KEY) and KEY == buf
    assert not (buf == KEY[:-1]) and buf != KEY[::-1] and buf != "text"
    assert buf == SecretBuffer.from_bytes(KEY)
    assert len(calls) >= 6
    with pytest.raises(TypeError):
        buf <= KEY
    buf.close()


def test_cannot_be_subclassed():
    with pytest.raises(TypeError):
        type("Sub", (SecretBuffer,), {})


# ---- wipe() -------------------------------------------------------------------------------------

def _targets() -> List[object]:
    m = mmap.mmap(-1, 64)
    m[:len(KEY)] = KEY
    return [bytearray(KEY), memoryview(bytearray(KEY)), array.array("B", KEY), array.array("i", range(1, 9)),
            (ctypes.c_char * len(KEY)).from_buffer_copy(KEY), (ctypes.c_int * 4)(1, 2, 3, 4), m,
            SecretBuffer.from_bytes(KEY), memoryview(bytearray(KEY))[::2]]


@pytest.mark.parametrize("index", range(9))
def test_wipe_zeroes_each_mutable_kind(index):
    obj = _targets()[index]
    with memoryview(obj) as view:          # type: ignore[arg-type]
        assert any(view.tobytes())          # control: there is something to erase
    wipe(obj)
    with memoryview(obj) as view:          # type: ignore[arg-type]
        assert not any(view.tobytes()), type(obj)
    if isinstance(obj, SecretBuffer):
        assert not obj.closed
        obj.close()


def test_wipe_zeroes_a_bytearrays_spare_capacity():
    if sys.implementation.name != "cpython":
        pytest.skip("the spare capacity is reached through CPython's layout")
    from secretscope._bytearray_storage import OB_ALLOC, OB_BYTES
    b = bytearray(KEY * 4)
    del b[len(KEY) * 3:]                    # a small shrink keeps the allocation
    start = ctypes.c_void_p.from_address(id(b) + OB_BYTES).value
    alloc = ctypes.c_ssize_t.from_address(id(b) + OB_ALLOC).value
    assert KEY[1:] in ctypes.string_at(start, alloc)[len(KEY) * 3:]   # control (byte 0 became the NUL)
    wipe(b)
    assert not any(ctypes.string_at(start, alloc))


@pytest.mark.parametrize("obj", [b"secret", "secret", memoryview(b"secret"), 42, None])
def test_wipe_refuses_immutable(obj):
    with pytest.raises(TypeError):
        wipe(obj)


# ---- harden() -----------------------------------------------------------------------------------

HARDEN_CHILD = textwrap.dedent("""
    import ctypes, os, resource, sys
    from secretscope import harden
    if sys.argv[1] == "harden":
        report = harden()
        libc = ctypes.CDLL(None)
        print(report.core_dumps_disabled, report.not_dumpable, report.memory_locked,
              resource.getrlimit(resource.RLIMIT_CORE), libc.prctl(3, 0, 0, 0, 0))
        sys.stdout.flush()
    else:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    os.abort()
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="core dumps and prctl are Linux here")
def test_harden_prevents_core_dumps(tmp_path):
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        skip_locally_fail_in_ci(f"kernel.core_pattern is {pattern!r}: cores are not written to the working directory")
    script = tmp_path / "child.py"
    script.write_text(HARDEN_CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = {}
    for mode in ("plain", "harden"):
        cwd = tmp_path / mode
        cwd.mkdir()
        proc = subprocess.run([sys.executable, str(script), mode], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == -signal.SIGABRT, proc.stderr
        results[mode] = (proc.stdout, [p for p in cwd.iterdir() if p.name.startswith("core")])
    assert results["plain"][1], "control: an abort without harden() leaves a core file"
    out, cores = results["harden"]
    assert out.split()[:3] == ["True", "True", "None"] and "(0, 0)" in out and out.split()[-1] == "0", out
    assert cores == []


HARDEN_LOCK_CHILD = textwrap.dedent("""
    import resource, os, sys
    from secretscope import harden
    import secretscope._harden, ctypes, ctypes.util
    if sys.argv[1] == "limited" and os.getuid() == 0:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0)); os.setgid(65534); os.setuid(65534)
    r = harden(lock_memory=True)
    locked_kb = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmLck:")]
    print(r.memory_locked, locked_kb, "|", "; ".join(r.problems))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mlockall and /proc/self/status are Linux here")
def test_harden_lock_memory_reports_what_took_effect(tmp_path):
    script = tmp_path / "lock.py"
    script.write_text(HARDEN_LOCK_CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    limited = subprocess.run([sys.executable, str(script), "limited"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert limited.returncode == 0, limited.stderr
    assert limited.stdout.startswith("False ['0']") and "mlockall" in limited.stdout, limited.stdout
    if os.getuid() != 0:
        return                                   # success needs CAP_IPC_LOCK or a large RLIMIT_MEMLOCK
    full = subprocess.run([sys.executable, str(script), "full"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert full.returncode == 0, full.stderr
    assert full.stdout.startswith("True") and "['0']" not in full.stdout, full.stdout   # VmLck > 0


# ---- core dump -----------------------------------------------------------------------------------

def _core_run(mode: str, tmp: Path, key: bytes, env_extra: Dict[str, str]) -> List[str]:
    tmp.mkdir()
    key_file = tmp / "key.masked"
    key_file.write_bytes(bytes(b ^ 0xA5 for b in key))
    core = dump_child("secretbuffer_child.py", [mode, str(key_file), str(tmp)], tmp, env_extra)
    hits = search(core, key, tmp / "maps.txt")
    core.unlink()
    return hits


@needs_native
@pytest.mark.parametrize("kind", ["secretmem", "anonymous"])
def test_core_dump_holds_no_secretbuffer_content(tmp_path, kind):
    require_core_files()
    env = {"SECRETSCOPE_SECRETMEM": "0"} if kind == "anonymous" else {}
    probe = run_python("from secretscope import SecretBuffer; p = SecretBuffer(8).protection; "
                       "print(p.not_dumped, p.reason)", env=env)
    if not probe.stdout.startswith("True"):
        if EMULATED:
            pytest.skip(f"under qemu-user emulation the pages are not excluded from dumps: {probe.stdout}")
        pytest.fail(f"not_dumped does not hold: {probe.stdout} {probe.stderr}")
    key = os.urandom(48)
    control = _core_run("bytearray", tmp_path / "bytearray", key, env)
    assert control, "negative control: the key in an ordinary bytearray must be in the core"
    for mode in ("secretbuffer", "pooled"):
        hits = _core_run(mode, tmp_path / mode, key, env)
        holder = (tmp_path / mode / "holder.txt").read_text()
        assert hits == [], f"{mode} ({holder}): {len(hits)} copies of the key in the core:\n  " + "\n  ".join(hits)


# ---- plain fallback (no memory of its own: non-Linux, PyPy, free-threaded, other machines) -------

PLAIN_CHILD = textwrap.dedent("""
    import hmac, sys
    from secretscope import SecretBuffer, BufferProtectionError, wipe
    from secretscope._secretbuffer import NATIVE
    assert not NATIVE
    key = bytes(range(65, 97))
    buf = SecretBuffer.from_bytes(key)
    p = buf.protection
    assert not (p.native or p.locked or p.not_dumped or p.wiped_on_fork or p.secretmem), p
    assert "SECRETSCOPE_SECRETBUFFER=plain" in p.reason and "plain memory" in repr(buf), repr(buf)
    assert isinstance(buf, bytearray) and hmac.new(buf, b"m", "sha256").digest() == hmac.new(key, b"m", "sha256").digest()
    assert buf == key and buf != key[::-1]
    for op in (lambda: buf.append(1), lambda: bytearray.append(buf, 1), lambda: buf.extend(b"x")):
        try:
            op(); sys.exit("resized")
        except BufferError:
            pass
    view = memoryview(buf)
    try:
        buf.close(); sys.exit("closed while exported")
    except BufferError:
        pass
    assert bytes(view) == key
    view.release()
    buf.close()
    assert buf.closed and repr(buf) == "SecretBuffer(closed)"
    try:
        buf.hex(); sys.exit("used after close")
    except ValueError:
        pass
    try:
        SecretBuffer(8, require=("locked",)); sys.exit("require accepted")
    except BufferProtectionError:
        pass
    print("plain ok")
""")


def test_plain_fallback_works_and_says_it_protects_nothing():
    proc = run_python(PLAIN_CHILD, env={"SECRETSCOPE_SECRETBUFFER": "plain"})
    assert proc.returncode == 0 and "plain ok" in proc.stdout, proc.stdout + proc.stderr


def test_unknown_secretbuffer_setting_fails_closed():
    proc = run_python("import secretscope", env={"SECRETSCOPE_SECRETBUFFER": "fast"})
    assert proc.returncode != 0 and "SECRETSCOPE_SECRETBUFFER must be" in proc.stderr


def test_independent_of_the_scope_backend():
    proc = run_python("from secretscope import SecretBuffer; print(SecretBuffer(8).protection.native)",
                      env={"SECRETSCOPE_BACKEND": "fallback"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(NATIVE)


@needs_native
def test_c_level_dealloc_wipes_when_close_never_ran(monkeypatch):
    """buffer.S's tp_dealloc: a buffer destroyed still attached (an interrupted __del__) is zeroed,
    and bytearray's dealloc neither frees the mapping nor complains about exports."""
    monkeypatch.setenv("SECRETSCOPE_SECRETMEM", "0")
    keep = SecretBuffer(4, pool=True)
    buf = SecretBuffer.from_bytes(KEY, pool=True)
    where = buf._storage.address
    buf._storage.closed = True                 # __del__ now does nothing: only the C slot acts
    assert read_mem(where, len(KEY)) == KEY    # control
    del buf
    assert read_mem(where, len(KEY)) == bytes(len(KEY))
    keep.close()


REENTRANT_CHILD = textwrap.dedent("""
    import gc
    from secretscope import SecretBuffer
    gc.set_threshold(1, 1, 1)              # collect on (nearly) every allocation
    keep = []
    for i in range(3000):
        b = SecretBuffer(16)
        cycle = [b]
        cycle.append(cycle)                # only the garbage collector frees it
        keep.append(cycle)                 # survives a collection or two: an older generation,
        if len(keep) > 3:                  # whose collection (and the buffer's __del__) then
            keep.pop(0)                    # happens inside some later allocation, often within
        del b, cycle                       # Pool.take or Pool.give_back (hundreds of times here)
    keep.clear()
    gc.collect()
    print("done")
""")


@needs_native
def test_finalizers_reentering_the_pool_neither_deadlock_nor_corrupt_it():
    try:
        proc = run_python(REENTRANT_CHILD, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("deadlock: a finalizer re-entered the pool while this thread held its lock")
    assert proc.returncode == 0 and "done" in proc.stdout, (proc.returncode, proc.stdout, proc.stderr[-2000:])


@needs_native
def test_del_while_exported_keeps_the_view_valid_then_wipes(monkeypatch):
    monkeypatch.setenv("SECRETSCOPE_SECRETMEM", "0")
    keep = SecretBuffer(4, pool=True)
    buf = SecretBuffer.from_bytes(KEY, pool=True)
    where = address(buf)
    view = memoryview(buf)
    del buf                                   # the view holds the object (and its export)
    assert bytes(view) == KEY and read_mem(where, len(KEY)) == KEY
    view[0] = 0x7A                            # still the same, writable memory
    assert read_mem(where, 1) == b"z"
    del view                                  # last reference: __del__ closes it
    assert read_mem(where, len(KEY)) == bytes(len(KEY))
    keep.close()



@needs_native
def test_cyclic_garbage_with_a_view_of_the_buffer_is_wiped_quietly(monkeypatch):
    """The collector runs every finalizer of a garbage cycle before it releases anything: the
    buffer's __del__ then sees the export of a memoryview that is garbage too."""
    import gc
    monkeypatch.setenv("SECRETSCOPE_SECRETMEM", "0")
    unraisable: List[object] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(u.exc_value))
    keep = SecretBuffer(4, pool=True)
    buf = SecretBuffer.from_bytes(KEY, pool=True)
    where = address(buf)
    cycle: List[object] = [buf, memoryview(buf)]
    cycle.append(cycle)
    del buf, cycle
    assert read_mem(where, len(KEY)) == KEY            # control: alive until collected
    gc.collect()
    assert unraisable == []
    assert read_mem(where, len(KEY)) == bytes(len(KEY))
    keep.close()
