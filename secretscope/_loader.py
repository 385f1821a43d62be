"""Finding, checking and loading the shared objects in secretscope/_lib.

No process-wide state is touched here: importing this module (the native backend does, and so does
SecretBuffer's storage, also in subinterpreters) loads nothing until load_verified is called.
"""
from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Optional

from ._elfcheck import validate
from ._errors import NativeLoadError
from ._loaddigest import load_digest
from ._platform import LIB_DIR, native_arch, read_manifest

__all__ = ["LIB_DIR", "library_path", "load_verified", "read_manifest"]


def library_path(kind: str = "", arch: Optional[str] = None) -> Path:
    """Path of the shared object: kind "" is the backend, "probe" the diagnostic helpers."""
    arch = arch or native_arch() or "unknown"
    middle = f"_{kind.replace('-', '_')}" if kind else ""
    return LIB_DIR / f"libsecretscope{middle}_{arch}.so"


def load_verified(path: Path, loader: type = ctypes.CDLL, arch: Optional[str] = None) -> ctypes.CDLL:
    """dlopen `path` after checking, on its bytes, that it is an intact object of ours.

    First its structure (_elfcheck.validate: nothing truncated, the right machine and soname, no
    dependencies or initialisers), so that no damaged or foreign file is ever mapped; then its load
    digest against SHA256SUMS.  This detects corruption, not tampering (docs/guarantees.md).
    loader=ctypes.PyDLL keeps the GIL held during foreign calls (needed when the routine calls
    back into CPython)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NativeLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        validate(data, arch or native_arch() or "unknown", path.name)
    except NativeLoadError as exc:
        raise NativeLoadError(f"{path} is not a usable secretscope object: {exc}") from None
    expected = read_manifest().get(path.name)
    if expected is None:
        raise NativeLoadError(f"{path.name} is not listed in {LIB_DIR / 'SHA256SUMS'}")
    actual = load_digest(data)
    if actual != expected:
        raise NativeLoadError(f"{path} is corrupt: load digest {actual[:16]}..., expected {expected[:16]}...")
    try:
        return loader(str(path))  # type: ignore[no-any-return]
    except OSError as exc:
        raise NativeLoadError(f"cannot load {path}: {exc}") from None
