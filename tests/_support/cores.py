"""Core dumps: where the kernel writes them, finding one, and searching it for a secret with the
mapping each hit falls in (test_core.py, test_secretbuffer.py)."""
from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .environment import SUPPORT, pythonpath, skip_locally_fail_in_ci


def core_pattern() -> str:
    try:
        return Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError:
        return ""


def find_core(directory: Path, pid: int) -> Path:
    pattern = core_pattern()
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


def load_segments(core: Path) -> List[Tuple[int, int, int]]:
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


def hits(core: Path, needle: bytes) -> List[int]:
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


def describe(offset: int, segs: Sequence[Tuple[int, int, int]], maps: Sequence[str]) -> str:
    for f_off, size, vaddr in segs:
        if f_off <= offset < f_off + size:
            addr = vaddr + offset - f_off
            for line in maps:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if lo <= addr < hi:
                    return f"{addr:#x} in {line.strip()}"
            return f"{addr:#x} (no mapping)"
    return f"file offset {offset:#x}: notes (thread registers)"


def require_core_files() -> None:
    """Skip (fail in CI) where the kernel pipes cores to a helper instead of writing a file."""
    __tracebackhide__ = True
    pattern = core_pattern()
    if pattern.startswith("|"):
        skip_locally_fail_in_ci(f"kernel.core_pattern pipes cores to a helper ({pattern!r}), so no core file can "
                                f"be written here; as root: echo core > /proc/sys/kernel/core_pattern")


def dump_child(child: str, args: Sequence[str], tmp: Path, env: Dict[str, str]) -> Path:
    """Run tests/_support/<child> with args in the folder tmp (its working directory, where the
    kernel writes the core) until it aborts; the core it dumped."""
    full_env = {**os.environ, "PYTHONPATH": pythonpath(), **env}
    proc = subprocess.run([sys.executable, str(SUPPORT / child), *args], cwd=tmp, env=full_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGABRT, proc.stdout + proc.stderr
    return find_core(tmp, 0)


def search(core: Path, needle: bytes, maps: Path) -> List[str]:
    """Every occurrence of needle in core, described with the mapping (from maps, the child's
    /proc/self/maps) it falls in."""
    segs = load_segments(core)
    lines = maps.read_text().splitlines()
    return [describe(h, segs, lines) for h in hits(core, needle)]
