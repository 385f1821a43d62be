#!/usr/bin/env python3
"""Prepare CPython interpreters from Debian's packages, without a chroot.

    python3 tools/debian_sysroot.py --arch {amd64,arm64} --suite {system,unstable}
                                    --python 3.X [--dest DIR] [--package DIR]
                                    [--no-binfmt] [--rebuild] [--print-python]

The tool resolves the dependency closure of Debian's ``python3.X`` package with
apt (against an empty, private dpkg status), downloads exactly those ``.deb``
files with ``apt-get download``, unpacks them with ``dpkg-deb -x`` into a
sysroot folder, merges ``/lib`` etc. into ``/usr`` (usrmerge), rewrites the
interpreter's ELF loader and run path with ``patchelf`` so that
``SYSROOT/usr/bin/python3.X`` runs on the sysroot's own loader and libc, and
unzips pure-Python wheels of pytest and its dependencies into ``SYSROOT/site``.
For a foreign architecture (arm64 on an x86-64 host) the interpreter runs under
``qemu-<arch>-static`` through binfmt_misc.

Suites:
  system    the system's own apt sources; a foreign architecture is enabled
            with ``dpkg --add-architecture`` + ``apt-get update``.
  unstable  Debian unstable, through a private apt configuration, state and
            cache under the tool's cache folder; its sources list is derived
            from the system's own (same mirror, same Signed-By keyring).

The last line of stdout is the absolute path of the interpreter to run (with
``--print-python`` it is the only line).  Everything else goes to stderr.
See tools/README.md.

Python 3.10+, standard library only.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

TOOL_VERSION = 1
STAMP_NAME = ".debian-sysroot.json"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = REPO_ROOT / ".cache" / "sysroots"

ARCHES = {
    "amd64": {
        "triplet": "x86_64-linux-gnu",
        "machine": "x86_64",
        "qemu": "x86_64",
        "binutils": "binutils-x86-64-linux-gnu",
    },
    "arm64": {
        "triplet": "aarch64-linux-gnu",
        "machine": "aarch64",
        "qemu": "aarch64",
        "binutils": "binutils-aarch64-linux-gnu",
    },
}

# binfmt_misc magic/mask used only when Debian's binfmt.d file is missing.
BINFMT_FALLBACK = {
    "aarch64": (
        r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
        r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    ),
    "x86_64": (
        r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
        r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    ),
}
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")

# Packages that the closure of python3.X reaches only through packaging
# machinery (readline-common -> dpkg | install-info, tzdata -> debconf, ...).
# They are written into the private dpkg status as "installed", so that apt
# neither downloads them nor their own dependencies (tar, libselinux, perl...).
ASSUMED_INSTALLED = ("dpkg", "debconf", "install-info", "perl-base")

# Wheel resolution starts here; the rest is found from Requires-Dist, with the
# markers evaluated by the sysroot interpreter itself.
ROOT_REQUIREMENTS = ("packaging", "pytest")

# Compile-time directories the sysroot merges into /usr.
MERGED_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32")

# Debian unstable's arm64 binaries are built with branch protection
# (-mbranch-protection=standard: PACIASP/AUTIASP, which are hint-space NOPs
# on a CPU without pointer authentication).  qemu's default emulation of PAC
# (QARMA5) makes them 4-20x slower; "pauth=off" removes that cost and keeps
# SVE and everything else of "max".  Used for the tool's own runs and as
# env.sh's default when QEMU_CPU is not set.
FAST_QEMU_CPU = "max,pauth=off"

VERBOSE = False


class ToolError(Exception):
    """An error reported to the user without a traceback."""


def log(msg: str) -> None:
    print(f"[debian_sysroot] {msg}", file=sys.stderr, flush=True)


def run(cmd, *, check=True, capture=True, env=None, cwd=None, input=None, what=None):
    """Run a command; on failure raise ToolError with the end of its output."""
    if VERBOSE:
        shown = [str(c) if len(str(c)) < 160 else str(c)[:60].strip() + "..." for c in cmd]
        log("$ " + " ".join(shlex.quote(c) for c in shown))
    try:
        proc = subprocess.run(
            [str(c) for c in cmd],
            env=env,
            cwd=cwd,
            input=input,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
        )
    except FileNotFoundError:
        raise ToolError(f"command not found: {cmd[0]}") from None
    if check and proc.returncode != 0:
        out = (proc.stdout or "").strip().splitlines()
        tail = "\n".join("    " + line for line in out[-25:])
        raise ToolError(
            f"{what or 'command'} failed (exit {proc.returncode}): "
            f"{' '.join(shlex.quote(str(c)) for c in cmd)}\n{tail}"
        )
    return proc


def run_apt(cmd, *, what, cwd=None, check=True, wait=600):
    """Run an apt/dpkg command, waiting while another process holds its lock."""
    deadline = time.monotonic() + wait
    warned = False
    while True:
        proc = run(cmd, check=False, cwd=cwd, env=noninteractive_env())
        locked = proc.returncode != 0 and re.search(
            r"Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock", proc.stdout)
        if not locked or time.monotonic() > deadline:
            break
        if not warned:
            log("waiting for an apt/dpkg lock held by another process...")
            warned = True
        time.sleep(3)
    if check and proc.returncode != 0:
        tail = "\n".join("    " + l for l in proc.stdout.strip().splitlines()[-20:])
        raise ToolError(f"{what} failed (exit {proc.returncode}): "
                        f"{' '.join(shlex.quote(str(c)) for c in cmd)}\n{tail}")
    return proc


def is_root() -> bool:
    return os.geteuid() == 0


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------
# host preparation


class HostApt:
    """The system's apt, used for host packages and for --suite system."""

    def __init__(self) -> None:
        self.updated = False

    def update(self) -> None:
        if self.updated:
            return
        if not is_root():
            raise ToolError("'apt-get update' needs root; run the tool as root")
        log("apt-get update (system package lists)")
        run_apt(["apt-get", "update"], what="apt-get update")
        self.updated = True

    @staticmethod
    def missing(packages) -> list[str]:
        out = []
        for pkg in packages:
            proc = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
            if proc.returncode != 0 or "install ok installed" not in proc.stdout:
                out.append(pkg)
        return out

    def ensure_installed(self, packages) -> None:
        missing = self.missing(packages)
        if not missing:
            return
        if not is_root():
            raise ToolError(
                "missing host packages: " + " ".join(missing)
                + "\n  run as root, or: sudo apt-get install -y " + " ".join(missing)
            )
        if not self.updated and not self.have_candidates(missing):
            self.update()
        log("installing host packages: " + " ".join(missing))
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
        proc = run_apt(cmd, what="apt-get install", check=False)
        if proc.returncode != 0 and not self.updated:
            self.update()
            proc = run_apt(cmd, what="apt-get install", check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
            raise ToolError(f"could not install host packages {' '.join(missing)}:\n{tail}")

    @staticmethod
    def have_candidates(packages) -> bool:
        proc = run(["apt-cache", "policy", *packages], check=False)
        if proc.returncode != 0:
            return False
        found = re.findall(r"^\S+:\n\s+Installed: .*\n\s+Candidate: (.*)$", proc.stdout, re.M)
        return len(found) == len(packages) and all(c.strip() != "(none)" for c in found)


def noninteractive_env() -> dict:
    env = dict(os.environ)
    env["DEBIAN_FRONTEND"] = "noninteractive"
    env.setdefault("LC_ALL", "C")
    return env


def host_arch() -> str:
    return run(["dpkg", "--print-architecture"], what="dpkg").stdout.strip()


# ---------------------------------------------------------------------------
# binfmt_misc


def binfmt_entries() -> list[tuple[str, bool, str, str]]:
    """(name, enabled, interpreter, flags) of the registered entries."""
    out = []
    if not (BINFMT_DIR / "register").exists():
        return out
    for p in BINFMT_DIR.iterdir():
        if p.name in ("register", "status"):
            continue
        try:
            text = p.read_text()
        except OSError:
            continue
        interp = re.search(r"^interpreter (.*)$", text, re.M)
        flags = re.search(r"^flags: ?(.*)$", text, re.M)
        out.append((p.name, text.startswith("enabled"),
                    interp.group(1) if interp else "", flags.group(1) if flags else ""))
    return out


def find_binfmt(qarch: str):
    for name, enabled, interp, flags in binfmt_entries():
        base = os.path.basename(interp)
        # qemu-aarch64, qemu-aarch64-static, or Debian's aarch64-binfmt-P wrapper
        if enabled and (base.startswith(f"qemu-{qarch}") or base == f"{qarch}-binfmt-P"):
            return name, interp, flags
    return None


def binfmt_status() -> str:
    try:
        return (BINFMT_DIR / "status").read_text().strip()
    except OSError:
        return "unmounted"


def ensure_binfmt(qarch: str, qemu_bin: str, may_register: bool) -> tuple[bool, str]:
    """Make sure ELF binaries of `qarch` run through qemu; return (ok, message)."""
    found = find_binfmt(qarch)
    if found and binfmt_status() == "enabled":
        return True, f"binfmt_misc entry '{found[0]}' ({found[1]}, flags {found[2] or '-'}) present"
    if not may_register:
        return False, "binfmt_misc registration skipped (--no-binfmt)"
    if not is_root():
        return False, "binfmt_misc registration needs root"
    if not (BINFMT_DIR / "register").exists():
        if not BINFMT_DIR.is_dir():
            return False, f"{BINFMT_DIR} does not exist (kernel without binfmt_misc?)"
        proc = run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)], check=False)
        if proc.returncode != 0:
            return False, f"cannot mount binfmt_misc at {BINFMT_DIR}: {proc.stdout.strip()}"
    if binfmt_status() != "enabled":
        try:
            (BINFMT_DIR / "status").write_text("1")
        except OSError as e:
            return False, f"binfmt_misc is disabled and cannot be enabled: {e}"
    found = find_binfmt(qarch)
    if found:
        return True, f"binfmt_misc entry '{found[0]}' present"
    name = f"qemu-{qarch}"
    if (BINFMT_DIR / name).exists():  # registered but disabled: enable it
        try:
            (BINFMT_DIR / name).write_text("1")
            return True, f"enabled existing binfmt_misc entry '{name}'"
        except OSError as e:
            return False, f"cannot enable binfmt_misc entry '{name}': {e}"
    conf = Path(f"/usr/lib/binfmt.d/qemu-{qarch}.conf")
    magic = mask = None
    if conf.is_file():
        for line in conf.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                fields = line.split(":")
                if len(fields) >= 7 and fields[2] == "M":
                    magic, mask = fields[4], fields[5]
                    break
    if magic is None:
        if qarch not in BINFMT_FALLBACK:
            return False, f"no binfmt magic for {qarch} ({conf} missing)"
        magic, mask = BINFMT_FALLBACK[qarch]
    # F: the kernel opens the interpreter now, so it works in other mount
    # namespaces/chroots as well.  No P flag: argv[0] becomes the full path of
    # the binary, which is what Python wants for sys.executable.
    reg = f":{name}:M::{magic}:{mask}:{qemu_bin}:F"
    try:
        (BINFMT_DIR / "register").write_text(reg)
    except OSError as e:
        return False, f"cannot register {name} with binfmt_misc: {e}"
    return True, f"registered binfmt_misc entry '{name}' -> {qemu_bin} (flags F)"


# ---------------------------------------------------------------------------
# apt sources of the system -> sources list for unstable


def apt_config_paths() -> tuple[Path, Path]:
    proc = run(["apt-config", "shell", "SL", "Dir::Etc::SourceList/f",
                "SP", "Dir::Etc::SourceParts/d"], check=False)
    vals = dict(re.findall(r"^(\w+)='(.*)'$", proc.stdout, re.M)) if proc.returncode == 0 else {}
    return (Path(vals.get("SL", "/etc/apt/sources.list")),
            Path(vals.get("SP", "/etc/apt/sources.list.d/")))


def parse_one_line_sources(text: str) -> list[dict]:
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)(.*)$", line)
        if not m:
            continue
        opts = {}
        for opt in (m.group(2) or "").split():
            if "=" in opt:
                k, v = opt.split("=", 1)
                opts[k.lower()] = v
        entries.append({
            "types": [m.group(1)],
            "uris": [m.group(3)],
            "suites": [m.group(4)],
            "components": m.group(5).split(),
            "signed_by": opts.get("signed-by"),
            "enabled": True,
        })
    return entries


def parse_deb822_sources(text: str) -> list[dict]:
    entries = []
    for para in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and key:
                cont = line.strip()
                fields[key] += "\n" + ("" if cont == "." else cont)
                continue
            if ":" in line:
                key, val = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = val.strip()
        if not fields.get("uris"):
            continue
        entries.append({
            "types": fields.get("types", "").split(),
            "uris": fields.get("uris", "").split(),
            "suites": fields.get("suites", "").split(),
            "components": fields.get("components", "").split(),
            "signed_by": fields.get("signed-by") or None,
            "enabled": fields.get("enabled", "yes").strip().lower() not in ("no", "false", "0"),
        })
    return entries


def os_codename() -> str | None:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return None
    m = re.search(r'^VERSION_CODENAME="?([^"\n]*)"?$', text, re.M)
    return m.group(1) if m and m.group(1) else None


def derive_debian_archives() -> list[tuple[str, str | None]]:
    """(uri, signed_by) of the system's Debian main-archive sources."""
    main, parts = apt_config_paths()
    entries = []
    files = [main] if main.is_file() else []
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        entries += parse_deb822_sources(text) if f.suffix == ".sources" else parse_one_line_sources(text)
    codename = os_codename()
    generic = {"stable", "oldstable", "oldoldstable", "testing", "unstable", "sid"}
    out: list[tuple[str, str | None]] = []
    for e in entries:
        if not e["enabled"] or "deb" not in e["types"]:
            continue
        # the main archive carries the bare release name (bookworm, sid...);
        # bookworm-security, bookworm-updates and third-party suites do not.
        if not any(s == codename or s in generic for s in e["suites"]):
            continue
        for uri in e["uris"]:
            item = (uri.rstrip("/"), e["signed_by"])
            if item not in out:
                out.append(item)
    return out


# ---------------------------------------------------------------------------
# resolving and downloading the packages


INST_RE = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([^\]]+)\]\)", re.M)


class PackageSource:
    """apt for one (arch, suite): the system's lists, or a private apt."""

    def __init__(self, arch: str, suite: str, cache: Path, host: HostApt, hostarch: str):
        self.arch = arch
        self.suite = suite
        self.host = host
        self.hostarch = hostarch
        self.dir = cache / "_apt" / f"{arch}-{suite}"
        self.private = suite != "system"
        self.updated = False

    # -- apt options
    def options(self) -> list[str]:
        d = self.dir
        o = {
            "APT::Architecture": self.arch,
            "APT::Architectures": self.arch,
            "Dir::State::status": str(d / "status"),
            "APT::Install-Recommends": "false",
            "APT::Install-Suggests": "false",
            "APT::Get::AllowUnauthenticated": "false",
        }
        if self.private:
            o.update({
                "Dir::Etc::SourceList": str(d / "etc" / "sources.list"),
                "Dir::Etc::SourceParts": str(d / "etc" / "sources.list.d"),
                "Dir::Etc::Preferences": str(d / "etc" / "preferences"),
                "Dir::Etc::PreferencesParts": str(d / "etc" / "preferences.d"),
                "Dir::State": str(d / "state"),
                "Dir::State::lists": str(d / "state" / "lists"),
                "Dir::Cache": str(d / "cache"),
                "Acquire::Languages": "none",
                "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled": "false",
                "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled": "false",
                "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled": "false",
                "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled": "false",
            })
        args = []
        for k, v in o.items():
            args += ["-o", f"{k}={v}"]
        return args

    # -- preparation
    def prepare(self, refresh: bool) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.write_status()
        if self.private:
            changed = self.write_private_sources()
            if refresh or changed or not self.have_lists():
                self.update()
        else:
            if self.arch != self.hostarch:
                foreign = run(["dpkg", "--print-foreign-architectures"], what="dpkg").stdout.split()
                if self.arch not in foreign:
                    if not is_root():
                        raise ToolError(
                            f"architecture {self.arch} is not enabled in dpkg; run as root "
                            f"(the tool runs 'dpkg --add-architecture {self.arch}' and 'apt-get update')")
                    log(f"dpkg --add-architecture {self.arch}")
                    run(["dpkg", "--add-architecture", self.arch], what="dpkg --add-architecture")
                    self.update()
            if refresh:
                self.update()

    def write_status(self) -> None:
        paras = []
        for name in ASSUMED_INSTALLED:
            paras.append(
                f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
                f"Version: 9999\nArchitecture: {self.arch}\nMulti-Arch: foreign\n"
                f"Maintainer: none <none@invalid>\n"
                f"Description: assumed present (debian_sysroot.py)\n")
        (self.dir / "status").write_text("\n".join(paras))

    def write_private_sources(self) -> bool:
        archives = derive_debian_archives()
        if not archives:
            raise ToolError(
                "could not derive a Debian mirror from the system's apt sources "
                "(no 'deb' entry for the release's own suite in sources.list or "
                "sources.list.d/*.sources)")
        etc = self.dir / "etc"
        (etc / "sources.list.d").mkdir(parents=True, exist_ok=True)
        (etc / "preferences.d").mkdir(parents=True, exist_ok=True)
        lines = [f"# derived from the system's apt sources by {Path(__file__).name}"]
        for i, (uri, signed_by) in enumerate(archives):
            opts = [f"arch={self.arch}"]
            if signed_by:
                if "\n" in signed_by or "BEGIN PGP" in signed_by:  # inline key
                    key = etc / f"keyring-{i}.asc"
                    key.write_text(signed_by.strip() + "\n")
                    signed_by = str(key)
                opts.append(f"signed-by={signed_by}")
            lines.append(f"deb [{' '.join(opts)}] {uri} {self.suite} main")
        text = "\n".join(lines) + "\n"
        path = etc / "sources.list"
        old = path.read_text() if path.exists() else None
        if old != text:
            path.write_text(text)
            return True
        return False

    def have_lists(self) -> bool:
        if self.private:
            lists = self.dir / "state" / "lists"
        else:
            proc = run(["apt-config", "shell", "L", "Dir::State::lists/d"], check=False)
            m = re.search(r"^L='(.*)'$", proc.stdout, re.M)
            lists = Path(m.group(1) if m else "/var/lib/apt/lists")
        return lists.is_dir() and any(
            f"binary-{self.arch}_Packages" in p.name for p in lists.iterdir())

    def update(self) -> None:
        if not self.private:
            self.host.update()
            self.updated = True
            return
        if self.updated:
            return
        lists = self.dir / "state" / "lists"
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        (self.dir / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        log(f"apt-get update (private lists for {self.suite}/{self.arch})")
        run_apt(["apt-get", *self.options(), "update"], what="apt-get update")
        if not self.have_lists():
            raise ToolError(
                f"apt-get update fetched no {self.suite} package list for {self.arch}; "
                f"see {self.dir / 'etc' / 'sources.list'}")
        self.updated = True

    # -- resolution and download
    def resolve(self, package: str) -> list[tuple[str, str, str]]:
        """Dependency closure of `package` as (name, version, arch)."""
        cmd = ["apt-get", *self.options(), "-s", "-q", "install", package]
        proc = run(cmd, check=False, env=noninteractive_env())
        if proc.returncode != 0 and (self.private or is_root()) and (
                not self.updated or (not self.private and not self.have_lists())):
            # the lists may be old or lack this architecture (a concurrent
            # 'apt-get update' started before --add-architecture drops them)
            if not self.private:
                self.host.updated = False
            self.update()
            proc = run(cmd, check=False, env=noninteractive_env())
        where = "the system's apt sources" if not self.private else f"Debian {self.suite}"
        if proc.returncode != 0:
            errs = [l for l in proc.stdout.splitlines() if l.startswith("E:") or "but" in l]
            raise ToolError(
                f"no installable package {package} for {self.arch} in {where}:\n    "
                + "\n    ".join(errs[-10:] or proc.stdout.strip().splitlines()[-10:]))
        pkgs = INST_RE.findall(proc.stdout)
        if not any(name.split(":")[0] == package for name, _, _ in pkgs):
            # e.g. a purely virtual name that only other packages provide
            raise ToolError(f"no package {package} for {self.arch} in {where} "
                            f"(at most a virtual package of that name)")
        return [(name.split(":")[0], ver, arch) for name, ver, arch in pkgs]

    @staticmethod
    def deb_filename(name: str, version: str, arch: str) -> str:
        return f"{name}_{version.replace(':', '%3a')}_{arch}.deb"

    def download(self, pkgs, debdir: Path) -> list[Path]:
        debdir.mkdir(parents=True, exist_ok=True)
        files = [debdir / self.deb_filename(*p) for p in pkgs]
        todo = [f"{n}={v}" for (n, v, a), f in zip(pkgs, files) if not f.exists()]
        if todo:
            log(f"downloading {len(todo)} of {len(pkgs)} packages")
            cmd = ["apt-get", *self.options(), "download", *todo]
            proc = run_apt(cmd, what="apt-get download", check=False, cwd=debdir)
            if proc.returncode != 0:
                tail = "\n".join(proc.stdout.strip().splitlines()[-10:])
                raise DownloadError(f"apt-get download failed:\n{tail}")
        missing = [f.name for f in files if not f.exists()]
        if missing:
            raise DownloadError("apt-get download did not produce: " + ", ".join(missing))
        return files


class DownloadError(ToolError):
    pass


# ---------------------------------------------------------------------------
# unpacking


def merge_tree(src: Path, dst: Path) -> None:
    """Move the contents of src into dst (dst wins for plain duplicates)."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in list(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if target.is_dir():
                merge_tree(entry, target)
                entry.rmdir()
                continue
            if os.path.lexists(target):
                target.unlink()
            entry.rename(target)
        elif os.path.lexists(target):
            # keep the real file over a symlink, else the /usr copy
            if target.is_symlink() and not entry.is_symlink():
                target.unlink()
                entry.rename(target)
            else:
                entry.unlink()
        else:
            entry.rename(target)


def usrmerge(root: Path) -> None:
    usr = root / "usr"
    for d in MERGED_DIRS:
        top = root / d
        if top.is_dir() and not top.is_symlink():
            merge_tree(top, usr / d)
            top.rmdir()
        if not os.path.lexists(top) and (usr / d).is_dir():
            top.symlink_to(f"usr/{d}")


def relativize_symlinks(root: Path) -> int:
    """Absolute symlinks that point into the sysroot become relative."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            if not p.is_symlink():
                continue
            target = os.readlink(p)
            if not target.startswith("/"):
                continue
            inside = root / target.lstrip("/")
            if os.path.lexists(inside):
                rel = os.path.relpath(inside, p.parent)
                p.unlink()
                p.symlink_to(rel)
                count += 1
    return count


def unpack(debs, staging: Path) -> None:
    for deb in debs:
        run(["dpkg-deb", "-x", deb, staging], what=f"dpkg-deb -x {deb.name}")
    usrmerge(staging)
    relativize_symlinks(staging)


def patch_interpreter(dest: Path, python_bin: Path, triplet: str) -> str:
    interp = run(["patchelf", "--print-interpreter", python_bin], what="patchelf").stdout.strip()
    loader = dest / interp.lstrip("/")
    if not loader.exists():
        raise ToolError(f"the sysroot has no dynamic loader {interp} (libc6 not unpacked?)")
    loader = Path(os.path.realpath(loader))
    rpath = f"{dest}/usr/lib/{triplet}:{dest}/usr/lib"
    # DT_RPATH (not RUNPATH): it also applies to the libraries that the
    # extension modules in lib-dynload and ctypes load later.
    run(["patchelf", "--set-interpreter", loader, "--force-rpath", "--set-rpath", rpath,
         python_bin], what="patchelf")
    return str(loader)


# ---------------------------------------------------------------------------
# the sysroot interpreter


class Target:
    def __init__(self, dest: Path, pyver: str, arch: str, foreign: bool, binfmt: bool, qemu_bin: str):
        self.dest = dest
        self.pyver = pyver
        self.arch = arch
        self.foreign = foreign
        self.binfmt = binfmt
        self.qemu_bin = qemu_bin
        self.python = dest / "usr" / "bin" / f"python{pyver}"
        self.site = dest / "site"
        self.wrapper = dest / f"qemu-python{pyver}"
        self.qemu_cpu: str | None = None  # QEMU_CPU for the tool's own runs

    @property
    def runnable(self) -> Path:
        """What to run: the binary itself, or the qemu wrapper without binfmt."""
        return self.wrapper if self.foreign and not self.binfmt else self.python

    def env(self) -> dict:
        env = dict(os.environ)
        for var in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONUSERBASE",
                    "PYTHONDONTWRITEBYTECODE", "PYTHONEXECUTABLE"):
            env.pop(var, None)
        env["PYTHONNOUSERSITE"] = "1"
        if self.foreign:
            env["QEMU_LD_PREFIX"] = str(self.dest)
            env.pop("QEMU_CPU", None)
            if self.qemu_cpu:
                env["QEMU_CPU"] = self.qemu_cpu
        return env

    def probe_fast_cpu(self) -> None:
        """Use FAST_QEMU_CPU for the tool's runs if this qemu accepts it."""
        if not self.foreign:
            return
        self.qemu_cpu = FAST_QEMU_CPU
        if self.run(["-c", "pass"], what="qemu probe", check=False).returncode != 0:
            self.qemu_cpu = None

    def run(self, args, *, what, input=None, check=True):
        return run([self.runnable, *args], env=self.env(), input=input, what=what, check=check)


def find_pip(host: HostApt) -> list[str]:
    candidates = [[sys.executable, "-m", "pip"], ["python3", "-m", "pip"], ["pip3"]]
    for cand in candidates:
        if shutil.which(cand[0]) and run([*cand, "--version"], check=False).returncode == 0:
            return cand
    if is_root():
        host.ensure_installed(["python3-pip"])
        return ["/usr/bin/python3", "-m", "pip"]
    raise ToolError("pip is needed to download the pytest wheels: apt-get install python3-pip")


MARKER_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from packaging.requirements import Requirement
out = []
for line in json.load(sys.stdin):
    r = Requirement(line)
    if r.marker is None or r.marker.evaluate({"extra": ""}):
        out.append([r.name, str(r.specifier)])
print(json.dumps(out))
"""


def install_wheels(target: Target, cache: Path, host: HostApt) -> list[str]:
    """Pure-Python wheels of pytest & deps, unzipped into target.site."""
    pip = find_pip(host)
    if target.site.exists():
        shutil.rmtree(target.site)
    target.site.mkdir(parents=True)
    installed: dict[str, str] = {}
    pending = list(ROOT_REQUIREMENTS)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wheels-", dir=cache) as tmp:
        for round_no in range(1, 20):
            if not pending:
                break
            dl = Path(tmp, str(round_no))
            run([*pip, "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                 "--only-binary=:all:", "--python-version", target.pyver, "-d", dl, *pending],
                what="pip download")
            requires: list[str] = []
            for whl in sorted(dl.glob("*.whl")):
                name = normalize_name(whl.name.split("-")[0])
                if name in installed:
                    continue
                if not whl.name.endswith("-none-any.whl"):
                    raise ToolError(f"{whl.name} is not a pure-Python wheel")
                with zipfile.ZipFile(whl) as zf:
                    zf.extractall(target.site)
                    meta = next(n for n in zf.namelist()
                                if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
                    msg = email.parser.Parser().parsestr(zf.read(meta).decode("utf-8"))
                    requires += msg.get_all("Requires-Dist") or []
                installed[name] = whl.name
            pending = []
            if requires:
                proc = target.run(["-c", MARKER_SCRIPT, str(target.site)],
                                  input=json.dumps(requires), what="evaluating wheel markers")
                for name, spec in json.loads(proc.stdout.strip().splitlines()[-1]):
                    if normalize_name(name) not in installed:
                        req = name + spec
                        if req not in pending:
                            pending.append(req)
        else:
            raise ToolError("wheel dependency resolution did not converge")
    return sorted(installed.values())


SMOKE_SCRIPT = r"""
import sys, ctypes, ssl, hashlib, threading, subprocess, platform, os
import pytest
assert ctypes.sizeof(ctypes.c_void_p) == 8
assert ctypes.pythonapi.Py_GetVersion
ctypes.CDLL(None).getpid
hashlib.sha256(b"x").hexdigest(); ssl.create_default_context()
t = threading.Thread(target=lambda: None); t.start(); t.join()
expect_prefix, expect_machine, check_sub = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
assert sys.prefix == expect_prefix, (sys.prefix, expect_prefix)
assert platform.machine() == expect_machine, platform.machine()
if check_sub:
    r = subprocess.run([sys.executable, "-c", "print(42)"], capture_output=True, text=True)
    assert r.stdout.strip() == "42", (r.returncode, r.stdout, r.stderr)
print("ok", sys.version.split()[0], platform.machine(), pytest.__version__, ssl.OPENSSL_VERSION)
"""


def smoke_test(target: Target) -> str:
    proc = target.run(
        ["-c", SMOKE_SCRIPT, str(target.dest / "usr"), ARCHES[target.arch]["machine"],
         "1" if (not target.foreign or target.binfmt) else "0"],
        what="sysroot smoke test", check=False)
    if proc.returncode != 0 or "ok" not in proc.stdout:
        tail = "\n".join("    " + l for l in proc.stdout.strip().splitlines()[-15:])
        raise ToolError(f"the sysroot interpreter {target.python} does not work:\n{tail}")
    return proc.stdout.strip().splitlines()[-1]


COMPILE_SCRIPT = r"""
import os, re, sys, py_compile, multiprocessing
skip = re.compile(sys.argv[1])
files = []
for top in sys.argv[2:]:
    for d, dirs, names in os.walk(top):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        files += [os.path.join(d, n) for n in sorted(names)
                  if n.endswith(".py") and not skip.search(os.path.join(d, n))]
def comp(path):
    try:
        py_compile.compile(path, doraise=True)
        return 0
    except Exception:
        return 1
if __name__ == "__main__":
    n = min(os.cpu_count() or 1, 8)
    if n > 1:
        # fork (not forkserver/spawn): under qemu the children keep the
        # parent's translated code, and no new interpreter is exec'ed.
        with multiprocessing.get_context("fork").Pool(n) as pool:
            errors = sum(pool.map(comp, files, chunksize=8))
    else:
        errors = sum(map(comp, files))
    print(len(files), errors)
"""
# rarely imported, large: lexers/styles of pygments compile on first use.
COMPILE_SKIP = r"/(test|tests|idlelib|tkinter|turtledemo|ensurepip|lib2to3)/|/pygments/(lexers|styles)/"


def compile_bytecode(target: Target) -> str:
    """Precompile the stdlib and the wheels (Debian ships no .pyc files)."""
    proc = target.run(
        ["-c", COMPILE_SCRIPT, COMPILE_SKIP,
         target.dest / "usr" / "lib" / f"python{target.pyver}", target.site],
        what="compiling bytecode")
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "?"


def env_vars(target: Target, packages: list[Path]) -> dict[str, str]:
    env = {
        "DEBIAN_SYSROOT": str(target.dest),
        "SYSROOT_PYTHON": str(target.runnable),
        "PYTHONPATH": os.pathsep.join([str(target.site), *map(str, packages)]),
        "PYTHONNOUSERSITE": "1",
    }
    if target.foreign:
        env["QEMU_LD_PREFIX"] = str(target.dest)
    return env


def env_lines(target: Target, env: dict[str, str], fast_cpu: bool) -> list[str]:
    lines = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    if target.foreign and fast_cpu:
        lines.append(f'export QEMU_CPU="${{QEMU_CPU:-{FAST_QEMU_CPU}}}"')
    return lines


def write_runtime_files(target: Target, packages: list[Path], fast_cpu: bool) -> list[str]:
    # .pth in the interpreter's own dist-packages: pytest and --package
    # directories are importable even without PYTHONPATH (subprocesses too).
    dist = target.dest / "usr" / "lib" / "python3" / "dist-packages"
    dist.mkdir(parents=True, exist_ok=True)
    pth = dist / "debian_sysroot.pth"
    pth_text = "".join(f"{p}\n" for p in [target.site, *packages])
    if not pth.exists() or pth.read_text() != pth_text:
        pth.write_text(pth_text)
    lines = env_lines(target, env_vars(target, packages), fast_cpu)
    (target.dest / "env.sh").write_text(
        "# generated by tools/debian_sysroot.py; source this file\n" + "\n".join(lines) + "\n")
    if target.foreign:
        target.wrapper.write_text(
            "#!/bin/sh\n# runs the sysroot interpreter through qemu without binfmt_misc;\n"
            "# subprocesses started with sys.executable need binfmt_misc\n"
            f"export QEMU_LD_PREFIX={shlex.quote(str(target.dest))}\n"
            + (f'export QEMU_CPU="${{QEMU_CPU:-{FAST_QEMU_CPU}}}"\n' if fast_cpu else "")
            + f"exec {shlex.quote(target.qemu_bin)} {shlex.quote(str(target.python))} \"$@\"\n")
        target.wrapper.chmod(0o755)
    return lines


# ---------------------------------------------------------------------------
# main flow


def read_stamp(dest: Path) -> dict | None:
    try:
        return json.loads((dest / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None


def build_sysroot(args, dest: Path, cache: Path, target: Target, host: HostApt,
                  hostarch: str) -> dict:
    t0 = time.monotonic()
    src = PackageSource(args.arch, args.suite, cache, host, hostarch)
    src.prepare(refresh=args.rebuild)
    package = f"python{args.python}"
    pkgs = src.resolve(package)
    log(f"{package} ({args.suite}, {args.arch}): {len(pkgs)} packages in the closure")
    if VERBOSE:
        log("  " + " ".join(f"{n}={v}" for n, v, _ in pkgs))
    debdir = cache / "_debs" / f"{args.arch}-{args.suite}"
    try:
        debs = src.download(pkgs, debdir)
    except DownloadError:
        if src.updated:
            raise
        log("download failed; refreshing the package lists and retrying")
        src.update()
        pkgs = src.resolve(package)
        debs = src.download(pkgs, debdir)
    t1 = time.monotonic()

    staging = dest.with_name(dest.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    (staging / STAMP_NAME).write_text(json.dumps({"complete": False}))
    unpack(debs, staging)
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    if not target.python.exists():
        raise ToolError(f"{package} unpacked, but {target.python} is missing")
    loader = patch_interpreter(dest, target.python, ARCHES[args.arch]["triplet"])
    t2 = time.monotonic()
    log(f"unpacked {len(debs)} packages and patched the interpreter "
        f"({t1 - t0:.1f}s apt, {t2 - t1:.1f}s unpack)")

    write_runtime_files(target, [], False)
    target.probe_fast_cpu()
    wheels = install_wheels(target, cache, host)
    log("wheels: " + " ".join(wheels))
    counts = compile_bytecode(target).split()
    log(f"compiled {counts[0]} modules to bytecode"
        + (f" ({counts[1]} failed)" if len(counts) > 1 and counts[1] != "0" else ""))
    write_runtime_files(target, args.package, bool(target.qemu_cpu))
    result = smoke_test(target)
    t3 = time.monotonic()
    log(f"smoke test: {result} ({t3 - t2:.1f}s wheels+compile+test)")
    stamp = {
        "complete": True,
        "tool_version": TOOL_VERSION,
        "arch": args.arch,
        "suite": args.suite,
        "python": args.python,
        "dest": str(dest),
        "loader": loader,
        "packages": [f"{n}={v}" for n, v, _ in pkgs],
        "wheels": wheels,
        "fast_qemu_cpu": bool(target.qemu_cpu),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (dest / STAMP_NAME).write_text(json.dumps(stamp, indent=1) + "\n")
    return stamp


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="debian_sysroot.py",
        description="Prepare a CPython sysroot from Debian packages (no chroot).")
    p.add_argument("--arch", required=True, choices=sorted(ARCHES))
    p.add_argument("--suite", required=True, choices=["system", "unstable"])
    p.add_argument("--python", required=True, metavar="3.X", help="e.g. 3.11, 3.14")
    p.add_argument("--dest", type=Path,
                   help="sysroot folder (default: .cache/sysroots/<arch>-<suite>-<python>)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help="cache folder for apt state, .debs and wheels (default: %(default)s)")
    p.add_argument("--package", type=Path, action="append", default=[], metavar="DIR",
                   help="put DIR on the interpreter's path (repeatable)")
    p.add_argument("--no-binfmt", action="store_true",
                   help="do not register qemu with binfmt_misc; without an existing "
                        "entry, a qemu wrapper script is printed instead")
    p.add_argument("--rebuild", action="store_true",
                   help="refresh the package lists and rebuild the sysroot")
    p.add_argument("--print-python", action="store_true",
                   help="print only the interpreter path on stdout")
    p.add_argument("-v", "--verbose", action="store_true", help="show the commands run")
    args = p.parse_args(argv)
    if not re.fullmatch(r"3\.\d{1,2}", args.python):
        p.error(f"--python must look like 3.X, not {args.python!r}")
    args.package = [Path(d).resolve() for d in args.package]
    for d in args.package:
        if not d.is_dir():
            p.error(f"--package {d}: not a directory")
    return args


def main(argv=None) -> int:
    global VERBOSE
    args = parse_args(argv)
    VERBOSE = args.verbose
    t0 = time.monotonic()
    try:
        for tool in ("apt-get", "dpkg", "dpkg-deb"):
            if not shutil.which(tool):
                raise ToolError(f"{tool} not found: this tool needs a Debian host")
        cache = args.cache.resolve()
        dest = (args.dest or cache / f"{args.arch}-{args.suite}-{args.python}").resolve()
        host = HostApt()
        hostarch = host_arch()
        foreign = args.arch != hostarch
        qarch = ARCHES[args.arch]["qemu"]
        qemu_bin = f"/usr/bin/qemu-{qarch}-static"
        needed = ["patchelf"]
        if foreign:
            needed += ["qemu-user-static", ARCHES[args.arch]["binutils"]]
        host.ensure_installed(needed)

        binfmt = True
        if foreign:
            binfmt, msg = ensure_binfmt(qarch, qemu_bin, may_register=not args.no_binfmt)
            if binfmt or args.no_binfmt:
                log(msg)
            if not binfmt and not args.no_binfmt:
                raise ToolError(
                    f"cannot run {args.arch} binaries through binfmt_misc: {msg}.\n"
                    f"  Run as root, or pass --no-binfmt to use the qemu wrapper script "
                    f"(then subprocesses started with sys.executable do not work).")
            if not binfmt:
                log(f"WARNING: no binfmt_misc entry for {qarch}: the printed interpreter "
                    f"is a qemu wrapper; sys.executable subprocesses will fail")

        target = Target(dest, args.python, args.arch, foreign, binfmt, qemu_bin)
        stamp = read_stamp(dest)
        if stamp is None and dest.exists() and any(dest.iterdir()):
            raise ToolError(f"{dest} exists, is not empty and was not made by this tool; "
                            f"refusing to overwrite it")
        complete = bool(
            stamp and stamp.get("complete") and stamp.get("tool_version") == TOOL_VERSION
            and stamp.get("arch") == args.arch and stamp.get("suite") == args.suite
            and stamp.get("python") == args.python and stamp.get("dest") == str(dest)
            and target.python.exists())
        if complete and not args.rebuild:
            log(f"sysroot up to date: {dest}")
        else:
            stamp = build_sysroot(args, dest, cache, target, host, hostarch)
        lines = write_runtime_files(target, args.package, bool(stamp.get("fast_qemu_cpu")))
    except ToolError as e:
        print(f"debian_sysroot: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"debian_sysroot: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("debian_sysroot: interrupted", file=sys.stderr)
        return 130
    log(f"done in {time.monotonic() - t0:.1f}s; environment in {dest / 'env.sh'}")
    if not args.print_python:
        for line in lines:
            print(line)
    print(target.runnable)
    return 0


if __name__ == "__main__":
    sys.exit(main())
