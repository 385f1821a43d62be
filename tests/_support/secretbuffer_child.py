"""Child process of test_secretbuffer.py's core-dump test: hold a key, then abort with a core dump.

    python tests/_support/secretbuffer_child.py {secretbuffer,pooled,bytearray} MASKED_KEY_FILE OUTDIR

The key exists in this process only where the mode puts it: the file holds it XOR-masked, it is
read straight into the holder (raw readinto: no intermediate bytes object) and unmasked there
byte by byte (small ints only).  `bytearray` mode is the negative control: the same key in an
ordinary bytearray must be found in the core.
"""
from __future__ import annotations

import gc
import os
import resource
import sys
from pathlib import Path

from secretscope import SecretBuffer

MASK = 0xA5


def main() -> None:
    mode, key_file, outdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    size = os.path.getsize(key_file)
    if mode == "bytearray":
        holder = bytearray(size)
    else:
        holder = SecretBuffer(size, pool=(mode == "pooled"))
    with open(key_file, "rb", buffering=0) as f:
        assert f.readinto(holder) == size
    for i in range(size):
        holder[i] ^= MASK
    gc.collect()
    (outdir / "maps.txt").write_text(Path("/proc/self/maps").read_text())
    (outdir / "holder.txt").write_text(repr(holder) if mode != "bytearray" else "bytearray\n")
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    os.abort()


if __name__ == "__main__":
    main()
