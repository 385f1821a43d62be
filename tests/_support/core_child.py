"""Child process of test_core.py: scopes on 4 threads, allocation churn, timer signals, then abort.

    python tests/_support/core_child.py {scoped,plain} SECONDS OUTDIR

Each iteration derives a secret that exists nowhere outside `derive` (it is built from its masked
form there), puts it in heap objects (bytes, bytearray, str), on the stack (16 KiB deep) and in
every register, and sleeps briefly to invite preemption and signals.  After the run everything is
dropped and collected, the mappings are written to OUTDIR/maps.txt, and the process aborts with a
core dump (written to the working directory by the kernel).
"""
from __future__ import annotations

import faulthandler
import gc
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path

from secretscope import secret
from secretscope._active import backend
from secretscope.diagnostics.memory_scan import make_bytes
from secretscope.diagnostics.probe import Probe, masked

TAG = 0xEE


def main() -> None:
    mode, seconds, outdir = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
    probe = Probe(backend)  # type: ignore[arg-type]
    probe.api[2] = masked(TAG)
    faulthandler.enable()  # an alternate signal stack for the main thread

    def derive(i: int) -> int:
        pattern = make_bytes(TAG, 8)
        blob = pattern * 64
        ba = bytearray(pattern * 512)
        ba += pattern * (i % 7)
        text = (pattern * 32).decode("latin-1")
        write, _ = probe.stack_writer(16 * 1024, 4096, TAG)
        write()
        probe.regs_fill()
        time.sleep(0.0002)
        probe.regs_fill()
        return len(blob) + len(ba) + len(text)

    run = secret(derive) if mode == "scoped" else derive
    stop = time.monotonic() + seconds
    counts = []

    def worker() -> None:
        i = 0
        while time.monotonic() < stop:
            run(i)
            i += 1
        counts.append(i)

    def churn() -> None:
        while time.monotonic() < stop:
            junk = [bytes(64) + str(i).encode() for i in range(200)]
            del junk

    ticks = []
    signal.signal(signal.SIGALRM, lambda *a: ticks.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
    threads = [threading.Thread(target=worker) for _ in range(4)] + [threading.Thread(target=churn) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    gc.collect()
    (outdir / "maps.txt").write_text(Path("/proc/self/maps").read_text())
    (outdir / "stats.txt").write_text(f"iterations={sum(counts)} ticks={len(ticks)}\n")
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    os.abort()


if __name__ == "__main__":
    main()
