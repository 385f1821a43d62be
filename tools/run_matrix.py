#!/usr/bin/env python3
"""Run the test suite on every interpreter of the support matrix; check the docs against it.

    python3 tools/run_matrix.py [--arch {amd64,arm64,all}] [--only NAME[,NAME...]] [--list] [--jobs {1,2}]
                                [--results FILE] [--no-run] [--write-docs | --check-docs]
                                [-- PYTEST_ARGS...]

Interpreters (see MATRIX below and tools/README.md):
  cpython-3.10 ... cpython-3.13   pyenv's (PYENV_ROOT, default ~/.pyenv), else python3.X on PATH;
                                  pytest is installed into them with pip when it is missing
  cpython-3.14, cpython-3.15      Debian unstable's, in sysroots made by tools/debian_sysroot.py
  cpython-free-threaded           a free-threaded CPython, where one can be found (optional):
                                  SECRETSCOPE_FREE_THREADED_PYTHON, python3.1Xt on PATH, pyenv's
                                  3.1X.Yt; otherwise recorded as unavailable, with the reason
  pypy3                           Debian unstable's PyPy, in a sysroot made here with
                                  tools/debian_sysroot.py's machinery: the fallback subset of the
                                  suite (the API, the fallback, the CLI, this matrix's tests)
  arm64-*                         --arch arm64/all only: Debian's arm64 CPython under qemu-user,
                                  through tools/test_arm64.sh, once per QEMU_CPU configuration

Each suite is `python -m pytest` over tests/ from the repository root, with the repository on
PYTHONPATH.  PyPy runs first (every other suite checks it); then, with --jobs 2 (the default when
the machine has two cores or more), the x86-64 entries and the arm64 entries run as two lanes side
by side, one interpreter at a time in each (qemu keeps one core busy); a suite's output is printed
when it ends, whole.  tests/test_arm64_emulated.py,
which itself runs the whole suite under qemu, runs only in the suite of PRIMARY (the host's own
version) and is ignored in the others (in all of them when arm64 entries run directly).

The results go to a JSON file (default .cache/matrix/results.json): for each interpreter its
version, architecture, build (free-threaded or not), what protection() reports, the test counts
(from pytest's JUnit XML), the status and the wall times.  docs/platforms.md holds the support
table between the markers <!-- matrix:begin --> and <!-- matrix:end -->: --write-docs rewrites
it from the results, --check-docs fails when it differs from them (rows of architectures that
were not run are left alone).  tests/test_matrix.py makes the same check.

stdout: each suite's pytest output, then one line per interpreter and, last, the totals as
`matrix: N passed, N failed, N skipped`.  Exit status: 0 when every suite that ran passed and
every required interpreter could be prepared (and, with --check-docs, the table matches); 1
otherwise; 2 for bad arguments.

Python 3.10+, standard library only.  As root on a fresh machine it installs what it needs
(patchelf through debian_sysroot.py; pytest through pip).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"
DEFAULT_RESULTS = ROOT / ".cache" / "matrix" / "results.json"
DOCS = ROOT / "docs" / "platforms.md"
BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"
RESULTS_VERSION = 1
# the suite that also runs tests/test_arm64_emulated.py: the version running this script (as the
# README's test command would), 3.11 on Debian 12
PRIMARY = f"cpython-{sys.version_info[0]}.{sys.version_info[1]}"
SUITE_TIMEOUT = 1800      # seconds per suite; the whole suite takes ~20-30 s natively
ARCH_LABEL = {"amd64": "x86-64", "arm64": "AArch64"}
ARCH_ORDER = ("amd64", "arm64")

# the fallback subset: the test modules that import nothing native (tests/_support/residue.py and the
# residue tests bind CPython's C-API through secretscope.diagnostics.probe, which PyPy does not have)
FALLBACK_SUITE = ("tests/test_api.py", "tests/test_fallback.py", "tests/test_cli.py", "tests/test_matrix.py")

# the register-state subset: what depends on the vector length and on which register state the
# CPU has (registers, stack and signal frames, scopes through the trampolines, the core dump).
# Under emulation the whole suite runs once per version, with SVE at 128 bits;
# the other QEMU_CPU configurations (SVE off, SVE at 512 bits) run this subset, which is where
# they differ.  (The whole suite under qemu takes ~5 minutes a configuration here.)
REGISTER_STATE_SUITE = ("tests/test_register_residue.py", "tests/test_stack_residue.py", "tests/test_signals.py",
                        "tests/test_core.py", "tests/test_exceptions.py", "tests/test_suspendable.py",
                        "tests/test_scan_skipping.py")
ARM64_FULL_SUITE_CPU = "max,sve=on,sve128=on"

# arm64 QEMU_CPU configurations (as tools/test_arm64.sh): FP/AdvSIMD only, SVE 128, SVE 512
ARM64_QEMU_CPUS = ("max,sve=off", "max,sve=on,sve128=on", "max,sve=on,sve512=on")


_PRINT_LOCK = threading.Lock()  # lanes print whole suites and log lines, never interleaved
_PREPARE_LOCK = threading.Lock()  # preparing interpreters (apt, sysroots, pip) is never done by two lanes at once


def log(msg: str) -> None:
    with _PRINT_LOCK:
        print(f"[run_matrix] {msg}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class Entry:
    name: str
    arch: str            # Debian architecture name: amd64, arm64
    kind: str            # pyenv | debian | free-threaded | pypy | arm64
    version: str         # 3.X (the Python language version asked for)
    required: bool       # failing to prepare it fails the run
    suite: str = "full"  # full | fallback | registers (REGISTER_STATE_SUITE)
    suite_option: str = ""  # arm64: the QEMU_CPU configuration
    label: str = ""      # the interpreter column of the table

    def describe(self) -> str:
        return {
            "pyenv": f"pyenv CPython {self.version} (else python{self.version} on PATH)",
            "debian": f"Debian unstable python{self.version}, sysroot by tools/debian_sysroot.py",
            "free-threaded": "a free-threaded CPython, if one can be found (optional)",
            "pypy": "Debian unstable pypy3, sysroot built here",
            "arm64": f"Debian {'bookworm' if self.version == '3.11' else 'unstable'} arm64 "
                     f"python{self.version} under qemu, QEMU_CPU={self.suite_option}",
        }[self.kind]


def matrix(arches: List[str]) -> List[Entry]:
    out: List[Entry] = []
    if "amd64" in arches:
        for v in ("3.10", "3.11", "3.12", "3.13"):
            out.append(Entry(f"cpython-{v}", "amd64", "pyenv", v, True, label=f"CPython {v}"))
        for v in ("3.14", "3.15"):
            out.append(Entry(f"cpython-{v}", "amd64", "debian", v, True, label=f"CPython {v}"))
        out.append(Entry("cpython-free-threaded", "amd64", "free-threaded", "3.14", False,
                         label="CPython 3.13t/3.14t"))
        out.append(Entry("pypy3", "amd64", "pypy", "3", True, suite="fallback", label="PyPy 3"))
    if "arm64" in arches:
        # the oldest (bookworm's own) and the newest CPython Debian has for arm64
        for v in ("3.11", "3.15"):
            for cpu in ARM64_QEMU_CPUS:
                tag = cpu.split(",")[-1].replace("=on", "").replace("=", "-")  # sve-off, sve128, sve512
                out.append(Entry(f"arm64-cpython-{v}-{tag}", "arm64", "arm64", v, True, suite_option=cpu,
                                 suite="full" if cpu == ARM64_FULL_SUITE_CPU else "registers",
                                 label=f"CPython {v}"))
    return out


# ---------------------------------------------------------------------------------------------
# preparing interpreters


class Unavailable(Exception):
    """The interpreter cannot be had here; the message says why."""


def run(cmd: Sequence[Any], *, env: Optional[Dict[str, str]] = None, timeout: float = 600,
        cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], env=env, cwd=str(cwd or ROOT), capture_output=True,
                          text=True, timeout=timeout)


def clean_env(extra_path: Tuple[str, ...] = ()) -> Dict[str, str]:
    """The environment of every interpreter run: the repository importable, no forced backend."""
    env = dict(os.environ)
    for var in ("PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "SECRETSCOPE_BACKEND",
                "SECRETSCOPE_REQUIRE_NATIVE", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"):
        env.pop(var, None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *extra_path])
    return env


def debian_sysroot(arch: str, suite: str, version: str) -> str:
    """tools/debian_sysroot.py's interpreter (it builds the sysroot on first use)."""
    cmd = [sys.executable, str(TOOLS / "debian_sysroot.py"), "--arch", arch, "--suite", suite,
           "--python", version, "--package", str(ROOT), "--print-python"]
    r = run(cmd, timeout=1800)
    if r.returncode != 0:
        raise Unavailable(f"tools/debian_sysroot.py failed: {r.stderr.strip().splitlines()[-1:]}")
    return r.stdout.strip().splitlines()[-1]


def pyenv_python(version: str) -> str:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = []
    for d in glob.glob(str(root / "versions" / f"{version}.*")):
        m = re.fullmatch(re.escape(version) + r"\.(\d+)", Path(d).name)  # 3.13.0, not 3.13.0t
        candidate = Path(d) / "bin" / f"python{version}"
        if m and candidate.is_file():
            found.append((int(m.group(1)), str(candidate)))
    if found:
        return max(found)[1]
    exe = shutil.which(f"python{version}")
    if exe and run([exe, "-c", "pass"]).returncode == 0:
        return exe
    raise Unavailable(f"no CPython {version}: not under {root / 'versions'}, no python{version} on PATH")


def ensure_pytest(python: str) -> None:
    """pytest in the interpreter's own site-packages (a fresh machine's pyenv may lack it)."""
    if run([python, "-c", "import pytest"]).returncode == 0:
        return
    log(f"installing pytest into {python}")
    r = run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pytest>=7"], timeout=900)
    if r.returncode != 0:
        raise Unavailable(f"pip install pytest failed: {(r.stdout + r.stderr).strip().splitlines()[-3:]}")


# greenlet and gevent: test extras (pyproject.toml) for tests/test_greenlets.py, binary wheels only.
TEST_EXTRAS = ("greenlet", "gevent")


def install_test_extras(entry: Entry, python: str) -> Tuple[Tuple[str, ...], bool]:
    """(extra PYTHONPATH entries, whether the extras are importable) for one interpreter.

    pyenv interpreters get them with their own pip; Debian's amd64 sysroots a --target folder
    filled by this pip for their version.  Elsewhere (PyPy, qemu) they are left out: the tests skip."""
    probe = ["-c", "import " + ", ".join(TEST_EXTRAS)]
    if entry.kind in ("pyenv", "free-threaded"):
        if run([python, *probe]).returncode != 0:
            log(f"installing {', '.join(TEST_EXTRAS)} into {python}")
            run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *TEST_EXTRAS], timeout=900)
        return (), run([python, *probe]).returncode == 0
    if entry.kind == "debian" and entry.arch == "amd64":
        target = ROOT / ".cache" / "test-extras" / f"cpython-{entry.version}"
        probe = ["-c", "import " + ", ".join((*TEST_EXTRAS, *TEST_LIBRARIES.values()))]
        if run([python, *probe], env=clean_env((str(target),))).returncode != 0:
            log(f"installing {', '.join(TEST_EXTRAS)} for {entry.name} into {target}")
            run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade",
                 "--target", target, "--python-version", entry.version, "--implementation", "cp",
                 "--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
                 *TEST_EXTRAS, *TEST_LIBRARIES], timeout=900)  # the libraries: abi3 wheels serve 3.14/3.15
        return (str(target),), run([python, *probe], env=clean_env((str(target),))).returncode == 0
    return (), False


# pyproject.toml's `test` extra beyond pytest: the real libraries of the end-to-end native-heap
# tests (tests/test_native_heap_libraries.py), pip name -> module
TEST_LIBRARIES = {"pynacl": "nacl", "argon2-cffi": "argon2", "pycryptodome": "Crypto", "bcrypt": "bcrypt",
                  "cryptography": "cryptography"}


def ensure_test_libraries(python: str, kind: str, env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Install the test extra's libraries from wheels (never built from source here); return the
    ones that are still missing, with why.  The suite gets them in SECRETSCOPE_MISSING_TEST_LIBS:
    tests/test_native_heap_libraries.py skips those with the reason, and fails in CI on any other."""
    missing: Dict[str, str] = {}
    for package, module in TEST_LIBRARIES.items():
        if run([python, "-c", f"import {module}"], env=env).returncode == 0:
            continue  # (Debian's sysroots: installed by install_test_extras into their --target folder)
        if kind not in ("pyenv", "free-threaded"):
            missing[package] = f"not installed into this {kind} interpreter by tools/run_matrix.py (no pip there)"
            continue
        log(f"installing {package} into {python}")
        r = run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
                 package], timeout=900)
        if r.returncode != 0:
            missing[package] = f"no wheel of {package} installs on this interpreter"
    return missing


def free_threaded_python() -> str:
    """A free-threaded CPython, wherever this machine has one."""
    candidates = []
    if os.environ.get("SECRETSCOPE_FREE_THREADED_PYTHON"):
        candidates.append(os.environ["SECRETSCOPE_FREE_THREADED_PYTHON"])
    for minor in range(13, 20):
        exe = shutil.which(f"python3.{minor}t")
        if exe:
            candidates.append(exe)
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    for d in sorted(glob.glob(str(root / "versions" / "3.*t")), reverse=True):
        candidates += sorted(glob.glob(str(Path(d) / "bin" / "python3.*t")))
    check = "import sysconfig, sys; sys.exit(0 if sysconfig.get_config_var('Py_GIL_DISABLED') else 1)"
    for exe in candidates:
        if run([exe, "-c", check]).returncode == 0:
            return exe
    raise Unavailable(
        "no free-threaded CPython can be obtained on the test machine: Debian (bookworm, unstable, "
        "experimental) packages none and its source packages are not served here, pyenv needs "
        "python.org, and no package found on PyPI or npm ships one; set "
        "SECRETSCOPE_FREE_THREADED_PYTHON to run one")


def pypy_python() -> str:
    """Debian unstable's pypy3 in a sysroot of its own, through debian_sysroot.py's machinery."""
    sys.path.insert(0, str(TOOLS))
    try:
        import debian_sysroot as ds
    finally:
        sys.path.pop(0)
    dest = ds.DEFAULT_CACHE / "amd64-unstable-pypy3"
    stamp_path = dest / ".matrix-pypy3.json"
    try:
        stamp = json.loads(stamp_path.read_text())
        if stamp.get("dest") == str(dest) and Path(stamp["python"]).is_file():
            return str(stamp["python"])
    except (OSError, ValueError, KeyError):
        pass
    try:
        if ds.host_arch() != "amd64":
            raise Unavailable("the PyPy sysroot is made for x86-64 hosts only")
        host = ds.HostApt()
        host.ensure_installed(["patchelf"])
        src = ds.PackageSource("amd64", "unstable", ds.DEFAULT_CACHE, host, "amd64")
        src.prepare(refresh=False)
        pkgs = src.resolve("pypy3")
        debdir = ds.DEFAULT_CACHE / "_debs" / "amd64-unstable"
        try:
            debs = src.download(pkgs, debdir)
        except ds.DownloadError:
            if src.updated:
                raise
            src.update()
            pkgs = src.resolve("pypy3")
            debs = src.download(pkgs, debdir)
        staging = dest.with_name(dest.name + ".partial")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        ds.unpack(debs, staging)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
        binary = Path(os.path.realpath(dest / "usr" / "bin" / "pypy3"))
        if not binary.is_file() or not str(binary).startswith(str(dest)):
            raise Unavailable(f"pypy3 unpacked, but {dest}/usr/bin/pypy3 is not in the sysroot")
        ds.patch_interpreter(dest, binary, ds.ARCHES["amd64"]["triplet"])
        probe = run([binary, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], env=clean_env())
        if probe.returncode != 0:
            raise Unavailable(f"the sysroot's pypy3 does not run: {probe.stderr.strip()[-300:]}")
        target = ds.Target(dest, probe.stdout.strip(), "amd64", False, True, "")
        target.python = binary
        wheels = ds.install_wheels(target, ds.DEFAULT_CACHE, host)
        stamp_path.write_text(json.dumps({
            "dest": str(dest), "python": str(binary), "site": str(target.site),
            "packages": [f"{n}={v}" for n, v, _ in pkgs], "wheels": wheels,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1) + "\n")
        return str(binary)
    except ds.ToolError as exc:
        raise Unavailable(f"could not prepare Debian unstable's pypy3: {exc}") from None


def pypy_site(python: str) -> Tuple[str, ...]:
    site = Path(python).resolve().parents[2] / "site"  # SYSROOT/usr/bin/pypy3.X -> SYSROOT/site
    return (str(site),) if site.is_dir() else ()


# what every interpreter reports about itself and about secretscope (last stdout line: JSON)
INFO_SCRIPT = r"""
import dataclasses, json, platform, sys, sysconfig
info = {
    "implementation": sys.implementation.name,
    "implementation_version": "%d.%d.%d" % sys.implementation.version[:3],
    "version": platform.python_version(),
    "machine": platform.machine(),
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "gil_enabled": bool(getattr(sys, "_is_gil_enabled", lambda: True)()),
    "libc": " ".join(platform.libc_ver()).strip(),
    "executable": sys.executable,
}
try:
    import secretscope
    info["protection"] = dataclasses.asdict(secretscope.protection())
    info["protection"]["features"] = list(info["protection"]["features"])
except Exception as exc:
    info["protection_error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(info))
"""


def interpreter_info(python: str, env: Dict[str, str]) -> Dict[str, Any]:
    r = run([python, "-c", INFO_SCRIPT], env=env, timeout=300)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        raise Unavailable(f"{python} does not run: {(r.stdout + r.stderr).strip()[-400:]}")
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------
# running


def junit_counts(path: Path) -> Optional[Dict[str, int]]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    return {"total": total["tests"], "passed": total["tests"] - total["failures"] - total["errors"] - total["skipped"],
            "failed": total["failures"], "errors": total["errors"], "skipped": total["skipped"]}


def prepare(entry: Entry) -> Tuple[str, Tuple[str, ...]]:
    """(interpreter, extra PYTHONPATH entries)."""
    if entry.kind == "pyenv":
        python = pyenv_python(entry.version)
        ensure_pytest(python)
        return python, ()
    if entry.kind == "debian":
        return debian_sysroot(entry.arch, "unstable", entry.version), ()
    if entry.kind == "free-threaded":
        python = free_threaded_python()
        ensure_pytest(python)
        return python, ()
    if entry.kind == "pypy":
        python = pypy_python()
        return python, pypy_site(python)
    if entry.kind == "arm64":
        suite = "system" if entry.version == "3.11" else "unstable"
        return debian_sysroot("arm64", suite, entry.version), ()
    raise ValueError(entry.kind)


def suite_command(entry: Entry, python: str, junit: Path, pytest_args: List[str], arm64_direct: bool) -> List[str]:
    if entry.kind == "arm64":
        # tools/test_arm64.sh sets up qemu (QEMU_CPU, loader prefix, as/ld for the rebuild test)
        return ["bash", str(TOOLS / "test_arm64.sh"), "--", f"--junitxml={junit}", *pytest_args]
    cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    if entry.suite == "fallback":
        cmd += list(FALLBACK_SUITE)
    elif entry.name != PRIMARY or arm64_direct:  # once per run; not at all when arm64 entries run
        cmd += ["--ignore=tests/test_arm64_emulated.py"]
    return cmd + pytest_args


def run_entry(entry: Entry, workdir: Path, pytest_args: List[str], pypy: Optional[str],
              arm64_direct: bool = False) -> Dict[str, Any]:
    result: Dict[str, Any] = {"name": entry.name, "arch": entry.arch, "kind": entry.kind, "label": entry.label,
                              "requested_version": entry.version, "required": entry.required,
                              "suite": entry.suite, "source": entry.describe()}
    if entry.suite_option:
        result["qemu_cpu"] = entry.suite_option
    t0 = time.monotonic()
    log(f"{entry.name}: preparing ({entry.describe()})")
    try:
        with _PREPARE_LOCK:  # one lane at a time downloads, unpacks and pip-installs
            python, extra_path = prepare(entry)
            extras_path, have_extras = install_test_extras(entry, python)
        env = clean_env((*extra_path, *extras_path))
        if have_extras:
            env["SECRETSCOPE_TEST_GREENLET"] = "1"  # tests/test_greenlets.py: required, not skipped
        if entry.kind == "pypy":
            env["PYTHONNOUSERSITE"] = "1"
        info = interpreter_info(python, env)
    except (Unavailable, subprocess.TimeoutExpired) as exc:
        result.update(status="unavailable", reason=str(exc),
                      seconds={"prepare": round(time.monotonic() - t0, 1), "suite": 0.0})
        log(f"{entry.name}: unavailable: {exc}")
        return result
    t1 = time.monotonic()
    result["python"] = python
    result["interpreter"] = info
    result["protection"] = info.pop("protection", None)
    if "protection_error" in info:
        result["protection_error"] = info["protection_error"]
    env["SECRETSCOPE_MATRIX_ENTRY"] = entry.name  # tests/test_matrix.py: the table is checked afterwards
    if pypy:
        env["SECRETSCOPE_PYPY"] = pypy
    if entry.kind != "pypy":
        with _PREPARE_LOCK:
            missing = ensure_test_libraries(python, entry.kind, env)
        env["SECRETSCOPE_MISSING_TEST_LIBS"] = ";".join(f"{k}={v}" for k, v in missing.items())
        if missing:
            result["missing_test_libraries"] = missing
    if entry.kind == "arm64":
        env["SECRETSCOPE_ARM64_PYTHON"] = python
        env["SECRETSCOPE_ARM64_QEMU_CPUS"] = entry.suite_option
        if entry.suite == "registers":
            env["SECRETSCOPE_ARM64_TESTS"] = " ".join(REGISTER_STATE_SUITE)
    junit = workdir / f"junit-{entry.name}.xml"
    if junit.exists():
        junit.unlink()
    cmd = suite_command(entry, python, junit, pytest_args, arm64_direct)
    result["command"] = cmd
    banner = (f"\n===== {entry.name}: {info.get('implementation')} {info.get('version')} "
              f"{info.get('machine')}{' free-threaded' if info.get('free_threaded') else ''} =====")
    log(f"{entry.name}: running the suite")
    output = workdir / f"output-{entry.name}.txt"
    try:
        with output.open("w") as out:  # printed whole when the suite ends (lanes run side by side)
            proc = subprocess.run(cmd, env=env, cwd=str(ROOT), timeout=SUITE_TIMEOUT, stdout=out,
                                  stderr=subprocess.STDOUT)
        code: Optional[int] = proc.returncode
    except subprocess.TimeoutExpired:
        code = None
    with _PRINT_LOCK:
        print(banner, flush=True)
        sys.stdout.write(output.read_text(errors="replace"))
        sys.stdout.flush()
    t2 = time.monotonic()
    counts = junit_counts(junit)
    result["tests"] = counts
    result["exit_code"] = code
    result["seconds"] = {"prepare": round(t1 - t0, 1), "suite": round(t2 - t1, 1)}
    if code is None:
        result.update(status="failed", reason=f"the suite timed out after {SUITE_TIMEOUT} s")
    elif code == 0 and counts and counts["failed"] == counts["errors"] == 0 and counts["passed"] > 0:
        result["status"] = "passed"
    else:
        result.update(status="failed", reason=f"pytest exit status {code}")
    return result


def expectation_problems(result: Dict[str, Any]) -> List[str]:
    """What protection() must say on each kind of interpreter."""
    p, info = result.get("protection"), result.get("interpreter", {})
    if result.get("status") not in ("passed", "failed"):
        return []
    if p is None:
        return [f"protection() could not be read: {result.get('protection_error')}"]
    problems = []
    if result["kind"] in ("pyenv", "debian", "arm64") and not info.get("version", "").startswith(
            result["requested_version"] + "."):
        problems.append(f"asked for {result['requested_version']}, ran {info.get('version')}")
    if info.get("implementation") != "cpython":
        if p["backend"] != "fallback" or any(p[g] for g in ("registers", "stack", "heap", "signal_stacks")):
            problems.append(f"{info.get('implementation')} must get the fallback and claim nothing: {p}")
        if not p.get("reason") or info.get("implementation", "?") not in p["reason"]:
            problems.append(f"the fallback's reason must name {info.get('implementation')}: {p.get('reason')!r}")
        return problems
    if p["backend"] != "native" or not (p["registers"] and p["stack"]):
        problems.append(f"CPython on {info.get('machine')} must get the native backend: {p}")
    if info.get("free_threaded"):
        if p["heap"] or "free-threaded" not in (p.get("reason") or ""):
            problems.append(f"a free-threaded build must report the heap guarantee unavailable, with the reason: {p}")
    elif not (p["heap"] and p["signal_stacks"]):  # both architectures implement every guarantee
        problems.append(f"CPython with the GIL must have every guarantee: {p}")
    return problems


# ---------------------------------------------------------------------------------------------
# the support table


HEADER = ("| architecture | interpreter | build | backend | registers | stack | heap | signal stacks | test suite |\n"
          "|---|---|---|---|---|---|---|---|---|")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def table_row(result: Dict[str, Any]) -> str:
    info, p = result.get("interpreter") or {}, result.get("protection")
    arch = ARCH_LABEL.get(result["arch"], result["arch"])
    status = result.get("status")
    if result["kind"] == "pypy" and info:
        # the language version only: Debian unstable's PyPy release moves more often
        interp = f"PyPy (Python {info['version'].rsplit('.', 1)[0]})"
    elif info:
        interp = f"CPython {info['version'].rsplit('.', 1)[0]}"
    else:
        interp = result.get("label") or result["name"]
    if result["kind"] == "free-threaded" or info.get("free_threaded"):
        build = "free-threaded"
    elif result["kind"] == "pypy":
        build = "—"
    else:
        build = "default (GIL)"
    if result["kind"] == "arm64":
        build += f", QEMU_CPU={result.get('qemu_cpu', '?')}"
    if status == "unavailable" or p is None:
        cells = ["—"] * 5
        why = result.get("reason", "")
        suite = "not tested: " + (why.split(":", 1)[0] if why else "unavailable")
    else:
        heap = _yes(p["heap"])
        if not p["heap"] and p["backend"] == "native":
            heap = "no (reported unavailable)"
        cells = [p["backend"], _yes(p["registers"]), _yes(p["stack"]), heap, _yes(p["signal_stacks"])]
        what = {"fallback": "fallback subset", "registers": "register-state subset"}.get(result.get("suite", ""),
                                                                                       "whole suite")
        suite = f"{what}: {'passes' if status == 'passed' else 'FAILS'}"
    return f"| {arch} | {interp} | {build} | " + " | ".join(cells) + f" | {suite} |"


def table_rows(results: Dict[str, Any]) -> List[str]:
    entries = sorted(results["entries"], key=lambda r: (ARCH_ORDER.index(r["arch"]) if r["arch"] in ARCH_ORDER else 9,
                                                       results["order"].index(r["name"])
                                                       if r["name"] in results.get("order", []) else 99))
    rows: List[str] = []
    for r in entries:
        row = table_row(r)
        if row not in rows:
            rows.append(row)
    return rows


def _doc_block(text: str) -> Tuple[int, int]:
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise ValueError(f"{DOCS.relative_to(ROOT)} has no {BEGIN} ... {END} block")
    return begin + len(BEGIN), end


def doc_rows(text: str) -> List[str]:
    a, b = _doc_block(text)
    lines = [line.strip() for line in text[a:b].splitlines()]
    return [line for line in lines
            if line.startswith("|") and not line.startswith("|---") and not line.startswith("| architecture")]


def _row_arch(row: str) -> str:
    label = row.split("|")[1].strip()
    return next((k for k, v in ARCH_LABEL.items() if v == label), label)


def expected_rows(results: Dict[str, Any], current: List[str]) -> List[str]:
    """The table the results call for: their rows for the architectures they ran, the doc's own
    rows for the others."""
    ran = set(results.get("arches", []))
    merged = table_rows(results) + [row for row in current if _row_arch(row) not in ran]
    return sorted(merged, key=lambda row: ARCH_ORDER.index(_row_arch(row)) if _row_arch(row) in ARCH_ORDER else 9)


def docs_problems(results: Dict[str, Any], text: str) -> List[str]:
    current = doc_rows(text)
    want = expected_rows(results, current)
    if current == want:
        return []
    out = ["docs/platforms.md's support table differs from the matrix run "
           "(python3 tools/run_matrix.py --no-run --write-docs rewrites it):"]
    out += [f"  - {row}" for row in current if row not in want]
    out += [f"  + {row}" for row in want if row not in current]
    if not out[1:]:
        out.append("  (same rows, different order)")
    return out


def write_docs(results: Dict[str, Any]) -> bool:
    text = DOCS.read_text()
    a, b = _doc_block(text)
    rows = expected_rows(results, doc_rows(text))
    new = text[:a] + "\n" + HEADER + "\n" + "\n".join(rows) + "\n" + text[b:]
    if new != text:
        DOCS.write_text(new)
        return True
    return False


# ---------------------------------------------------------------------------------------------
# main


def load_results(path: Path) -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("results_version") == RESULTS_VERSION else None


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="run_matrix.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=["amd64", "arm64", "all"], default="amd64",
                   help="which architectures' entries to run (default: amd64)")
    p.add_argument("--only", default="", help="comma-separated entry names; merged into the existing results")
    p.add_argument("--list", action="store_true", help="list the entries and exit")
    p.add_argument("--jobs", type=int, choices=[1, 2], default=2 if (os.cpu_count() or 1) >= 2 else 1,
                   help="1: one suite at a time; 2: the x86-64 and arm64 entries as two lanes side by side "
                        "(default: 2 on a machine with two cores or more)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="result file (default: %(default)s)")
    p.add_argument("--no-run", action="store_true", help="use the existing result file")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--write-docs", action="store_true", help="rewrite docs/platforms.md's table from the results")
    g.add_argument("--check-docs", action="store_true", help="fail when docs/platforms.md's table differs")
    p.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments for every suite")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    arches = list(ARCH_ORDER) if args.arch == "all" else [args.arch]
    entries = matrix(arches)
    if args.only:
        wanted = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = wanted - {e.name for e in entries}
        if unknown:
            print(f"run_matrix.py: unknown entries {sorted(unknown)}; --list shows them", file=sys.stderr)
            return 2
        entries = [e for e in entries if e.name in wanted]
    if args.list:
        for e in entries:
            print(f"{e.name:32} {e.arch:6} {'required' if e.required else 'optional':9} {e.describe()}")
        return 0

    results_path = args.results.resolve()
    if args.no_run:
        results = load_results(results_path)
        if results is None:
            print(f"run_matrix.py: no results in {results_path}; run the matrix first", file=sys.stderr)
            return 1
    else:
        results = run_matrix(entries, arches, args, results_path)

    status = summarize(results, [e.name for e in entries] if not args.no_run else None)
    if args.write_docs:
        changed = write_docs(results)
        log(f"{DOCS.relative_to(ROOT)}: {'table rewritten' if changed else 'table already up to date'}")
    elif args.check_docs:
        problems = docs_problems(results, DOCS.read_text())
        if problems:
            print("\n".join(problems))
            status = 1
        else:
            log(f"{DOCS.relative_to(ROOT)}: the support table matches the run")
    return status


def run_matrix(entries: List[Entry], arches: List[str], args: argparse.Namespace, path: Path) -> Dict[str, Any]:
    workdir = path.parent
    workdir.mkdir(parents=True, exist_ok=True)
    previous = load_results(path) if args.only else None
    t0 = time.monotonic()
    out: Dict[str, Any] = {
        "results_version": RESULTS_VERSION,
        "host": {"machine": os.uname().machine, "kernel": os.uname().release, "cpus": os.cpu_count()},
        "arches": sorted(set(arches) | set(previous.get("arches", []) if previous else [])),
        "order": [e.name for e in matrix(list(ARCH_ORDER))],
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "ci": bool(os.environ.get("CI")),
        "entries": [],
    }
    arm64_direct = any(e.arch == "arm64" for e in entries)
    done: List[Dict[str, Any]] = []
    lock = threading.Lock()

    def run_one(entry: Entry, pypy: Optional[str]) -> Dict[str, Any]:
        result = run_entry(entry, workdir, args.pytest_args, pypy, arm64_direct=arm64_direct)
        problems = expectation_problems(result)
        if problems:
            result["status"] = "failed"
            result["reason"] = "; ".join(problems)
        with lock:
            done.append(result)
            out["entries"] = _merge(previous, done)
            path.write_text(json.dumps(out, indent=1) + "\n")  # after each entry: a crash keeps the rest
        return result

    def run_lane(lane: List[Entry], pypy: Optional[str]) -> None:
        for entry in lane:
            run_one(entry, pypy)

    # PyPy first, alone: every other suite also checks it (tests/test_matrix.py, SECRETSCOPE_PYPY)
    pypy: Optional[str] = None
    for entry in [e for e in entries if e.kind == "pypy"]:
        result = run_one(entry, None)
        if result.get("python") and result["status"] != "unavailable":
            pypy = result["python"]
    rest = [e for e in entries if e.kind != "pypy"]
    lanes = [[e for e in rest if e.arch == arch] for arch in ARCH_ORDER] if args.jobs > 1 else [rest]
    lanes = [lane for lane in lanes if lane]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(args.jobs, len(lanes)))) as pool:
        for future in [pool.submit(run_lane, lane, pypy) for lane in lanes]:
            future.result()
    done.sort(key=lambda r: [e.name for e in entries].index(r["name"]))
    out["seconds"] = round(time.monotonic() - t0, 1)
    out["entries"] = _merge(previous, done)
    path.write_text(json.dumps(out, indent=1) + "\n")
    log(f"results written to {path}")
    return out


def _merge(previous: Optional[Dict[str, Any]], done: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    names = {r["name"] for r in done}
    kept = [r for r in (previous or {}).get("entries", []) if r["name"] not in names]
    return kept + done


def summarize(results: Dict[str, Any], ran: Optional[List[str]]) -> int:
    print("\n===== support matrix =====")
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    status = 0
    for r in results["entries"]:
        if ran is not None and r["name"] not in ran:
            continue
        t = r.get("tests") or {}
        info = r.get("interpreter") or {}
        secs = r.get("seconds", {})
        counts = (f"{t.get('passed', 0)} passed, {t.get('failed', 0) + t.get('errors', 0)} failed, "
                  f"{t.get('skipped', 0)} skipped" if t else "no test counts")
        what = f"{info.get('implementation', '?')} {info.get('version', '?')}" if info else "-"
        line = (f"{r['name']:28} {r['status']:11} {what:18} {counts:40} "
                f"prepare {secs.get('prepare', 0):6.1f}s  suite {secs.get('suite', 0):6.1f}s")
        print(line)
        if r["status"] != "passed" and r.get("reason"):
            print(f"{'':28} {r['reason']}")
        for k in totals:
            totals[k] += t.get(k, 0) if k != "failed" else t.get("failed", 0) + t.get("errors", 0)
        if r["status"] == "failed" or (r["status"] == "unavailable" and r.get("required")):
            status = 1
    if "seconds" in results and ran is not None:
        print(f"wall time {results['seconds']:.1f}s")
    print(f"matrix: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return status


if __name__ == "__main__":
    sys.exit(main())
