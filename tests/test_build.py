"""The committed shared objects are exactly what asm/ builds, and are marked as required."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests._support.environment import IN_CI, ROOT
from tests._support.elf import (DT_NEEDED, DT_TEXTREL, PT_GNU_EH_FRAME, PT_GNU_PROPERTY, PT_GNU_STACK, SHN_UNDEF,
                                STT_FUNC, Elf)

LIB = ROOT / "secretscope" / "_lib"
OBJECTS = sorted(LIB.glob("*.so"))
MACHINES = {"x86_64": 62, "aarch64": 183}
ENTRY_MARK = {"x86_64": bytes.fromhex("f30f1efa"),  # endbr64
              "aarch64": bytes.fromhex("5f2403d5")}  # bti c
FEATURE_AND = {"x86_64": (0xC0000002, 0x3),  # GNU_PROPERTY_X86_FEATURE_1_AND: IBT | SHSTK
               "aarch64": (0xC0000000, 0x3)}  # GNU_PROPERTY_AARCH64_FEATURE_1_AND: BTI | PAC
EXPECTED_ARCHES = {"x86_64"} | ({"aarch64"} if (ROOT / "asm" / "aarch64" / "api.S").exists() else set())


def _arch(path):
    return "aarch64" if "aarch64" in path.name else "x86_64"


def test_every_supported_architecture_ships_both_objects():
    names = {p.name for p in OBJECTS}
    for arch in EXPECTED_ARCHES:
        assert f"libsecretscope_{arch}.so" in names
        assert f"libsecretscope_probe_{arch}.so" in names


def test_rebuild_is_byte_for_byte_identical():
    missing = [a for a in EXPECTED_ARCHES
               if shutil.which(("" if a == "x86_64" else "aarch64-linux-gnu-") + "as") is None]
    if missing and not IN_CI:
        pytest.skip(f"no assembler for {missing} (install binutils / binutils-aarch64-linux-gnu)")
    r = subprocess.run([sys.executable, str(ROOT / "asm" / "build.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "DIFF" not in r.stdout


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_no_libc_no_undefined_symbols_no_text_relocations(path):
    elf = Elf(path)
    assert elf.machine == MACHINES[_arch(path)]
    tags = [tag for tag, _ in elf.dynamic()]
    assert DT_NEEDED not in tags, "links against another library"
    assert DT_TEXTREL not in tags
    undefined = [s.name for s in elf.dynamic_symbols() if s.shndx == SHN_UNDEF and s.name]
    if "probe_alloc" in path.name:
        # the test object that allocates like a native library: it imports the allocator, nothing else
        assert set(undefined) == {"malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
                                  "aligned_alloc", "memalign", "valloc", "pvalloc", "free"}
    else:
        assert undefined == []


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_non_executable_stack_cfi_and_cet_bti_notes(path):
    elf = Elf(path)
    (stack,) = elf.segment(PT_GNU_STACK)
    assert stack.flags & 1 == 0, "executable stack"
    assert elf.segment(PT_GNU_EH_FRAME), "no .eh_frame_hdr: debuggers cannot unwind"
    assert elf.segment(PT_GNU_PROPERTY)
    prop, bits = FEATURE_AND[_arch(path)]
    assert elf.gnu_properties().get(prop, 0) & bits == bits


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_every_exported_function_is_an_indirect_branch_target(path):
    elf = Elf(path)
    mark = ENTRY_MARK[_arch(path)]
    functions = [s for s in elf.dynamic_symbols() if s.type == STT_FUNC and s.shndx != SHN_UNDEF]
    assert functions
    for sym in functions:
        off = elf.file_offset(sym.value)
        assert elf.data[off:off + 4] == mark, f"{sym.name} does not start with {mark.hex()}"


def test_manifest_lists_every_object():
    listed = {line.split()[1] for line in (LIB / "SHA256SUMS").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert listed == {p.name for p in OBJECTS}
