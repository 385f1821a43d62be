#!/usr/bin/env python3
"""Build the sdist and the three wheels from one tree, and check them.

    python tools/build_dist.py                  # dist/: sdist, x86_64, aarch64 and py3-none-any wheels
    python tools/build_dist.py --check          # ... then check them (what CI runs)
    python tools/build_dist.py --no-isolation   # build with this environment's setuptools (offline)

The wheels are built from the sdist, not from the tree, so that a file missing from the sdist
breaks the build here instead of a packager's.  Each wheel comes from setup.py's SECRETSCOPE_WHEEL
target: py3-none-manylinux_2_17_<arch>.manylinux2014_<arch>.musllinux_1_1_<arch> with only that
architecture's objects, and py3-none-any with none.

--check needs the `lint` extra (build, twine, check-wheel-contents, auditwheel) and verifies:
- every wheel holds every module of the package (secretscope.diagnostics too), and exactly the
  objects of its tag, each listed with its load digest in SHA256SUMS;
- `twine check --strict` (metadata and long description) on every file;
- `check-wheel-contents` on every wheel, nothing ignored (the objects are named
  libsecretscope[_kind]_<arch>.so: it takes any *.so for an extension module and wants a name
  that could be imported; ours are loaded with ctypes, never imported);
- `auditwheel show`: every platform wheel needs no external library and is consistent with a
  manylinux policy no newer than its tag's;
- the sdist holds every file git tracks (when run from a git checkout).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("x86_64", "aarch64", "any")
PLATFORM_TAG = "manylinux_2_17_{0}.manylinux2014_{0}.musllinux_1_1_{0}"
NEWEST_GLIBC = (2, 17)  # what the tag promises; auditwheel must find the wheel fits it


def run(cmd: List[str], cwd: Path = ROOT, env: Optional[Dict[str, str]] = None) -> str:
    r = subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"build_dist.py: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


def wheel_name(version: str, target: str) -> str:
    tag = "any" if target == "any" else PLATFORM_TAG.format(target)
    return f"secretscope-{version}-py3-none-{tag}.whl"


def build(outdir: Path, isolation: bool = True) -> Dict[str, Path]:
    """sdist and the three wheels in outdir: {"sdist": path, "x86_64": path, ...}."""
    outdir.mkdir(parents=True, exist_ok=True)
    flags = [] if isolation else ["--no-isolation"]
    built: Dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = run([sys.executable, "-m", "build", "--sdist", *flags, "--outdir", str(outdir), str(ROOT)])
        m = re.search(r"Successfully built (secretscope-\S+\.tar\.gz)", out)
        if not m:
            raise SystemExit(f"build_dist.py: no sdist built:\n{out}")
        built["sdist"] = sdist = outdir / m.group(1)
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(tmp)
        (tree,) = Path(tmp).iterdir()
        version = tree.name.rsplit("-", 1)[1]
        for target in TARGETS:
            env = dict(os.environ, SECRETSCOPE_WHEEL=target)
            run([sys.executable, "-m", "build", "--wheel", *flags, "--outdir", str(outdir), str(tree)], env=env)
            wheel = outdir / wheel_name(version, target)
            if not wheel.exists():
                raise SystemExit(f"build_dist.py: the {target} build did not produce {wheel.name}")
            built[target] = wheel
    return built


def wheel_objects(wheel: Path) -> Dict[str, bytes]:
    with zipfile.ZipFile(wheel) as z:
        return {Path(n).name: z.read(n) for n in z.namelist() if n.endswith(".so")}


def _load_digest(data: bytes) -> str:
    """secretscope/_loaddigest.py's digest (what the loader checks), loaded by path."""
    spec = importlib.util.spec_from_file_location("_secretscope_loaddigest", ROOT / "secretscope" / "_loaddigest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.load_digest(data))


def check_contents(target: str, wheel: Path) -> None:
    """The wheel holds its own objects only, each listed with its load digest, and says whether it is pure."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        manifest = z.read("secretscope/_lib/SHA256SUMS").decode()
        wheel_meta = z.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
    objects = wheel_objects(wheel)
    expected = set() if target == "any" else {f"libsecretscope{kind}_{target}.so" for kind in ("", "_probe", "_buffer", "_probe_alloc")}
    if set(objects) != expected:
        raise SystemExit(f"{wheel.name}: objects {sorted(objects)}, expected {sorted(expected)}")
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "secretscope").rglob("*.py")}
    if modules - set(names):  # a subpackage missing from pyproject.toml's [tool.setuptools] packages
        raise SystemExit(f"{wheel.name}: lacks the modules {sorted(modules - set(names))}")
    stray = [n for n in names if n.endswith(".so") and not n.startswith("secretscope/_lib/")]
    if stray:
        raise SystemExit(f"{wheel.name}: objects outside secretscope/_lib: {stray}")
    listed = {name: digest for digest, name in (line.split() for line in manifest.splitlines()
                                                 if line.strip() and not line.startswith("#"))}
    actual = {name: _load_digest(data) for name, data in objects.items()}
    if listed != actual:
        raise SystemExit(f"{wheel.name}: SHA256SUMS lists {listed}, the wheel holds {actual}")
    pure = f"Root-Is-Purelib: {'true' if target == 'any' else 'false'}"
    if pure not in wheel_meta:
        raise SystemExit(f"{wheel.name}: WHEEL lacks {pure!r}:\n{wheel_meta}")


def check_auditwheel(target: str, wheel: Path) -> str:
    out = run([sys.executable, "-m", "auditwheel", "show", str(wheel)])
    flat = " ".join(out.split())
    m = re.search(rf'consistent with the following platform tag: "manylinux_(\d+)_(\d+)_{target}"', flat)
    if not m or (int(m.group(1)), int(m.group(2))) > NEWEST_GLIBC:
        raise SystemExit(f"{wheel.name}: auditwheel does not find it consistent with manylinux_2_17_{target}:\n{out}")
    if "requires no external shared libraries" not in flat:
        raise SystemExit(f"{wheel.name}: auditwheel finds external libraries:\n{out}")
    return f"manylinux_{m.group(1)}_{m.group(2)}_{target}"


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    if shutil.which("git") and (ROOT / ".git").exists():
        tracked = set(run(["git", "ls-files"]).split("\n")) - {"", ".gitignore"}
        tracked = {n for n in tracked if (ROOT / n).exists()}
        missing = sorted(tracked - names)
        if missing:
            raise SystemExit(f"{sdist.name} lacks tracked files (add them to MANIFEST.in): {missing}")
    junk = sorted(n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__" in n or ".cache/" in n)
    if junk:
        raise SystemExit(f"{sdist.name} holds build or cache files: {junk}")


def check(built: Dict[str, Path]) -> None:
    files = [str(p) for p in built.values()]
    check_sdist(built["sdist"])
    print(f"ok   {built['sdist'].name}: every tracked file, no bytecode")
    for target in TARGETS:
        check_contents(target, built[target])
        print(f"ok   {built[target].name}: {', '.join(sorted(wheel_objects(built[target]))) or 'no object'}")
    run([sys.executable, "-m", "twine", "check", "--strict", *files])
    print("ok   twine check --strict")
    run([sys.executable, "-m", "check_wheel_contents", *[str(built[t]) for t in TARGETS]])
    print("ok   check-wheel-contents")
    for target in TARGETS[:2]:
        print(f"ok   auditwheel show {target}: no external library, consistent with "
              f"{check_auditwheel(target, built[target])}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outdir", type=Path, default=ROOT / "dist", help="where to write them (default dist/)")
    parser.add_argument("--check", action="store_true", help="check the sdist and the wheels after building")
    parser.add_argument("--no-isolation", action="store_true",
                        help="build with this environment's setuptools instead of a fresh one from the index")
    args = parser.parse_args(argv)
    built = build(args.outdir.resolve(), isolation=not args.no_isolation)
    for path in built.values():
        print(f"built {path}")
    if args.check:
        check(built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
