"""End to end, as Go's runtime/secret TestCore: no secret anywhere in a core dump.

A child runs scopes on 4 threads for a few seconds (heap objects, stack, registers, sleeps) with
2 threads churning allocations and a timer sending signals, drops everything, collects, and
aborts with a core dump.  The parent searches the whole core for the secret and reports every hit
with the mapping it falls in.  Zero hits are required; the same run without scopes must have
hits (the test can fail).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from secretscope.diagnostics.probe import sentinel
from tests._support.cores import dump_child, require_core_files, search

SECONDS = 3.0
TAG = 0xEE


def _run(mode: str, tmp: Path):
    tmp.mkdir()
    core = dump_child("core_child.py", [mode, str(SECONDS), str(tmp)], tmp, {})
    return search(core, sentinel(TAG), tmp / "maps.txt"), (tmp / "stats.txt").read_text(), core


def test_core_dump_holds_no_secret(native, tmp_path):
    if not native.heap.available:
        pytest.skip(f"the heap guarantee is not available here: {native.heap.reason}")
    require_core_files()

    control, control_stats, _ = _run("plain", tmp_path / "plain")
    assert control, f"negative control: the run without scopes should leave the secret in the core ({control_stats})"

    scoped, stats, core = _run("scoped", tmp_path / "scoped")
    assert "iterations=0" not in stats
    assert scoped == [], (f"{len(scoped)} copies of the secret in {core.name} ({stats.strip()}):\n  "
                          + "\n  ".join(scoped[:40]))
