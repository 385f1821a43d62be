"""Build hooks for setuptools (the metadata is in pyproject.toml).

Which wheel a build makes: SECRETSCOPE_WHEEL=x86_64 | aarch64 | any | auto (default).

- x86_64, aarch64: a binary wheel tagged
  py3-none-manylinux_2_17_<arch>.manylinux2014_<arch>.musllinux_1_1_<arch> holding only that
  architecture's objects (secretscope/_lib/*_<arch>.so) and a SHA256SUMS listing only them.  The
  objects link against no library (no libc, no undefined symbol: tests/test_build.py), so one
  wheel serves every Linux C library; manylinux2014 / musllinux_1_1 are the oldest tags installers
  still know.
- any: the py3-none-any fallback wheel for every other platform, with no object and an empty
  SHA256SUMS: secretscope then reports, without a warning, that this installation carries no native
  backend (secretscope/_platform.py).
- auto: this machine's architecture on Linux x86-64 / AArch64 (so `pip install .` installs the
  wheel for the machine it runs on), else any.

tools/build_dist.py builds the sdist and all three wheels from one tree and checks them.

The long description is README.md with its relative links made absolute against the "Source" URL
of [project.urls] (pinned to the release tag), or, while the project has none, turned into file
names of the sdist: a package index page has no relative links that work.
"""
from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

try:
    import tomllib
except ImportError:  # Python 3.10: setuptools vendors tomli
    from setuptools._vendor import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent
ARCHES = ("x86_64", "aarch64")
MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
PLATFORM_TAG = "manylinux_2_17_{0}.manylinux2014_{0}.musllinux_1_1_{0}"
LIB_PACKAGE = "secretscope._lib"


def wheel_target() -> str:
    """"x86_64", "aarch64" or "any", from SECRETSCOPE_WHEEL (fails closed on anything else)."""
    choice = os.environ.get("SECRETSCOPE_WHEEL", "auto").strip().lower() or "auto"
    if choice == "auto":
        if sys.platform.startswith("linux"):
            return MACHINES.get(platform.machine().lower(), "any")
        return "any"
    if choice not in (*ARCHES, "any"):
        raise SystemExit(f"SECRETSCOPE_WHEEL must be x86_64, aarch64, any or auto, not {choice!r}")
    return choice


def object_arch(name: str) -> str | None:
    """The architecture a shared object of secretscope/_lib is built for, from its name."""
    for arch in ARCHES:
        if name.endswith(f"_{arch}.so"):
            return arch
    return None


class BuildPy(build_py):
    """Copies only the wheel's own architecture's objects, and a SHA256SUMS listing only them."""

    def target(self) -> str | None:
        return getattr(self.distribution, "secretscope_wheel_target", None)  # set by BdistWheel

    def find_data_files(self, package: str, src_dir: str) -> list[str]:
        files = super().find_data_files(package, src_dir)
        target = self.target()
        if package != LIB_PACKAGE or target is None:
            return files
        return [f for f in files if object_arch(os.path.basename(f)) in (None, target)]

    def run(self) -> None:
        super().run()
        target = self.target()
        if target is None:
            return
        lib = Path(self.build_lib, *LIB_PACKAGE.split("."))
        lib.mkdir(parents=True, exist_ok=True)
        for stale in lib.glob("*.so"):  # left in build/ by an earlier build for another target
            if object_arch(stale.name) != target:
                stale.unlink()
        shipped = {p.name for p in lib.glob("*.so")}
        manifest = (ROOT / "secretscope" / "_lib" / "SHA256SUMS").read_text().splitlines()
        kept = [line for line in manifest if line.startswith("#") or (line.split() and line.split()[-1] in shipped)]
        listed = {line.split()[-1] for line in kept if not line.startswith("#")}
        if listed != shipped:
            raise SystemExit(f"SHA256SUMS does not list {sorted(shipped - listed)}: run python asm/build.py")
        (lib / "SHA256SUMS").write_text("".join(line + "\n" for line in kept))


class BdistWheel(bdist_wheel):
    """Tags the wheel for its target: py3-none-<Linux platforms of arch>, or py3-none-any."""

    def finalize_options(self) -> None:
        self.secretscope_target = wheel_target()
        self.distribution.secretscope_wheel_target = self.secretscope_target  # type: ignore[attr-defined]
        if self.secretscope_target != "any":
            # Not pure: the files go to platlib and WHEEL says Root-Is-Purelib: false.
            self.distribution.has_ext_modules = lambda: True  # type: ignore[method-assign]
        super().finalize_options()

    def get_tag(self) -> tuple[str, str, str]:
        if self.secretscope_target == "any":
            return super().get_tag()
        return "py3", "none", PLATFORM_TAG.format(self.secretscope_target)


def long_description() -> str:
    """README.md with links that work on a package index page (see the module docstring)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    source = project.get("urls", {}).get("Source")
    version = re.search(r'^__version__ = "([^"]+)"', (ROOT / "secretscope" / "__init__.py").read_text(), re.M)
    tag = f"v{version.group(1)}" if version else "HEAD"

    def absolute(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:|#", target):
            return match.group(0)  # already absolute, or an anchor on the same page
        if source:
            return f"[{label}]({source.rstrip('/')}/blob/{tag}/{target})"
        return label if label.strip("`") == target else f"{label} (`{target}` in the source distribution)"

    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", absolute, text)


setup(
    cmdclass={"build_py": BuildPy, "bdist_wheel": BdistWheel},
    long_description=long_description(),
    long_description_content_type="text/markdown",
)
