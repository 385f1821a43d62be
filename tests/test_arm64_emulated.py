"""The AArch64 backend, for real: the whole suite on Debian's arm64 CPython under qemu-user.

Runs on x86-64 hosts, so that the README's single test command covers AArch64 too.
tools/test_arm64.sh does the work, once per QEMU_CPU configuration (FP/AdvSIMD only;
SVE at 128 and at 512 bits, with SME); this test asserts each run passed.

The arm64 interpreter comes from SECRETSCOPE_ARM64_PYTHON (.ci/run sets it to the output of
`python3 tools/debian_sysroot.py --arch arm64 --suite system --python 3.11 --print-python`,
which also registers qemu with binfmt_misc).  When it or qemu-aarch64-static is missing:
a failure in CI (CI set), a skip with the reason on a developer's machine.

It also checks the trampoline's CFI the way test_threads checks it on x86-64: gdb
(gdb-multiarch, through qemu's gdbstub) must unwind from inside the scope's function,
through ss_call, to the interpreter's main.
"""
from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests._support.environment import IN_CI, ROOT, skip_locally_fail_in_ci

SCRIPT = ROOT / "tools" / "test_arm64.sh"
QEMU_CPUS = ["max,sve=off", "max,sve=on,sve128=on", "max,sve=on,sve512=on"]
SETUP = ("python3 tools/debian_sysroot.py --arch arm64 --suite system --python 3.11 --print-python "
         "(as root), then export SECRETSCOPE_ARM64_PYTHON=<its output>")


def _unavailable(reason: str) -> None:
    skip_locally_fail_in_ci(reason, f"AArch64 emulation is required in CI: {reason}")


@pytest.fixture(scope="module")
def arm64_python() -> str:
    if os.environ.get("SECRETSCOPE_ARM64_EMULATED"):
        pytest.skip("this is the emulated run itself")
    if os.environ.get("SECRETSCOPE_MATRIX_ENTRY"):
        pytest.skip("inside a matrix run: its own arm64 entries run the emulated suite")
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        pytest.skip("runs on x86-64 hosts (an AArch64 host runs the suite natively)")
    if shutil.which("qemu-aarch64-static") is None:
        _unavailable("qemu-aarch64-static is not installed (apt-get install qemu-user-static)")
    python = os.environ.get("SECRETSCOPE_ARM64_PYTHON", "")
    if not python:
        _unavailable(f"SECRETSCOPE_ARM64_PYTHON is not set; prepare it with: {SETUP}")
    if not os.access(python, os.X_OK):
        _unavailable(f"SECRETSCOPE_ARM64_PYTHON={python} is not an executable file; {SETUP}")
    return python


@pytest.mark.parametrize("qemu_cpu", QEMU_CPUS)
def test_whole_suite_passes_under_emulation(arm64_python, qemu_cpu):
    if IN_CI or os.environ.get("SECRETSCOPE_RUN_MATRIX"):
        # Not skipped silently: the same runs (CPython 3.11 and 3.15, each QEMU_CPU) are entries of
        # tests/test_matrix.py::test_the_whole_matrix_passes, which fails when they cannot run.
        pytest.skip("the matrix run (test_matrix.py::test_the_whole_matrix_passes) runs the emulated suite")
    env = {**os.environ, "SECRETSCOPE_ARM64_PYTHON": arm64_python, "SECRETSCOPE_ARM64_QEMU_CPUS": qemu_cpu}
    r = subprocess.run(["bash", str(SCRIPT)], cwd=str(ROOT), env=env, capture_output=True, text=True,
                       timeout=1800)
    output = r.stdout + r.stderr
    tail = "\n".join(output.strip().splitlines()[-40:])
    if r.returncode == 2 and not IN_CI:
        pytest.skip(f"emulation not set up: {tail}")
    assert r.returncode == 0, f"QEMU_CPU={qemu_cpu}: the emulated suite failed\n{tail}"
    assert " passed" in r.stdout, tail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gdb_unwinds_through_the_aarch64_trampoline(arm64_python, tmp_path):
    gdb = shutil.which("gdb-multiarch")
    if gdb is None:
        _unavailable("gdb-multiarch is not installed: it checks the AArch64 trampoline's CFI")
    sysroot = Path(arm64_python).resolve().parents[2]
    base_file = tmp_path / "base"
    # qemu's gdbstub reports no shared libraries: the target tells where the backend is loaded
    code = ("import os, secretscope\n"
            "base = [l for l in open('/proc/self/maps') if 'libsecretscope_aarch64.so' in l][0]\n"
            f"open({str(base_file)!r}, 'w').write(base.split('-')[0])\n"
            "secretscope.do(os.getppid)\n")
    script = tmp_path / "bt.py"
    script.write_text(
        "import gdb\n"
        f"base = int(open({str(base_file)!r}).read(), 16)\n"
        f"gdb.execute('add-symbol-file {ROOT / 'secretscope' / '_lib' / 'libsecretscope_aarch64.so'} -o %#x' % base)\n"
        "gdb.execute('bt')\n")
    port = _free_port()
    # pauth=off: qemu 7.2's gdbstub does not report the PAC masks, so gdb could not strip
    # the signature from the return addresses the CFI recovers (the unwinding itself is
    # the same; the suite runs with PAC on).
    env = {**os.environ, "QEMU_LD_PREFIX": str(sysroot), "PYTHONPATH": str(ROOT), "PYTHONNOUSERSITE": "1",
           "QEMU_CPU": "max,pauth=off"}
    env.pop("SECRETSCOPE_BACKEND", None)
    target = subprocess.Popen([shutil.which("qemu-aarch64-static") or "qemu-aarch64-static", "-g", str(port),
                               arm64_python, "-c", code], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        r = subprocess.run(
            [gdb, "-batch", "-nx", "-ex", "set debuginfod enabled off", "-ex", f"set sysroot {sysroot}",
             "-ex", "set tcp connect-timeout 60", "-ex", f"file {arm64_python}",
             "-ex", f"target remote 127.0.0.1:{port}", "-ex", "break getppid", "-ex", "continue",
             "-ex", f"source {script}", "-ex", "kill"],
            capture_output=True, text=True, timeout=300)
    finally:
        target.kill()
        target.wait(timeout=30)
    bt = [line for line in r.stdout.splitlines() if line.startswith("#")]
    names = " ".join(bt)
    assert "ss_call" in names, r.stdout + r.stderr
    below = names[names.index("ss_call"):]
    assert any(f in below for f in ("Py_BytesMain", " main ", "_start")), \
        "gdb could not unwind past the trampoline:\n" + "\n".join(bt)
