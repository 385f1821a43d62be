#!/usr/bin/env bash
# tools/test_arm64.sh — run the WHOLE test suite on AArch64, under qemu-user emulation.
#
#   tools/test_arm64.sh [-- PYTEST_ARGS...]
#
# The arm64 CPython is Debian's own (python3.11 from the system's apt sources, arm64
# architecture), prepared by tools/debian_sysroot.py in a sysroot folder with pytest in
# SYSROOT/site.  It runs through binfmt_misc (qemu-aarch64-static, F flag), so the tests
# that start subprocesses with sys.executable work too.
#
# Environment:
#   SECRETSCOPE_ARM64_PYTHON   the arm64 interpreter (SYSROOT/usr/bin/python3.X).  When
#                              unset, this script prepares it with
#                                python3 tools/debian_sysroot.py --arch arm64 --suite system \
#                                    --python 3.11 --print-python
#                              (root, network to the Debian mirror: the first run installs
#                              qemu-user-static and registers binfmt_misc).  .ci/run sets it
#                              after running that tool itself.
#   SECRETSCOPE_ARM64_QEMU_CPUS  the QEMU_CPU configurations, separated by spaces
#                              (default: the three below).  Each runs the suite once.
#   SECRETSCOPE_ARM64_TESTS    the test files or folders to run (default: tests, the whole
#                              suite); tools/run_matrix.py passes its register-state subset
#                              for the configurations that do not run the whole suite.
#   SECRETSCOPE_ARM64_QEMU_EXTRA  appended to every configuration (default
#                              "pauth-impdef=on": pointer authentication stays ON, so
#                              paciasp/autiasp are really checked, with qemu's cheap
#                              implementation-defined hash instead of QARMA5; "" for none)
#
# Configurations (spellings checked against qemu 7.2, Debian bookworm):
#   max,sve=off              FP/AdvSIMD only (no SVE, and then no SME either)
#   max,sve=on,sve128=on     SVE at 128 bits (+ SME: qemu's max has it with SVE)
#   max,sve=on,sve512=on     SVE at 512 bits: z registers have parts above v
#
# The suite is run from the repository root with PYTHONPATH = repository + SYSROOT/site,
# `-p no:cacheprovider`, and without tests/test_arm64_emulated.py (the x86-64 test that
# calls this script; SECRETSCOPE_ARM64_EMULATED=1 also makes it skip).
#
# Deselected under emulation (with the reason; everything else runs):
#   tests/test_threads.py::test_gdb_unwinds_through_the_trampoline — the host's gdb cannot
#     ptrace a qemu-user guest; tests/test_arm64_emulated.py checks the AArch64 CFI instead,
#     with gdb-multiarch through qemu's gdbstub.
#
# Under emulation `platform.machine()` is aarch64, so asm/build.py takes the native `as`
# and `ld` — the host's x86-64 ones.  A private folder put first on PATH maps `as` and
# `ld` to aarch64-linux-gnu-as/-ld, so test_build's byte-for-byte rebuild checks both
# architectures with the right tools (x86_64-linux-gnu-as/-ld are found by their names).
#
# Exit status: 0 when every configuration passed; 1 otherwise; 2 when the emulator or the
# interpreter is missing.  A timing line is printed per configuration.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ "${1:-}" == "--" ]]; then shift; fi
PYTEST_ARGS=("$@")

say() { printf '[test_arm64] %s\n' "$*" >&2; }

QEMU=$(command -v qemu-aarch64-static || true)
if [[ -z "$QEMU" ]]; then
    say "qemu-aarch64-static is missing (apt-get install qemu-user-static)"
    exit 2
fi

PY=${SECRETSCOPE_ARM64_PYTHON:-}
if [[ -z "$PY" ]]; then
    say "SECRETSCOPE_ARM64_PYTHON is not set: preparing the sysroot with tools/debian_sysroot.py"
    if ! PY=$(python3 tools/debian_sysroot.py --arch arm64 --suite system --python 3.11 --print-python); then
        say "tools/debian_sysroot.py failed"
        exit 2
    fi
    PY=$(printf '%s\n' "$PY" | tail -n 1)
fi
if [[ ! -x "$PY" ]]; then
    say "no arm64 interpreter at '$PY'"
    exit 2
fi

# SYSROOT/usr/bin/python3.X -> SYSROOT; its env.sh (written by the tool) names the site
# folder with pytest and the loader prefix.
SYSROOT=$(cd "$(dirname "$PY")/../.." && pwd)
SITE="$SYSROOT/site"
if [[ -f "$SYSROOT/env.sh" ]]; then
    SITE=$(. "$SYSROOT/env.sh" >/dev/null 2>&1; printf '%s' "${PYTHONPATH:-$SYSROOT/site}")
fi
export QEMU_LD_PREFIX="$SYSROOT"
export PYTHONNOUSERSITE=1
export PYTHONPATH="$ROOT${SITE:+:$SITE}"
export SECRETSCOPE_ARM64_EMULATED=1
# The test extra's real libraries (tests/test_native_heap_libraries.py) are not installed into the
# sysroot (its Debian python has no pip there): the suite skips them with this reason, also in CI.
if [[ -z "${SECRETSCOPE_MISSING_TEST_LIBS:-}" ]]; then
    why="not installed in the arm64 sysroot by tools/test_arm64.sh (Debian's python there has no pip)"
    export SECRETSCOPE_MISSING_TEST_LIBS="pynacl=$why;argon2-cffi=$why;pycryptodome=$why;bcrypt=$why;cryptography=$why"
fi
unset SECRETSCOPE_BACKEND            # the native backend must load (conftest fails otherwise)

# Subprocess tests run sys.executable directly: binfmt_misc must know arm64 ELF files.
BINFMT=/proc/sys/fs/binfmt_misc/qemu-aarch64
if [[ ! -r "$BINFMT" ]] || ! head -n 1 "$BINFMT" | grep -q enabled; then
    say "binfmt_misc has no enabled qemu-aarch64 entry; register it (as root) with"
    say "  python3 tools/debian_sysroot.py --arch arm64 --suite system --python 3.11"
    exit 2
fi

# `as`/`ld` for asm/build.py running on the emulated interpreter (see the header).
SHIM=$(mktemp -d)
trap 'rm -rf "$SHIM"' EXIT
for tool in as ld; do
    if real=$(command -v "aarch64-linux-gnu-$tool"); then
        ln -s "$real" "$SHIM/$tool"
    fi
done
export PATH="$SHIM:$PATH"

CPUS=${SECRETSCOPE_ARM64_QEMU_CPUS:-"max,sve=off max,sve=on,sve128=on max,sve=on,sve512=on"}
EXTRA=${SECRETSCOPE_ARM64_QEMU_EXTRA-pauth-impdef=on}

say "interpreter $PY ($("$QEMU" --version | head -n 1))"
failed=()
summary=()
for cpu in $CPUS; do
    export QEMU_CPU="$cpu${EXTRA:+,$EXTRA}"
    say "QEMU_CPU=$QEMU_CPU"
    start=$(date +%s%N)
    "$PY" -m pytest -q -p no:cacheprovider --ignore=tests/test_arm64_emulated.py \
        --deselect tests/test_threads.py::test_gdb_unwinds_through_the_trampoline \
        ${SECRETSCOPE_ARM64_TESTS:-tests} "${PYTEST_ARGS[@]}"
    status=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    elapsed="$((ms / 1000)).$((ms % 1000 / 100))"
    summary+=("QEMU_CPU=$QEMU_CPU: exit $status in ${elapsed}s")
    ((status == 0)) || failed+=("$QEMU_CPU")
done
for line in "${summary[@]}"; do say "$line"; done
if ((${#failed[@]})); then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all configurations passed"
