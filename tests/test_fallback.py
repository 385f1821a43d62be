"""The fallback backend: forced by the environment, or when the shared object is broken."""
from __future__ import annotations

import json
import os
import shutil
import textwrap

import pytest

from tests._support.environment import ROOT, run_python

FALLBACK_CHILD = "from tests._support.fallback_child import main; main()"

def test_forced_fallback_keeps_the_api_and_protects_nothing():
    r = run_python(FALLBACK_CHILD, env={"SECRETSCOPE_BACKEND": "fallback"})
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["backend"] == "fallback" and got["claims"] == [False, False, False, False]
    assert got["calls"] == [[42, False], [2, False]] and got["inside"] is False and got["enabled"] is False
    assert "SECRETSCOPE_BACKEND=fallback" in got["reason"]


def test_require_native_with_forced_fallback_raises():
    r = run_python("import secretscope", env={"SECRETSCOPE_BACKEND": "fallback", "SECRETSCOPE_REQUIRE_NATIVE": "1"})
    assert r.returncode != 0
    assert "NativeUnavailableError" in r.stderr and "SECRETSCOPE_REQUIRE_NATIVE=1" in r.stderr
    assert "linux-" in r.stderr or "darwin" in r.stderr  # names the platform


def test_bad_backend_value_is_an_error():
    r = run_python("import secretscope", env={"SECRETSCOPE_BACKEND": "turbo"})
    assert r.returncode != 0 and "SECRETSCOPE_BACKEND='turbo' is not understood" in r.stderr


def _copy_package(tmp_path):
    shutil.copytree(ROOT / "secretscope", tmp_path / "secretscope",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "secretscope" / "_lib"


@pytest.mark.parametrize("damage", ["corrupt", "missing", "truncated", "manifest-missing"])
def test_broken_shared_object_falls_back_with_a_warning(native, tmp_path, damage):
    lib_dir = _copy_package(tmp_path)
    so = lib_dir / f"libsecretscope_{native.arch}.so"
    if damage == "corrupt":
        from tests._support.elf import PT_LOAD, Elf
        text = [seg for seg in Elf(so).segment(PT_LOAD) if seg.flags & 1][0]  # the code segment
        data = bytearray(so.read_bytes())
        data[text.offset + 64] ^= 0xFF  # loaded bytes: what the digest covers
        so.write_bytes(bytes(data))
    elif damage == "missing":
        so.unlink()
    elif damage == "truncated":
        so.write_bytes(so.read_bytes()[:1000])
    else:
        (lib_dir / "SHA256SUMS").unlink()
    # the damaged copy of the package first on the path, then the repository's tests._support
    r = run_python(FALLBACK_CHILD.replace("main()", "main('always')"), cwd=tmp_path,
                   env={"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])})
    assert r.returncode == 0, r.stderr
    assert "NOTHING IS PROTECTED" in r.stderr
    got = json.loads(r.stdout)
    assert got["backend"] == "fallback" and got["claims"] == [False] * 4 and got["calls"][0] == [42, False]
    assert "could not be loaded" in got["reason"]

    r = run_python("import secretscope", cwd=tmp_path, env={"SECRETSCOPE_REQUIRE_NATIVE": "1"})
    assert r.returncode != 0 and "NativeUnavailableError" in r.stderr


def test_unsupported_platform_gets_the_fallback_and_says_why(monkeypatch):
    from secretscope import _platform
    # as CPython would see it (on PyPy the implementation check would answer first)
    monkeypatch.setattr(_platform.sys.implementation, "name", "cpython")
    monkeypatch.setattr(_platform.sys, "platform", "darwin")
    assert "no native backend for darwin" in _platform.native_unavailable_reason()
    monkeypatch.setattr(_platform.sys, "platform", "linux")
    monkeypatch.setattr(_platform.platform, "machine", lambda: "riscv64")
    assert "riscv64" in _platform.native_unavailable_reason()
    assert _platform.platform_tag() == "linux-riscv64"


def test_other_implementations_get_the_fallback(monkeypatch):
    from secretscope import _platform
    monkeypatch.setattr(_platform.sys.implementation, "name", "pypy")
    assert "needs CPython" in _platform.native_unavailable_reason()


# ---- issue 15: the inheritance switch (tests/test_inherit.py has the native side) ----

@pytest.mark.parametrize("backend", ["auto", "fallback"])
def test_unknown_inherit_value_is_an_error(backend):
    r = run_python("import secretscope", env={"SECRETSCOPE_INHERIT": "sometimes", "SECRETSCOPE_BACKEND": backend})
    assert r.returncode != 0
    assert "SECRETSCOPE_INHERIT='sometimes' is not understood" in r.stderr and "ConfigurationError" in r.stderr


def test_fallback_has_the_switch_and_nothing_to_inherit():
    code = textwrap.dedent("""
        import threading
        import secretscope as s
        seen = []
        first = s.inherit(False)
        second = s.inherit(True)
        s.do(lambda: (t := threading.Thread(target=lambda: seen.append(s.enabled())), t.start(), t.join()))
        try:
            s.inherit("no")
        except TypeError:
            error = "TypeError"
        print(s.protection().backend, s.protection().inherit, first, second, seen, error,
              threading.Thread.start.__module__)
    """)
    r = run_python(code, env={"SECRETSCOPE_BACKEND": "fallback"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "fallback False True False [False] TypeError threading"


def test_shipped_objects_are_the_manifests_entries(monkeypatch, tmp_path):
    # The loader's reading of SHA256SUMS: comment lines name no object; unreadable or damaged: None.
    from secretscope import _platform
    monkeypatch.setattr(_platform, "LIB_DIR", tmp_path)
    assert _platform.shipped_objects() is None
    (tmp_path / "SHA256SUMS").write_text("# load digests: SHA-256 of each object (_loaddigest.py)\n\n"
                                         f"{'ab' * 32}  libsecretscope_x86_64.so\n")
    assert _platform.shipped_objects() == {"libsecretscope_x86_64.so"}
    (tmp_path / "SHA256SUMS").write_text("libsecretscope_x86_64.so\n")
    assert _platform.shipped_objects() is None
