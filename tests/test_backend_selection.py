"""Choosing the backend at import: configuration fails closed, and the integrity check tells a
damaged or foreign object from one a distribution's packaging stripped (issue 13, cases 9 and 10).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

from secretscope._loaddigest import load_digest
from tests._support.environment import ROOT, run_python

REPORT = textwrap.dedent("""
    import warnings
    warnings.simplefilter("always")
    import secretscope as s
    p = s.protection()
    print(p.backend, s.do(lambda: s.enabled()))
    print("REASON:", p.reason)
""")


# ---- case 9: configuration values ------------------------------------------------------------

@pytest.mark.parametrize("value", ["2", "y", "enabled", "required", "maybe", "-1"])
def test_unknown_require_native_values_are_an_error(value):
    r = run_python("import secretscope", env={"SECRETSCOPE_REQUIRE_NATIVE": value})
    assert r.returncode != 0
    assert "ConfigurationError" in r.stderr and f"SECRETSCOPE_REQUIRE_NATIVE={value!r}" in r.stderr


@pytest.mark.parametrize("value,required", [("1", True), (" TRUE ", True), ("Yes", True), ("on", True),
                                            ("0", False), ("false", False), ("NO", False), ("off", False),
                                            ("", False)])
def test_known_require_native_values(value, required):
    # with the fallback forced, "required" shows as an import error and "not required" as a fallback
    r = run_python("import secretscope; print(secretscope.protection().backend)",
                   env={"SECRETSCOPE_REQUIRE_NATIVE": value, "SECRETSCOPE_BACKEND": "fallback"})
    if required:
        assert r.returncode != 0 and "NativeUnavailableError" in r.stderr
    else:
        assert r.returncode == 0 and r.stdout.strip() == "fallback", r.stderr


def test_unknown_backend_value_is_a_configuration_error():
    r = run_python("import secretscope", env={"SECRETSCOPE_BACKEND": "turbo"})
    assert r.returncode != 0
    assert "ConfigurationError" in r.stderr and "SECRETSCOPE_BACKEND='turbo'" in r.stderr


def test_backend_native_where_there_is_none_fails_instead_of_falling_back():
    code = "import platform; platform.machine = lambda: 'riscv64'\nimport secretscope"
    r = run_python(code, env={"SECRETSCOPE_BACKEND": "native"})
    assert r.returncode != 0
    assert "NativeUnavailableError" in r.stderr and "SECRETSCOPE_BACKEND=native" in r.stderr
    assert "riscv64" in r.stderr
    # the control: the same interpreter without the setting falls back and says why
    r = run_python(code + "\nprint(secretscope.protection().backend)")
    assert r.returncode == 0 and r.stdout.strip() == "fallback", r.stderr


@pytest.mark.parametrize("env", [{"SECRETSCOPE_REQUIRE_NATIVE": "maybe"}, {"SECRETSCOPE_BACKEND": "turbo"},
                                 {"SECRETSCOPE_BACKEND": "fallback", "SECRETSCOPE_REQUIRE_NATIVE": "1"}],
                         ids=["bad-flag", "bad-backend", "requirement-unmet"])
def test_cli_reports_an_unusable_configuration_in_one_line(env):
    r = subprocess.run([sys.executable, "-m", "secretscope"], capture_output=True, text=True, cwd=str(ROOT),
                       env={**_clean_env(), **env}, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("secretscope: "), r.stderr


def _clean_env():
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETSCOPE_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


# ---- case 10: stripped, truncated and foreign objects --------------------------------------------

def _copy_package(tmp_path):
    shutil.copytree(ROOT / "secretscope", tmp_path / "secretscope", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "secretscope" / "_lib"


def _strip_tool(arch):
    tool = "strip" if arch == "x86_64" else f"{arch}-linux-gnu-strip"
    if shutil.which(tool) is None:
        tool = f"{arch}-linux-gnu-strip"
    return shutil.which(tool)


@pytest.mark.parametrize("how", [["--strip-debug"], ["-g"], ["--strip-unneeded", "--remove-section=.comment",
                                                             "--remove-section=.note"], ["--strip-all"]],
                         ids=["strip-debug", "brp-strip", "dh_strip", "strip-all"])
def test_a_stripped_object_keeps_native_protection(native, tmp_path, how):
    tool = _strip_tool(native.arch)
    if tool is None:
        pytest.skip(f"no strip for {native.arch} (binutils)")
    lib_dir = _copy_package(tmp_path)
    objects = sorted(lib_dir.glob(f"*_{native.arch}.so"))  # this architecture's objects
    assert objects, "no object to strip: the test would prove nothing"
    for so in objects:
        before = so.read_bytes()
        subprocess.run([tool, *how, str(so)], check=True)
        assert so.read_bytes() != before, "strip changed nothing: the test would prove nothing"
    r = run_python(REPORT, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "RuntimeWarning" not in r.stderr
    assert r.stdout.splitlines()[0] == "native True"


def _write_entry(lib_dir, name, data):
    manifest = lib_dir / "SHA256SUMS"
    lines = [line for line in manifest.read_text().splitlines() if not line.endswith("  " + name)]
    manifest.write_text("\n".join(lines + [f"{load_digest(data)}  {name}"]) + "\n")


@pytest.mark.parametrize("damage", ["truncated", "foreign", "other-arch"])
def test_a_damaged_object_with_a_matching_entry_is_refused_before_loading(native, tmp_path, damage):
    lib_dir = _copy_package(tmp_path)
    so = lib_dir / f"libsecretscope_{native.arch}.so"
    if damage == "truncated":
        data = so.read_bytes()[:6000]  # headers intact, segments cut short: dlopen would SIGBUS
        expect = "truncated"
    elif damage == "foreign":
        data = (ROOT / "secretscope" / "_lib" / f"libsecretscope_probe_{native.arch}.so").read_bytes()
        expect = "soname"
    else:
        other = "aarch64" if native.arch == "x86_64" else "x86_64"
        data = (ROOT / "secretscope" / "_lib" / f"libsecretscope_{other}.so").read_bytes()
        expect = "ELF machine"
    so.write_bytes(data)
    _write_entry(lib_dir, so.name, data)
    r = run_python(REPORT, cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # no SIGBUS, no raw ValueError: a clean fallback
    assert "NOTHING IS PROTECTED" in r.stderr and expect in r.stderr
    assert r.stdout.splitlines()[0] == "fallback False"
    r = run_python("import secretscope", cwd=tmp_path, env={"SECRETSCOPE_REQUIRE_NATIVE": "1"})
    assert r.returncode != 0 and "NativeUnavailableError" in r.stderr and expect in r.stderr


def test_a_library_with_dependencies_is_refused(native, tmp_path):
    lib_dir = _copy_package(tmp_path)
    so = lib_dir / f"libsecretscope_{native.arch}.so"
    libc = next((p for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6",
                             "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/aarch64-linux-gnu/libc.so.6")
                 if native.arch in p and __import__("os").path.exists(p)), None)
    if libc is None:
        pytest.skip("no glibc shared object at the usual paths")
    data = open(libc, "rb").read()
    so.write_bytes(data)
    _write_entry(lib_dir, so.name, data)
    r = run_python(REPORT, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "needs other libraries" in r.stderr and r.stdout.splitlines()[0] == "fallback False"


def test_the_fallback_warning_names_the_users_import(native, tmp_path):
    lib_dir = _copy_package(tmp_path)
    (lib_dir / f"libsecretscope_{native.arch}.so").unlink()
    (tmp_path / "user_code.py").write_text("import warnings\nwarnings.simplefilter('always')\n"
                                           "import secretscope\n")
    r = subprocess.run([sys.executable, "user_code.py"], capture_output=True, text=True, cwd=str(tmp_path),
                       env={**_clean_env(), "PYTHONPATH": str(tmp_path)}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "user_code.py:3: RuntimeWarning" in r.stderr, r.stderr
