"""Which platform this is, and whether the native backend can run on it."""
from __future__ import annotations

import platform
import sys
import sysconfig
from pathlib import Path
from typing import Dict, FrozenSet, Optional

from ._errors import NativeLoadError

#: where the shared objects and their manifest (SHA256SUMS) are installed
LIB_DIR = Path(__file__).resolve().parent / "_lib"

#: machine name (as platform.machine() reports it on Linux) -> shared-object architecture
NATIVE_ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def machine() -> str:
    return platform.machine().lower()


def platform_tag() -> str:
    """"linux-x86_64", "linux-aarch64", "darwin-arm64", "win32-amd64", ..."""
    system = "linux" if sys.platform.startswith("linux") else sys.platform
    return f"{system}-{machine() or 'unknown'}"


def native_arch() -> Optional[str]:
    return NATIVE_ARCHES.get(machine())


def free_threaded() -> bool:
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def native_unavailable_reason() -> Optional[str]:
    """Why the native backend cannot run here, or None when it can."""
    if sys.implementation.name != "cpython":
        return f"the native backend needs CPython; this is {sys.implementation.name}"
    if sys.version_info < (3, 10):
        return "the native backend needs CPython 3.10 or newer"
    if not sys.platform.startswith("linux"):
        return f"no native backend for {sys.platform} (supported: Linux on x86-64 and AArch64)"
    if native_arch() is None:
        return f"no native backend for the {machine() or 'unknown'} machine (supported: x86-64, AArch64)"
    if sys.maxsize < 2**63 - 1:  # not ctypes: it may not import here (3.12's isolated subinterpreters)
        return "the native backend needs a 64-bit interpreter"
    shipped = shipped_objects()
    if shipped is not None and f"libsecretscope_{native_arch()}.so" not in shipped:
        return (f"this installation carries no native object for {native_arch()} (it is the py3-none-any "
                f"wheel, for platforms without a native backend): install the Linux {native_arch()} wheel "
                f"(pip picks it on this machine unless told otherwise) or build from source")
    return None


def shipped_objects() -> Optional[FrozenSet[str]]:
    """The shared objects this installation was built with (the names in _lib/SHA256SUMS; each
    wheel lists only its own, the py3-none-any wheel none), or None when the list cannot be read:
    then the loader reports the installation as damaged."""
    try:
        return frozenset(read_manifest())
    except NativeLoadError:
        return None


def read_manifest() -> Dict[str, str]:
    """file name -> load digest of every shared object as built from asm/ (asm/build.py writes it).

    The digest is _loaddigest.load_digest: SHA-256 over the segments the loader maps, so stripping
    the installed objects (as distribution packaging does) keeps them loadable.  Here, not in
    _loader (which re-exports it), because native_unavailable_reason needs the names where ctypes
    cannot be imported (CPython 3.12's isolated subinterpreters)."""
    manifest = LIB_DIR / "SHA256SUMS"
    try:
        lines = manifest.read_text().splitlines()
    except OSError as exc:
        raise NativeLoadError(f"{manifest} is missing: the package is incomplete ({exc})") from None
    entries: Dict[str, str] = {}
    for line in lines:
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 2:
            raise NativeLoadError(f"{manifest} is damaged: {line[:60]!r}")
        entries[fields[1]] = fields[0]
    return entries
