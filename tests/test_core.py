"""End to end, as Go's runtime/secret TestCore: no secret anywhere in a core dump.

A child runs scopes on 4 threads for a few seconds (heap objects, stack, registers, sleeps) with
2 threads churning allocations and a timer sending signals, drops everything, collects, and
aborts with a core dump.  The parent searches the whole core for the secret and reports every hit
with the mapping it falls in.  Zero hits are required; the same run without scopes must have
hits (the test can fail).
"""
from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT
from secretscope.diagnostics.probe import sentinel

SECONDS = 3.0
TAG = 0xEE


def _core_pattern() -> str:
    try:
        return Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError:
        return ""


def _find_core(directory: Path, pid: int) -> Path:
    pattern = _core_pattern()
    # Under qemu-user the emulator writes the guest's core (qemu_<prog>_<date>_<pid>.core): that is
    # what the process would dump on real hardware.  The host kernel also dumps the emulator itself,
    # whose memory holds qemu's own copies of guest state (translation buffers, the register file of
    # exited threads) that do not exist on hardware; judge the guest's.
    guest = sorted(directory.glob("qemu_*.core"))
    if os.environ.get("SECRETSCOPE_ARM64_EMULATED") and guest:
        return guest[-1]
    candidates = sorted(directory.glob("core*"))
    if pattern.startswith("/"):
        expanded = re.sub(r"%p", str(pid), pattern)
        candidates += [Path(p) for p in sorted(Path(expanded).parent.glob(Path(expanded).name.split("%")[0] + "*"))]
    for c in candidates:
        if c.is_file() and c.stat().st_size > 0:
            return c
    raise AssertionError(f"no core file in {directory} (core_pattern {pattern!r})")


def _load_segments(core: Path):
    """(file offset, size, vaddr) of every PT_LOAD in the core."""
    with core.open("rb") as f:
        head = f.read(64)
        assert head[:4] == b"\x7fELF"
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    segs = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == 1:
            segs.append((p_offset, p_filesz, p_vaddr))
    return segs


def _hits(core: Path, needle: bytes):
    """File offsets of every occurrence of needle in core (read in overlapping chunks)."""
    chunk, out = 64 << 20, []
    with core.open("rb") as f:
        base = 0
        tail = b""
        while True:
            data = f.read(chunk)
            if not data:
                break
            buf = tail + data
            start = base - len(tail)
            i = buf.find(needle)
            while i != -1:
                out.append(start + i)
                i = buf.find(needle, i + 1)
            tail = buf[-(len(needle) - 1):]
            base += len(data)
    return sorted(set(out))


def _describe(offset, segs, maps):
    for f_off, size, vaddr in segs:
        if f_off <= offset < f_off + size:
            addr = vaddr + offset - f_off
            for line in maps:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if lo <= addr < hi:
                    return f"{addr:#x} in {line.strip()}"
            return f"{addr:#x} (no mapping)"
    return f"file offset {offset:#x}: notes (thread registers)"


def _run(mode: str, tmp: Path):
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "core_child.py"), mode, str(SECONDS), str(tmp)],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGABRT, proc.stdout + proc.stderr
    stats = (tmp / "stats.txt").read_text()
    core = _find_core(tmp, 0)
    maps = (tmp / "maps.txt").read_text().splitlines()
    segs = _load_segments(core)
    hits = _hits(core, sentinel(TAG))
    return [_describe(h, segs, maps) for h in hits], stats, core


def test_core_dump_holds_no_secret(native, tmp_path):
    if not native.heap.available:
        pytest.skip(f"the heap guarantee is not available here: {native.heap.reason}")
    pattern = _core_pattern()
    if pattern.startswith("|"):
        reason = (f"kernel.core_pattern pipes cores to a helper ({pattern!r}), so no core file can be "
                  f"written here; as root: echo core > /proc/sys/kernel/core_pattern")
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)

    control, control_stats, _ = _run("plain", tmp_path / "plain")
    assert control, f"negative control: the run without scopes should leave the secret in the core ({control_stats})"

    scoped, stats, core = _run("scoped", tmp_path / "scoped")
    assert "iterations=0" not in stats
    assert scoped == [], (f"{len(scoped)} copies of the secret in {core.name} ({stats.strip()}):\n  "
                          + "\n  ".join(scoped[:40]))
