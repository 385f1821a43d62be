"""python -m secretscope: the coverage report and the live self-test."""
from __future__ import annotations

import dataclasses
import io
import json

import pytest

import secretscope
from tests._support.environment import run_python


def test_selftest_passes_and_reports(native):
    r = run_python("import sys; from secretscope.__main__ import main; sys.exit(main([]))")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for text in ("platform  linux-", "backend   native", "coverage  registers yes, stack yes", "inherit   yes",
                 "stack 1 KiB", "stack 1 MiB, untouched gaps", "worker thread", "registers",
                 "result: every claimed protection holds"):
        assert text in out, text
    assert "FAIL" not in out


def test_selftest_fails_when_a_claimed_protection_does_not_hold(native, monkeypatch):
    # Break the protection on purpose: the "scoped" runs call the function plainly
    # and the register check spills after a plain call.  The self-test must notice.
    from secretscope.diagnostics import selftest
    monkeypatch.setattr(selftest, "do", lambda f, *a, **k: f(*a, **k))
    out = io.StringIO()
    assert selftest.run(out) == 1
    report = out.getvalue()
    assert "FAIL" in report and "result: FAILED: stack 1 KiB" in report


def test_fallback_report_exits_zero_and_claims_nothing():
    r = run_python("import sys; from secretscope.__main__ import main; sys.exit(main([]))",
                   env={"SECRETSCOPE_BACKEND": "fallback"})
    assert r.returncode == 0
    assert "backend   fallback" in r.stdout
    assert "coverage  registers no, stack no, heap no, signal stacks no, native heap no" in r.stdout
    assert "inherit   no" in r.stdout
    assert "skipped" in r.stdout


def test_module_entry_point():
    r = run_python("import runpy, sys; sys.argv=['secretscope', '--help']; runpy.run_module('secretscope', run_name='__main__')")
    assert r.returncode == 0 and "selftest" in r.stdout


def test_version():
    r = run_python("import sys; from secretscope.__main__ import main; sys.exit(main(['--version']))")
    assert r.returncode == 0 and r.stdout == f"secretscope {secretscope.__version__}\n", r.stdout + r.stderr


@pytest.mark.parametrize("argv", [["--quick"], ["selftest", "--quick"], ["bench", "--json"], ["--bogus"],
                                  ["selftest", "extra"], ["nosuchcommand"]])
def test_unknown_or_misplaced_options_are_rejected(argv):
    r = run_python(f"import sys; from secretscope.__main__ import main; sys.exit(main({argv!r}))")
    assert r.returncode == 2 and "error:" in r.stderr, r.stdout + r.stderr


def _json_report(argv, env=None):
    r = run_python(f"import sys; from secretscope.__main__ import main; sys.exit(main({argv!r}))", env=env)
    return r.returncode, json.loads(r.stdout)  # nothing but the one object on stdout


@pytest.mark.parametrize("argv", [["--json"], ["selftest", "--json"]])
def test_json_report_holds_the_coverage_and_every_check(native, argv):
    status, report = _json_report(argv)
    assert status == 0
    assert report["secretscope"] == secretscope.__version__
    expected = {**dataclasses.asdict(secretscope.protection()), "complete": secretscope.protection().complete}
    assert report["protection"] == json.loads(json.dumps(expected))  # tuples (features, limits) as lists
    selftest = report["selftest"]
    assert selftest["ran"] and selftest["result"] == "ok" and selftest["failed"] == []
    names = [c["name"] for c in selftest["checks"]]
    assert {"stack 1 KiB", "stack 64 KiB, worker thread", "registers"} <= set(names)
    for check in selftest["checks"]:
        assert {"name", "without", "with", "verdict", "claimed", "control_found", "clean"} <= set(check)
        assert check["verdict"].startswith("ok") or check["verdict"] == "not claimed"
    # The same checks as the text report, in the same order.
    text = run_python("import sys; from secretscope.__main__ import main; sys.exit(main([]))").stdout
    assert [line.split("  without:")[0].strip() for line in text.splitlines() if "  without:" in line] == names


def test_json_report_says_when_a_claimed_protection_fails(native, monkeypatch):
    from secretscope.diagnostics import selftest
    monkeypatch.setattr(selftest, "do", lambda f, *a, **k: f(*a, **k))
    out = io.StringIO()
    assert selftest.run(out, as_json=True) == 1
    report = json.loads(out.getvalue())["selftest"]
    assert report["result"] == "FAILED" and "stack 1 KiB" in report["failed"]
    assert next(c for c in report["checks"] if c["name"] == "stack 1 KiB")["verdict"] == "FAIL"


def test_json_report_under_the_fallback():
    status, report = _json_report(["--json"], env={"SECRETSCOPE_BACKEND": "fallback"})
    assert status == 0
    assert report["protection"]["backend"] == "fallback" and report["protection"]["complete"] is False
    assert report["selftest"] == {"ran": False, "result": "skipped", "failed": [], "checks": []}


def test_bench_columns_stay_apart_and_aligned():
    from secretscope.diagnostics.bench import table
    rows = [("1 MiB", 1_777_074.0, 1_772_338.0), ("empty", 48.0, 51.5), ("only plain", 123_456_789.0, None)]
    lines = table("title", rows)
    assert lines[0] == "title"
    assert "ns1" not in "".join(lines)  # the columns once ran together: "1,777,074 ns1,772,338 ns"
    plain_end = {line.index(" ns") for line in lines[1:]}
    assert len(plain_end) == 1, lines  # every plain figure ends in the same column
    scoped = [line for line in lines[1:] if "x  (" in line]
    assert len({line.index(" ns", min(plain_end) + 3) for line in scoped}) == 1, lines
    for line in lines[1:]:
        assert "  " in line.split(" ns")[0].rstrip(), line
