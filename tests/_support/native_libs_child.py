"""Child of tests/test_native_heap_libraries.py: python tests/_support/native_libs_child.py CASE SCOPED MASK1 MASK2

Forms the key from two masks (so the parent's argv never holds it) inside a scope when SCOPED is
1 (outside otherwise), runs the case with it, drops everything, collects, prints "ready" and
waits for a line on stdin while the parent searches its memory.
"""
from __future__ import annotations

import ctypes
import gc
import sys

from secretscope import do, protection, secret
from tests._support import native_libs  # the repository is on PYTHONPATH (the parent's run_case)


def work(case: native_libs.Case, m1: bytes, m2: bytes) -> None:
    # Not bytes(generator) nor bytes(bytearray): on 3.15 those go through the bytes writer, whose
    # buffer is parked on a free list (issue 12's free-list part); ctypes.string_at makes the bytes
    # with PyBytes_FromStringAndSize, and the ctypes buffer is an ordinary PyMem block.
    buf = (ctypes.c_ubyte * len(m1)).from_buffer_copy(m1)
    for i, b in enumerate(m2):
        buf[i] ^= b
    key = ctypes.string_at(buf, len(m1))
    del buf
    case.run(key)
    del key


def main() -> None:
    name, scoped, m1, m2 = sys.argv[1], sys.argv[2] == "1", bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
    case = native_libs.CASES[name]
    case.run(bytes(32))          # imports and first-use caches, before (and outside) the scope
    do(int)                      # the first scope installs the heap wrappers, in both runs
    p = protection()             # asked before the work: what it allocates cannot land in the freed
                                 # blocks the parent searches (the control's copies stay findable)
    if scoped:
        with secret():
            work(case, m1, m2)
    else:
        work(case, m1, m2)
    gc.collect()
    print("ready", int(p.native_heap), flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    main()
