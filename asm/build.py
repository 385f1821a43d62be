#!/usr/bin/env python3
"""Build the native backends (and the test helpers) from assembly.

Only an assembler and a linker are used: GNU ``as`` and ``ld`` for x86-64,
``aarch64-linux-gnu-as`` and ``aarch64-linux-gnu-ld`` (Debian's
binutils-aarch64-linux-gnu) for AArch64.  No C compiler, no preprocessor, no
libc.  The output is byte-for-byte reproducible for a given binutils version.

The values the Python side and the assembly share (API table offsets, flag and feature
bits, ABI version, messages) live in secretscope/_interface.py; each architecture's
asm/<arch>/interface.inc is generated from it here and committed.

    python asm/build.py            # regenerate asm/<arch>/interface.inc, rebuild every
                                   # target whose tools exist
    python asm/build.py --check    # compare the generated includes with the table and
                                   # rebuild into a temporary folder and compare with the
                                   # committed files; exit 1 on a difference
    python asm/build.py --arch x86_64
"""
from __future__ import annotations

import argparse
import filecmp
import importlib.util
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    arch: str
    source_dir: Path          # relative to ROOT
    output: Path              # relative to ROOT
    soname: str
    exports: Path | None      # version script, relative to ROOT

    def sources(self) -> list[Path]:
        return sorted((ROOT / self.source_dir).glob("*.S"))


TARGETS = [
    Target("x86_64", Path("asm/x86_64"), Path("secretscope/_lib/libsecretscope_x86_64.so"),
           "libsecretscope_x86_64.so", Path("asm/x86_64/exports.map")),
    Target("x86_64", Path("asm/x86_64/probe"), Path("secretscope/_lib/libsecretscope_probe_x86_64.so"),
           "libsecretscope_probe_x86_64.so", None),
    Target("x86_64", Path("asm/x86_64/buffer"), Path("secretscope/_lib/libsecretscope_buffer_x86_64.so"),
           "libsecretscope_buffer_x86_64.so", None),
    Target("x86_64", Path("asm/x86_64/probe_alloc"), Path("secretscope/_lib/libsecretscope_probe_alloc_x86_64.so"),
           "libsecretscope_probe_alloc_x86_64.so", None),
    Target("aarch64", Path("asm/aarch64"), Path("secretscope/_lib/libsecretscope_aarch64.so"),
           "libsecretscope_aarch64.so", Path("asm/aarch64/exports.map")),
    Target("aarch64", Path("asm/aarch64/probe"), Path("secretscope/_lib/libsecretscope_probe_aarch64.so"),
           "libsecretscope_probe_aarch64.so", None),
    Target("aarch64", Path("asm/aarch64/buffer"), Path("secretscope/_lib/libsecretscope_buffer_aarch64.so"),
           "libsecretscope_buffer_aarch64.so", None),
    Target("aarch64", Path("asm/aarch64/probe_alloc"), Path("secretscope/_lib/libsecretscope_probe_alloc_aarch64.so"),
           "libsecretscope_probe_alloc_aarch64.so", None),
]


def tools(arch: str) -> tuple[str, str] | None:
    """(assembler, linker) for arch, or None when they are not installed.

    The target-prefixed tools (x86_64-linux-gnu-as, aarch64-linux-gnu-ld, ...) come first:
    under qemu-user an emulated AArch64 interpreter reports machine() == "aarch64" while the
    plain `as` on PATH is the host's.  Plain `as`/`ld` are used only on a native host."""
    prefix = {"x86_64": "x86_64-linux-gnu-", "aarch64": "aarch64-linux-gnu-"}[arch]
    candidates = [(shutil.which(prefix + "as"), shutil.which(prefix + "ld"))]
    if platform.machine() == arch and sys.platform.startswith("linux"):
        candidates.append((shutil.which("as"), shutil.which("ld")))
    for as_, ld in candidates:
        if as_ and ld:
            return as_, ld
    return None


def build(target: Target, out_root: Path) -> Path:
    """Assemble and link target; return the path of the produced object."""
    tool = tools(target.arch)
    if tool is None:
        raise SystemExit(f"build.py: no assembler/linker for {target.arch} "
                         f"(install binutils{'' if target.arch == platform.machine() else '-' + target.arch.replace('_', '-') + '-linux-gnu'})")
    as_, ld = tool
    sources = target.sources()
    if not sources:
        raise SystemExit(f"build.py: no sources in {target.source_dir}")
    output = out_root / target.output
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        objects = []
        for src in sources:
            obj = Path(tmp) / (src.stem + ".o")
            # Relative paths and a fixed cwd keep file names in the objects stable.
            subprocess.run([as_, "-I", str(target.source_dir), "-I", "asm/shared", "-o", str(obj),
                            str(src.relative_to(ROOT))], cwd=ROOT, check=True)
            objects.append(str(obj))
        cmd = [ld, "-shared", "-Bsymbolic", "--hash-style=gnu", "--build-id=sha1",
               "-z", "noexecstack", "-z", "relro", "-z", "now", "-z", "separate-code",
               "--eh-frame-hdr", "-soname", target.soname, "-o", str(output)]
        if target.exports is not None:
            cmd += ["--version-script", str(target.exports)]
        subprocess.run(cmd + objects, cwd=ROOT, check=True)
    return output


def _load_package_module(name: str, root: Path = ROOT):
    """secretscope/<name>.py, loaded by path (importing the package would load the objects)."""
    spec = importlib.util.spec_from_file_location("_secretscope" + name, root / "secretscope" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_digest_module():
    return _load_package_module("_loaddigest")


def interface_include(arch: str) -> Path:
    """The generated include of arch's backend, relative to ROOT."""
    return Path("asm") / arch / "interface.inc"


def render_interface(arch: str, root: Path = ROOT) -> str:
    """What asm/<arch>/interface.inc must hold: the table in root's secretscope/_interface.py."""
    return _load_package_module("_interface", root).render_include(arch)


def stale_interfaces(arches: list[str], root: Path = ROOT) -> list[Path]:
    """The generated includes under root that differ from what the table gives (or are missing)."""
    stale = []
    for arch in arches:
        path = root / interface_include(arch)
        if not path.exists() or path.read_text() != render_interface(arch, root):
            stale.append(interface_include(arch))
    return stale


def write_interfaces(arches: list[str], root: Path = ROOT) -> None:
    for arch in arches:
        path = root / interface_include(arch)
        text = render_interface(arch, root)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"generated {interface_include(arch)}")


def manifest_text(lib_dir: Path) -> str:
    """SHA256SUMS for the shared objects in lib_dir: each one's load digest (the segments the
    loader maps; unchanged by strip), which the loader checks before dlopen."""
    digest = _load_digest_module().load_digest
    lines = ["# load digests: SHA-256 of each object's PT_LOAD segments (secretscope/_loaddigest.py)"]
    lines += [f"{digest(p.read_bytes())}  {p.name}" for p in sorted(lib_dir.glob("*.so"))]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="rebuild into a temporary folder and compare with the committed files")
    parser.add_argument("--arch", action="append", choices=sorted({t.arch for t in TARGETS}),
                        help="only this architecture (repeatable)")
    parser.add_argument("--skip-missing", action="store_true",
                        help="skip targets whose assembler/linker is not installed instead of failing")
    args = parser.parse_args(argv)
    selected = [t for t in TARGETS if args.arch is None or t.arch in args.arch]
    # the architectures implemented in this tree: the ones with a backend that includes common.inc
    arches = sorted({t.arch for t in selected if (ROOT / "asm" / t.arch / "common.inc").exists()})
    failures = 0
    if args.check:
        stale = stale_interfaces(arches)
        for arch in arches:
            bad = interface_include(arch) in stale
            print(f"{'DIFF' if bad else 'ok  '} {interface_include(arch)}"
                  + (" (stale: not what secretscope/_interface.py gives; run python3 asm/build.py)" if bad else ""))
        failures += len(stale)
    else:
        write_interfaces(arches)
    for target in selected:
        if not target.sources():
            continue  # architecture not implemented in this tree
        if tools(target.arch) is None and args.skip_missing:
            print(f"skip {target.output}: no assembler/linker for {target.arch}")
            continue
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                built = build(target, Path(tmp))
                committed = ROOT / target.output
                same = committed.exists() and filecmp.cmp(built, committed, shallow=False)
                print(f"{'ok  ' if same else 'DIFF'} {target.output}")
                failures += not same
        else:
            print(f"built {build(target, ROOT).relative_to(ROOT)}")
    lib_dir = ROOT / "secretscope" / "_lib"
    if args.check:
        same = (lib_dir / "SHA256SUMS").exists() and (lib_dir / "SHA256SUMS").read_text() == manifest_text(lib_dir)
        print(f"{'ok  ' if same else 'DIFF'} secretscope/_lib/SHA256SUMS")
        failures += not same
    else:
        (lib_dir / "SHA256SUMS").write_text(manifest_text(lib_dir))
        print("wrote secretscope/_lib/SHA256SUMS")
    if failures:
        print(f"build.py --check: {failures} file(s) differ from what the sources and "
              "secretscope/_interface.py give (DIFF above); run python3 asm/build.py and commit the result",
              file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
