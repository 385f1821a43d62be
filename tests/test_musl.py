"""The x86-64 objects load and run under musl's dynamic linker: what the wheels' musllinux_1_1 tag
promises.

No CPython built for musl can be had on this project's machines (Debian packages none, PyPI has no
musl interpreter, Alpine's packages are out of reach), so the interpreter is replaced by the least
that loads a shared object the way ctypes does: a C program built with Debian's musl-gcc
(musl-tools; a test tool, never part of the package) that dlopen()s the object with RTLD_NOW
through musl's ld-musl-x86_64.so.1, looks up its exports and calls ss_init (CPUID/XGETBV, no
CPython needed).  The control: the same program fails to load a library built against glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from secretscope._loader import library_path
from secretscope._native import ABI_VERSION
from secretscope._platform import native_arch
from tests._support.environment import skip_locally_fail_in_ci

HARNESS = r"""
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
typedef uint64_t (*init_fn)(uint64_t, uint64_t, uint64_t);
int main(int argc, char **argv) {
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { printf("dlopen failed: %s\n", dlerror()); return 1; }
    uint64_t *abi = dlsym(lib, "ss_abi_version");
    init_fn init = (init_fn)dlsym(lib, "ss_init");
    printf("loaded\n");
    if (abi && init) printf("abi %llu features %#llx\n", (unsigned long long)*abi,
                            (unsigned long long)init(0, 0, 4096));
    return 0;
}
"""

pytestmark = pytest.mark.skipif(native_arch() != "x86_64" or bool(os.environ.get("SECRETSCOPE_ARM64_EMULATED")),
                                reason="musl's x86-64 loader runs the x86-64 objects only")


@pytest.fixture(scope="module")
def loader(tmp_path_factory) -> Path:
    musl_gcc = shutil.which("musl-gcc")
    if musl_gcc is None or not Path("/lib/ld-musl-x86_64.so.1").exists():
        skip_locally_fail_in_ci("musl-gcc not installed (apt-get install musl-tools)",
                                "musl-gcc / ld-musl-x86_64.so.1 missing: apt-get install musl-tools (.ci/run does)")
    work = tmp_path_factory.mktemp("musl")
    (work / "load.c").write_text(HARNESS)
    subprocess.run([musl_gcc, "-O1", "-o", str(work / "load"), str(work / "load.c")], check=True,
                   capture_output=True)
    return work / "load"


def _load(loader: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(loader), str(path)], capture_output=True, text=True, timeout=60, env={})


def test_the_harness_runs_under_musl(loader):
    assert b"/lib/ld-musl-x86_64.so.1\0" in loader.read_bytes()  # its PT_INTERP: musl's loader, not glibc's


def test_backend_object_loads_and_initialises_under_musl(loader):
    r = _load(loader, library_path("", "x86_64"))
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"abi (\d+) features (0x[0-9a-f]+|0)", r.stdout)
    assert m and int(m.group(1)) == ABI_VERSION, r.stdout


def test_probe_object_loads_under_musl(loader):
    r = _load(loader, library_path("probe", "x86_64"))
    assert r.returncode == 0 and "loaded" in r.stdout, r.stdout + r.stderr


def test_control_a_glibc_library_does_not_load_under_musl(loader):
    ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")  # to find its path in our maps
    maps = Path("/proc/self/maps").read_text().split("\n")
    (libm,) = {line.split()[-1] for line in maps if re.search(r"/libm\.so\.6$", line)} or {None}
    if libm is None:
        pytest.skip("this interpreter's C library is not glibc")
    r = _load(loader, Path(libm))
    assert r.returncode != 0 and "dlopen failed" in r.stdout, r.stdout
