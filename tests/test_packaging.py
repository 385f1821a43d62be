"""Packaging: one version source, the sdist and the three wheels of tools/build_dist.py, and what
the loader does in each wheel.

Building needs the `lint` extra (build, setuptools>=77, twine, check-wheel-contents, auditwheel):
without it these tests skip, except in CI (CI set) on the main interpreter, where they fail.  Inside
a matrix run (SECRETSCOPE_MATRIX_ENTRY set) or under qemu they skip: one build proves the packaging.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import secretscope
from secretscope._platform import native_arch
from tests._support.environment import IN_CI, ROOT, skip_locally_fail_in_ci

BUILD_TOOLS = ("build", "setuptools", "twine", "check_wheel_contents", "auditwheel")
ARCH = native_arch()


def _build_dist_module():
    spec = importlib.util.spec_from_file_location("build_dist", ROOT / "tools" / "build_dist.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    if os.environ.get("SECRETSCOPE_MATRIX_ENTRY") or os.environ.get("SECRETSCOPE_ARM64_EMULATED"):
        pytest.skip("the distributions are built and checked once, by the main interpreter's run")
    missing = [m for m in BUILD_TOOLS if importlib.util.find_spec(m) is None]
    if "setuptools" not in missing:
        import setuptools
        if int(setuptools.__version__.split(".")[0]) < 77:  # pyproject.toml's build requirement
            missing.append(f"setuptools>=77 (this is {setuptools.__version__})")
    if missing:
        message = f"the lint extra is not installed (missing {', '.join(missing)}): pip install '.[lint]'"
        skip_locally_fail_in_ci(message)
    build_dist = _build_dist_module()
    built = build_dist.build(tmp_path_factory.mktemp("dist"), isolation=False)
    return build_dist, built


def test_version_has_one_source():
    pyproject = (ROOT / "pyproject.toml").read_text()
    project = pyproject.split("[project]", 1)[1].split("\n[", 1)[0]
    assert re.search(r"^version\s*=", project, re.M) is None, "a literal version in pyproject.toml"
    assert re.search(r'^dynamic = \[[^]]*"version"', project, re.M)
    assert 'version = { attr = "secretscope.__version__" }' in pyproject
    changelog = (ROOT / "CHANGELOG.md").read_text()
    latest = re.search(r"^## (\S+)", changelog, re.M)
    assert latest and latest.group(1) == secretscope.__version__, "CHANGELOG.md's latest entry is another version"


def test_distribution_checks(dist):
    # Each wheel holds only its own objects, listed in its SHA256SUMS; twine check --strict;
    # check-wheel-contents; auditwheel show; the sdist holds every tracked file.  Each check fails
    # the build script with the reason (build_dist.check raises SystemExit).
    build_dist, built = dist
    build_dist.check(built)
    assert set(built) == {"sdist", "x86_64", "aarch64", "any"}


def test_metadata(dist):
    _, built = dist
    with zipfile.ZipFile(built["any"]) as z:
        meta = Parser().parsestr(z.read(f"secretscope-{secretscope.__version__}.dist-info/METADATA").decode())
        names = z.namelist()
    assert meta["Version"] == secretscope.__version__
    assert meta["License-Expression"] == "MIT"
    assert f"secretscope-{secretscope.__version__}.dist-info/licenses/LICENSE" in names
    required = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert required == [], "secretscope depends on nothing"
    classifiers = meta.get_all("Classifier")
    for minor in range(10, 16):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Operating System :: POSIX :: Linux" in classifiers and "Topic :: Security" in classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    if importlib.util.find_spec("trove_classifiers"):
        from trove_classifiers import classifiers as known
        assert [c for c in classifiers if c not in known] == []
    # A package index renders the long description without the repository around it.
    body = meta.get_payload()
    assert "python -m pip install . && python -m secretscope" in body
    relative = [t for t in re.findall(r"\]\(([^)\s]+)\)", body) if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]
    assert relative == [], f"relative links in the long description: {relative}"


def _import_from(wheel: Path, where: Path) -> subprocess.CompletedProcess:
    where.mkdir()
    with zipfile.ZipFile(wheel) as z:
        z.extractall(where)  # what an installer puts in site-packages
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETSCOPE_")}
    env["PYTHONPATH"] = str(where)
    code = ("import secretscope; p = secretscope.protection(); "
            "print(secretscope.__file__); print(p.backend); print(p.reason)")
    # -W error: a warning at import (the loader's "NOTHING IS PROTECTED") fails the import.
    return subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                          env=env, cwd=str(where), timeout=120)


@pytest.mark.parametrize("target", ["x86_64", "aarch64", "any"])
def test_each_wheel_loads_its_object_or_falls_back_with_the_reason(dist, target, tmp_path):
    _, built = dist
    r = _import_from(built[target], tmp_path / target)
    assert r.returncode == 0, r.stdout + r.stderr
    location, backend_name, reason = r.stdout.splitlines()
    assert location.startswith(str(tmp_path)), "imported another copy of secretscope"
    if target == ARCH:
        assert backend_name == "native", reason
    elif ARCH is not None:
        # A wheel without this machine's object: the fallback, said plainly, without a warning.
        assert backend_name == "fallback"
        assert f"this installation carries no native object for {ARCH}" in reason
    else:
        assert backend_name == "fallback"


def test_sdist_rebuilds_the_objects_and_collects_every_test(dist, tmp_path):
    _, built = dist
    with tarfile.open(built["sdist"]) as tar:
        tar.extractall(tmp_path, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(tmp_path)
    (tree,) = tmp_path.iterdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # (--skip-missing outside CI: like test_build.py, a machine without an arch's binutils skips it)
    check = ["--check"] + ([] if IN_CI else ["--skip-missing"])
    r = subprocess.run([sys.executable, "asm/build.py", *check], cwd=str(tree), capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0 and "DIFF" not in r.stdout, r.stdout + r.stderr
    # Every test module imports (its helpers are there); then the API tests run from the sdist.
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider"],
                       cwd=str(tree), capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0 and not re.search(r"\d+ errors?\b", r.stdout), r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_api.py",
                        "tests/test_fallback.py"], cwd=str(tree), capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"\d+ passed", r.stdout)


def test_sdist_tests_collect_against_the_installed_wheel(dist, tmp_path):
    """What a distribution packager does (Debian's pybuild, for one): install the wheel into a
    build folder, copy the sdist's tests/ next to it, and run pytest there with no source tree.
    The tests find their helpers as the package tests._support, not as top-level modules."""
    _, built = dist
    with tarfile.open(built["sdist"]) as tar:
        tar.extractall(tmp_path / "sdist", filter="data") if hasattr(tarfile, "data_filter") \
            else tar.extractall(tmp_path / "sdist")
    (tree,) = (tmp_path / "sdist").iterdir()
    build = tmp_path / "build"
    with zipfile.ZipFile(built[ARCH or "any"]) as z:
        z.extractall(build)  # what the installer puts in site-packages
    shutil.copytree(tree / "tests", build / "tests")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETSCOPE_")}
    env["PYTHONPATH"] = str(build)
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    # both of pytest's ways to import test modules (importlib: sys.path left alone, as pytest
    # recommends for new projects; bare helper imports such as `from conftest import` fail there)
    for mode in ("prepend", "importlib"):
        r = subprocess.run([*pytest_cmd, f"--import-mode={mode}", "--collect-only", "tests"], cwd=str(build),
                           capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0 and not re.search(r"\d+ errors?\b", r.stdout), mode + r.stdout + r.stderr
        assert re.search(r"\d+ tests? collected", r.stdout), r.stdout
    r = subprocess.run([*pytest_cmd, "tests/test_api.py", "tests/test_diagnostics_apart.py"], cwd=str(build),
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0 and re.search(r"\d+ passed", r.stdout), r.stdout + r.stderr
