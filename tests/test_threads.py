"""Scopes on many threads at once, thread churn, fork, and debugger unwinding."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from secretscope import do, enabled, secret
from tests._support.environment import ROOT, skip_locally_fail_in_ci
from tests._support.residue import KiB, stack_residue


def test_concurrent_scopes_do_not_interfere(probe):
    errors: list = []
    stop = time.monotonic() + 1.5
    tags = iter(range(0x60, 0x70))
    lock = threading.Lock()

    def worker() -> None:
        with lock:
            tag = next(tags)
        n = 0
        while time.monotonic() < stop:
            try:
                assert not enabled()
                with secret():
                    assert enabled()
                    assert do(enabled)
                assert secret(enabled)()
                assert not enabled()
                if n % 50 == 0:
                    local, whole = stack_residue(probe, "decorator", 16 * KiB, 4096, tag)
                    assert (local, whole) == (0, 0)
            except BaseException as exc:  # collected, reported below
                errors.append(exc)
                return
            n += 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_thread_churn_releases_slots(native):
    # far more thread lifetimes than the 4096 slots: a slot must be released when its
    # thread ends, or scopes would start failing
    def body() -> None:
        assert do(enabled)

    for _ in range(90):
        threads = [threading.Thread(target=body) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert do(enabled) and not enabled()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_inside_a_scope(native):
    @secret
    def fork_here() -> int:
        pid = os.fork()
        if pid == 0:
            ok = enabled()  # the child continues inside the scope on this thread
            t = threading.Thread(target=lambda: None)
            t.start()
            t.join()
            os._exit(0 if ok else 1)
        return pid

    pid = fork_here()
    assert os.waitpid(pid, 0)[1] == 0
    assert not enabled()


def test_gdb_unwinds_through_the_trampoline(native):
    if os.environ.get("SECRETSCOPE_ARM64_EMULATED"):
        pytest.skip("under qemu-user the host's gdb cannot trace the guest; "
                    "tests/test_arm64_emulated.py checks the AArch64 CFI through qemu's gdbstub")
    gdb = shutil.which("gdb")
    if gdb is None:
        skip_locally_fail_in_ci("gdb not installed", "gdb is required in CI to check the trampoline's CFI")
    code = "import os, secretscope; secretscope.do(os.getppid)"
    r = subprocess.run(
        [gdb, "-batch", "-nx", "-ex", "set breakpoint pending on", "-ex", "set debuginfod enabled off",
         "-ex", "break getppid", "-ex", "run", "-ex", "bt", "-ex", "kill",
         "--args", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    bt = [line for line in r.stdout.splitlines() if line.startswith("#")]
    names = " ".join(bt)
    assert "ss_call" in names, r.stdout + r.stderr
    below = names[names.index("ss_call"):]
    assert "main" in below, "gdb could not unwind past the trampoline:\n" + "\n".join(bt)
