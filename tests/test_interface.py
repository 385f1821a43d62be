"""The Python-assembly interface has one source, secretscope/_interface.py (issue 17).

The generated asm/<arch>/interface.inc must be what the table gives, no assembly source may define
one of its values by hand, the built objects must carry the table's values (their symbol tables keep
every .equ, the data holds the version and the messages), and asm/build.py --check must fail when
an include is stale or an object does not match its sources.
"""
from __future__ import annotations

import ctypes
import dataclasses
import importlib.util
import platform
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Set, Tuple

import pytest

from secretscope import _interface, _native, _threads
from secretscope._interface import ABI_VERSION, API_NAMES, API_SIZE, LAYOUT_SIZE, MESSAGES
from tests._support.elf import Elf
from tests._support.environment import ROOT

LIB = ROOT / "secretscope" / "_lib"
ARCHES = [arch for arch in _interface.ARCHES if (ROOT / "asm" / arch / "common.inc").exists()]
SHN_ABS = 0xFFF1
SHT_SYMTAB = 2
EQU = re.compile(r"^\s*\.(?:equ|set)\s+(\w+)\s*,\s*(.+?)\s*(?:/\*.*)?$", re.MULTILINE)


def _load_build(root: Path = ROOT) -> ModuleType:
    """asm/build.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("_secretscope_build_" + str(abs(hash(root))), root / "asm" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def _generated(arch: str) -> Dict[str, int]:
    """Name -> value of every .equ the table gives arch."""
    return {name: int(value) for name, value in EQU.findall(_interface.render_include(arch))}


def _symtab(path: Path) -> List[Tuple[str, int, int, int]]:
    """(name, section index, value, size) of every named symbol in path's .symtab."""
    elf = Elf(path)
    out: List[Tuple[str, int, int, int]] = []
    for _, sh_type, _, _, offset, size, link, _, _, entsize in elf.sections:
        if sh_type != SHT_SYMTAB:
            continue
        str_off = elf.sections[link][4]
        for i in range(1, size // entsize):
            st_name, _, _, st_shndx, st_value, st_size = struct.unpack_from("<IBBHQQ", elf.data, offset + i * entsize)
            if st_name:
                end = elf.data.index(b"\0", str_off + st_name)
                out.append((elf.data[str_off + st_name:end].decode(), st_shndx, st_value, st_size))
    return out


def _absolute_symbols(path: Path) -> Dict[str, Set[int]]:
    """The absolute symbols (.equ values) in path's .symtab: one per object file that defined them."""
    out: Dict[str, Set[int]] = {}
    for name, shndx, value, _ in _symtab(path):
        if shndx == SHN_ABS:
            out.setdefault(name, set()).add(value)
    return out


#: the data objects laid out by a record: symbol -> (record, records in the object)
_RECORD_OBJECTS = {
    "ss_fl_entries": (_interface.FREE_LISTS, _interface.FREE_LISTS.maximum),
    "ss_fl_zero": (_interface.FREE_ARRAYS, _interface.FREE_ARRAYS.maximum),
    "ss_fl_chains": (_interface.FREE_CHAINS, _interface.FREE_CHAINS.maximum),
    "ss_call_hooks": (_interface.HOOKS, 1),
    "ss_heap_domains": (_interface.DOMAINS, 2),
    "ss_native_api": (_interface.NATIVE_API, 1),
}


def _host_tools(arch: str) -> bool:
    prefix = {"x86_64": "x86_64-linux-gnu-", "aarch64": "aarch64-linux-gnu-"}[arch]
    plain = platform.machine() == arch and shutil.which("as") and shutil.which("ld")
    return bool((shutil.which(prefix + "as") and shutil.which(prefix + "ld")) or plain)


# ---- the generated includes ----------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHES)
def test_committed_include_is_what_the_table_generates(arch: str) -> None:
    committed = (ROOT / "asm" / arch / "interface.inc").read_text()
    assert committed == _load_build().render_interface(arch), \
        f"asm/{arch}/interface.inc is stale: run python3 asm/build.py"
    assert "GENERATED" in committed.splitlines()[1] and "Do not edit" in committed


@pytest.mark.parametrize("arch", ARCHES)
def test_generation_is_stable_and_complete(arch: str) -> None:
    text = _interface.render_include(arch)
    assert text == _interface.render_include(arch)
    values = _generated(arch)
    assert values["ABI_VERSION"] == ABI_VERSION
    assert values["API_SIZE"] == API_SIZE == 8 * len(API_NAMES)
    assert [values["API_" + name.upper()] for name in API_NAMES] == list(range(0, API_SIZE, 8))
    assert values["LAYOUT_SIZE"] == LAYOUT_SIZE
    for message in MESSAGES:
        assert f".macro MSG_{message.name}_TEXT" in text
    assert [values[f"K_{kind.name.upper()}"] for kind in _interface.NATIVE_KINDS] == \
        list(range(len(_interface.NATIVE_KINDS))) and values["KINDS"] == len(_interface.NATIVE_KINDS)
    assert values["FAMILIES"] == _interface.NATIVE_FAMILIES
    for record in _interface.RECORDS:  # 8-byte fields in order, the record's size, the array's length
        offsets = [values[f"{record.prefix}_{name.upper()}"] for name in record.names]
        assert offsets == list(range(0, 8 * len(record.fields), 8)), record.prefix
        assert values[f"{record.prefix}_SIZE"] == record.size >= 8 * len(record.fields)
        assert values.get(f"{record.prefix}_MAX", 0) == record.maximum
        if record.shift:
            assert 1 << values[f"{record.prefix}_SHIFT"] == record.size


@pytest.mark.parametrize("arch", ARCHES)
def test_no_source_defines_a_table_value_by_hand(arch: str) -> None:
    generated = set(_generated(arch))
    shared = sorted((ROOT / "asm" / "shared").glob("*.inc"))  # the arch-neutral includes
    for source in [*sorted((ROOT / "asm" / arch).glob("*.[Si]*")), *shared]:
        if source.name == "interface.inc":
            continue
        defined = {name for name, _ in EQU.findall(source.read_text())}
        assert not defined & generated, f"{source.relative_to(ROOT)} defines {sorted(defined & generated)} " \
                                        "(they belong in secretscope/_interface.py)"
    for message in MESSAGES:  # the texts come from the macros only
        for source in sorted((ROOT / "asm" / arch).glob("*.S")):
            if source.name == "trampoline.S":
                assert f'"{message.text}"' not in source.read_text(), source


def test_python_side_reads_the_table() -> None:
    assert _native.ABI_VERSION == ABI_VERSION
    assert _native._API_SLOTS == API_NAMES
    assert (_native.CAP_HEAP, _native.CAP_SIGNAL_STACKS) == (_interface.CAP_HEAP, _interface.CAP_SIGNAL_STACKS)
    assert _threads.SLOTF_GROWSDOWN == {b.name: b.value for b in _interface.SLOT_FLAGS}["GROWSDOWN"]
    for arch in _interface.ARCHES:
        bits = {b.feature: b.value for b in _interface.FEATURES[arch] if b.feature}
        assert dict((name, bit) for bit, name in _native._FEATURE_NAMES[arch]) == bits
    from secretscope import _call_results, _cpython, _freelists
    assert len(_cpython.object_layout()) * 8 == LAYOUT_SIZE
    assert _cpython.SCOPE_FIELDS_SIZE == _interface.SCOPE.size
    assert _call_results._HOOK_SLOTS == _interface.HOOKS.names
    assert _freelists.ENTRY_FIELDS == _interface.FREE_LISTS.names
    assert (_freelists.MAX_ENTRIES, _freelists.ZERO_MAX, _freelists.CHAINS_MAX) == \
        (_interface.FREE_LISTS.maximum, _interface.FREE_ARRAYS.maximum, _interface.FREE_CHAINS.maximum)
    from secretscope import _native_heap
    assert _native_heap.ALLOCATOR_NAMES == tuple(kind.name for kind in _interface.NATIVE_KINDS)
    assert _native_heap.FAMILIES == _interface.NATIVE_FAMILIES
    assert (_native_heap.COLLECT_ENTRY, _native_heap.COLLECT_NAME, _native_heap.COLLECT_HEADER) == \
        (_interface.COLLECT_ENTRY, _interface.COLLECT_NAME, _interface.COLLECT_HEADER)
    # the attributes _freelists.py fills the two zeroing tables from, by field name
    assert set(_interface.FREE_ARRAYS.names) <= {f.name for f in dataclasses.fields(_freelists.ZeroedArray)}
    assert set(_interface.FREE_CHAINS.names) <= {f.name for f in dataclasses.fields(_freelists.ZeroedChains)}


def test_shared_allocator_list_is_the_tables() -> None:
    """asm/shared/allocators.inc (for the objects without interface.inc) lists NATIVE_KINDS."""
    text = (ROOT / "asm" / "shared" / "allocators.inc").read_text()
    listed = re.search(r"\.irp name, (.+)", text)
    assert listed is not None
    assert tuple(name.strip() for name in listed.group(1).split(",")) == \
        tuple(kind.name for kind in _interface.NATIVE_KINDS)


# ---- the built objects ---------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHES)
def test_object_symbols_and_data_agree_with_the_table(arch: str) -> None:
    path = LIB / f"libsecretscope_{arch}.so"
    absolute = _absolute_symbols(path)
    if not absolute:
        pytest.skip(f"{path.name} has no symbol table (stripped)")
    generated = _generated(arch)
    for name, value in generated.items():
        assert absolute.get(name, {value}) == {value}, f"{path.name}: {name} is {absolute[name]}, the table says {value}"
    for name in ("ABI_VERSION", "API_SIZE", "API_VECTORCALL", "SLOTF_GROWSDOWN", "CAP_HEAP", "LAYOUT_SIZE"):
        assert name in absolute, f"{path.name} was not built with the generated include ({name} missing)"
    # no table entry the assembly uses that the table does not know of
    record_prefixes = tuple(record.prefix + "_" for record in _interface.RECORDS if record.prefix != "FL")
    for prefix in ("API_", "SLOTF_", "CAP_", "FEAT_", "LAYOUT_", *record_prefixes):
        extra = {n for n in absolute if n.startswith(prefix)} - set(generated)
        assert not extra, f"{path.name} uses {sorted(extra)}, which secretscope/_interface.py lacks"
    elf = Elf(path)
    symbols = {s.name: s for s in elf.dynamic_symbols()}
    assert symbols["ss_api"].size == API_SIZE
    assert symbols["ss_object_layout"].size == LAYOUT_SIZE
    sizes = {name: size for name, shndx, _, size in _symtab(path) if shndx != SHN_ABS}
    for name, (record, count) in _RECORD_OBJECTS.items():
        assert sizes[name] == count * record.size, f"{path.name}: {name} is {sizes[name]} bytes"
    assert sizes["ss_native_next"] == _interface.NATIVE_FAMILIES * len(_interface.NATIVE_KINDS) * 8
    assert sizes["ss_parked"] == min(absolute["SLOT_COUNT"]) * _interface.PARKED.size
    version = symbols["ss_abi_version"]
    assert struct.unpack_from("<Q", elf.data, elf.file_offset(version.value))[0] == ABI_VERSION
    for message in MESSAGES:
        assert message.text.encode() + b"\0" in elf.data, f"{path.name} lacks the message {message.name}"


def test_loaded_object_reports_the_table(native: _native.NativeBackend) -> None:
    assert ctypes.c_uint64.in_dll(native.lib, "ss_abi_version").value == ABI_VERSION
    assert ctypes.c_uint64.in_dll(native.lib, "ss_capabilities").value == \
        _interface.CAP_HEAP | _interface.CAP_SIGNAL_STACKS
    known = 0
    for bit in _interface.FEATURES[native.arch]:
        known |= bit.value
    assert native.feature_bits & ~known == 0, "ss_init reported a feature bit the table does not know"
    with pytest.raises(TypeError) as raised:
        native.do()
    assert str(raised.value) == _interface.message("DO_NOARGS")


# ---- build.py --check ----------------------------------------------------------------------

def _copy_tree(tmp: Path) -> Path:
    """What build.py reads: asm/, the table, the load digest module and the committed objects."""
    root = tmp / "tree"
    shutil.copytree(ROOT / "asm", root / "asm", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "secretscope").mkdir()
    for name in ("_interface.py", "_loaddigest.py"):
        shutil.copy2(ROOT / "secretscope" / name, root / "secretscope" / name)
    shutil.copytree(LIB, root / "secretscope" / "_lib")
    return root


def _mutate_table(root: Path) -> None:
    table = root / "secretscope" / "_interface.py"
    text = table.read_text()
    assert '    Bit("HEAP", 1,' in text
    table.write_text(text.replace('    Bit("HEAP", 1,', '    Bit("HEAP", 64,'))


def test_a_changed_table_makes_the_include_stale(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    build = _load_build(root)
    assert build.stale_interfaces(ARCHES, root) == []
    _mutate_table(root)
    assert build.stale_interfaces(ARCHES, root) == [Path("asm") / arch / "interface.inc" for arch in ARCHES]
    build.write_interfaces(ARCHES, root)
    assert build.stale_interfaces(ARCHES, root) == []
    assert ".equ CAP_HEAP, 64" in (root / "asm" / ARCHES[0] / "interface.inc").read_text()


def _check(root: Path, arch: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(root / "asm" / "build.py"), "--check", "--arch", arch],
                          capture_output=True, text=True, cwd=root, timeout=300)


@pytest.mark.parametrize("arch", ARCHES)
def test_check_fails_on_a_stale_include_or_object(tmp_path: Path, arch: str) -> None:
    if not _host_tools(arch):
        pytest.skip(f"no assembler/linker for {arch}")
    root = _copy_tree(tmp_path)
    ok = _check(root, arch)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    include = root / "asm" / arch / "interface.inc"
    original = include.read_text()

    _mutate_table(root)  # the table changed, the include was not regenerated
    stale = _check(root, arch)
    assert stale.returncode == 1
    assert f"DIFF asm/{arch}/interface.inc" in stale.stdout and "stale" in stale.stdout
    assert "build.py --check" in stale.stderr

    # regenerated, but the objects were not rebuilt: CAP_HEAP reaches ss_capabilities
    _load_build(root).write_interfaces([arch], root)
    objects = _check(root, arch)
    assert objects.returncode == 1
    assert f"ok   asm/{arch}/interface.inc" in objects.stdout
    assert f"DIFF secretscope/_lib/libsecretscope_{arch}.so" in objects.stdout

    # an include edited by hand is stale too
    include.write_text(original.replace(".equ API_SIZE, ", ".equ API_SIZE, 8 + "))
    assert _check(root, arch).returncode == 1
