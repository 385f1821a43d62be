"""python -m secretscope: the coverage report and the live self-test."""
from __future__ import annotations

import io

from conftest import run_python


def test_selftest_passes_and_reports(native):
    r = run_python("import sys; from secretscope.__main__ import main; sys.exit(main([]))")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for text in ("platform  linux-", "backend   native", "coverage  registers yes, stack yes",
                 "stack 1 KiB", "stack 1 MiB, untouched gaps", "worker thread", "registers",
                 "result: every claimed protection holds"):
        assert text in out, text
    assert "FAIL" not in out


def test_selftest_fails_when_a_claimed_protection_does_not_hold(native, monkeypatch):
    # Break the protection on purpose: the "scoped" runs call the function plainly
    # and the register check spills after a plain call.  The self-test must notice.
    from secretscope import _selftest
    monkeypatch.setattr(_selftest, "do", lambda f, *a, **k: f(*a, **k))
    out = io.StringIO()
    assert _selftest.run(out) == 1
    report = out.getvalue()
    assert "FAIL" in report and "result: FAILED: stack 1 KiB" in report


def test_fallback_report_exits_zero_and_claims_nothing():
    r = run_python("import sys; from secretscope.__main__ import main; sys.exit(main([]))",
                   env={"SECRETSCOPE_BACKEND": "fallback"})
    assert r.returncode == 0
    assert "backend   fallback" in r.stdout
    assert "coverage  registers no, stack no, heap no, signal stacks no, native heap no" in r.stdout
    assert "skipped" in r.stdout


def test_module_entry_point():
    r = run_python("import runpy, sys; sys.argv=['secretscope', '--help']; runpy.run_module('secretscope', run_name='__main__')")
    assert r.returncode == 0 and "selftest" in r.stdout
