#!/usr/bin/env python3
"""Go 1.26's runtime/secret and secretscope, measured side by side on this machine.

    python3 benchmarks/go_compare.py [--quick]

Downloads Debian unstable's golang-1.26-go (with its -src package) through the private apt
configuration of tools/debian_sysroot.py -- the mirror is derived from the system's own apt
sources at run time; no address is written here -- unpacks it under .cache/go, runs the seed
article's benchmark with GOEXPERIMENT=runtimesecret, then runs the same shape with secretscope
(a native helper using 1 KiB / 64 KiB of stack, plain and inside a scope) and prints one table.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT))

import debian_sysroot as deb  # noqa: E402

GO_PACKAGE = "golang-1.26-go"
SEED = '''package seed

import (
	"runtime/secret"
	"testing"
)

var globalSink byte

//go:noinline
func consume(b []byte) {
	globalSink = b[0]
}

//go:noinline
func useStack1KB() { var d [1024]byte; consume(d[:]) }

//go:noinline
func useStack64KB() { var d [64 * 1024]byte; consume(d[:]) }

func BenchmarkSecret(b *testing.B) {
	tests := []struct {
		name string
		fn   func()
	}{
		{"1KB", useStack1KB},
		{"64KB", useStack64KB},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			b.Run("Normal", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					tc.fn()
				}
			})
			b.Run("Secret", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					secret.Do(tc.fn)
				}
			})
		})
	}
}
'''


def go_toolchain(cache: Path) -> Path:
    """GOROOT of Debian unstable's Go 1.26, unpacked under cache (reused when present)."""
    goroot = cache / "go" / "root" / "usr" / "lib" / "go-1.26"
    if (goroot / "bin" / "go").exists():
        return goroot
    host = deb.HostApt()
    source = deb.PackageSource("amd64", "unstable", cache / "sysroots", host, deb.host_arch())
    source.prepare(refresh=False)
    wanted = [p for p in source.resolve(GO_PACKAGE) if p[0].startswith("golang-1.26")]
    debs = source.download(wanted, cache / "go" / "debs")
    deb.unpack(debs, cache / "go" / "root")
    if not (goroot / "bin" / "go").exists():
        raise SystemExit(f"{GO_PACKAGE} unpacked, but {goroot}/bin/go is missing")
    return goroot


def run_go(goroot: Path, cache: Path, benchtime: str, count: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        mod = Path(tmp)
        (mod / "go.mod").write_text("module seed\n\ngo 1.26\n")
        (mod / "seed_test.go").write_text(SEED)
        env = {**os.environ, "GOROOT": str(goroot), "GOEXPERIMENT": "runtimesecret", "GOTOOLCHAIN": "local",
               "GOPROXY": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0",
               "GOCACHE": str(cache / "go" / "build-cache"), "GOPATH": str(cache / "go" / "gopath"),
               "PATH": f"{goroot / 'bin'}:{os.environ.get('PATH', '')}"}
        proc = subprocess.run([str(goroot / "bin" / "go"), "test", "-run", "^$", "-bench", ".",
                               f"-benchtime={benchtime}", f"-count={count}"],
                              cwd=mod, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"go test failed:\n{proc.stdout}\n{proc.stderr}")
    out: dict[str, list[float]] = {}
    for m in re.finditer(r"^BenchmarkSecret/(\w+)/(\w+)-\d+\s+\d+\s+([\d.]+) ns/op", proc.stdout, re.M):
        out.setdefault(f"{m.group(1)}/{m.group(2)}", []).append(float(m.group(3)))
    return out


def run_python(quick: bool) -> dict[str, float]:
    from secretscope._active import backend, do
    from secretscope.diagnostics.bench import per_call_ns
    from secretscope.diagnostics.probe import Probe
    probe = Probe(backend)  # type: ignore[arg-type]
    repeat = 5 if quick else 15
    out = {}
    for label, size in (("1KB", 1024), ("64KB", 65536)):
        env = {"f": probe.use_stack[size], "do": do}
        out[f"{label}/Normal"] = per_call_ns("f()", env, repeat)
        out[f"{label}/Secret"] = per_call_ns("do(f)", env, repeat)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    args = ap.parse_args()
    cache = ROOT / ".cache"
    goroot = go_toolchain(cache)
    version = subprocess.run([str(goroot / "bin" / "go"), "version"], capture_output=True, text=True,
                             env={**os.environ, "GOROOT": str(goroot), "GOTOOLCHAIN": "local"}).stdout.strip()
    go = run_go(goroot, cache, "200ms" if args.quick else "1s", 3 if args.quick else 5)
    py = run_python(args.quick)
    import platform
    print(f"machine: {platform.machine()} {platform.platform()}; {version}; CPython {sys.version.split()[0]}")
    print("median ns per call (Go: median of -count runs; Python: median of timeit repeats)\n")
    print(f"{'shape':<8} {'Go normal':>10} {'Go secret':>10} {'ratio':>6}   "
          f"{'Py normal':>10} {'Py secret':>10} {'ratio':>6}")
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    for shape in ("1KB", "64KB"):
        gn, gs = med(go[f"{shape}/Normal"]), med(go[f"{shape}/Secret"])
        pn, ps = py[f"{shape}/Normal"], py[f"{shape}/Secret"]
        print(f"{shape:<8} {gn:>10.1f} {gs:>10.1f} {gs / gn:>5.1f}x   {pn:>10.1f} {ps:>10.1f} {ps / pn:>5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
