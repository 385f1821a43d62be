"""greenlet and gevent (issue 13, case 7): `enabled()` exact per greenlet.

A scope stays open in a greenlet that switches out (it ends when that greenlet resumes and
leaves it); every other greenlet of the thread must see `enabled()` False meanwhile, and a
greenlet that never entered a scope always does.  greenlet and gevent are test extras
(pyproject.toml); tools/run_matrix.py installs them where wheels exist and then sets
SECRETSCOPE_TEST_GREENLET=1, which turns a missing module into a failure instead of a skip.
"""
from __future__ import annotations

import os
import threading

import pytest

from secretscope import enabled, secret
from tests._support.environment import run_python

REQUIRED = os.environ.get("SECRETSCOPE_TEST_GREENLET") == "1"


def need(module: str):
    try:
        return __import__(module)
    except ImportError as exc:
        if REQUIRED:
            pytest.fail(f"{module} is required here (SECRETSCOPE_TEST_GREENLET=1) but: {exc}")
        pytest.skip(f"{module} is not installed (a test extra: pip install .[test])")


def switch_story(greenlet) -> list:
    """What each greenlet sees as scopes open and close across switches."""
    seen = []
    main = greenlet.getcurrent()

    def bystander():
        seen.append(("bystander", enabled()))
        main.switch()
        seen.append(("bystander resumed", enabled()))

    @secret
    def decorated():
        seen.append(("decorated", enabled()))
        main.switch()
        seen.append(("decorated resumed", enabled()))

    by = greenlet.greenlet(bystander)
    with secret():
        seen.append(("block", enabled()))
        by.switch()  # out of the block's scope, and back
        seen.append(("block after switch", enabled()))
    seen.append(("after block", enabled()))
    dec = greenlet.greenlet(decorated)
    dec.switch()  # switches back while inside its scope
    seen.append(("main while decorated is suspended", enabled()))
    by.switch()
    dec.switch()
    seen.append(("main at end", enabled()))
    return seen


EXPECTED = [
    ("block", True), ("bystander", False), ("block after switch", True), ("after block", False),
    ("decorated", True), ("main while decorated is suspended", False), ("bystander resumed", False),
    ("decorated resumed", True), ("main at end", False),
]


def test_enabled_is_per_greenlet(native):
    assert switch_story(need("greenlet")) == EXPECTED


def test_enabled_is_per_greenlet_on_another_thread(native):
    greenlet = need("greenlet")
    box = []
    t = threading.Thread(target=lambda: box.append(switch_story(greenlet)))
    t.start()
    t.join()
    assert box == [EXPECTED]


def test_greenlet_imported_after_the_thread_registered(native):
    need("greenlet")
    # a fresh process: secretscope first, a scope (the main thread registers), only then greenlet
    code = (
        "import sys\n"
        "from secretscope import secret, enabled\n"
        "assert secret(enabled)() and 'greenlet' not in sys.modules\n"
        "import greenlet\n"
        "from tests.test_greenlets import switch_story, EXPECTED\n"
        "seen = switch_story(greenlet)\n"
        "assert seen == EXPECTED, seen\n"
        "print('ok')\n")
    r = run_python(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_a_tracer_set_before_is_still_called(native):
    greenlet = need("greenlet")
    events = []
    code_tracer_state = {}

    def tracer(event, args):
        events.append(event)

    def run() -> None:
        greenlet.settrace(tracer)  # set before this thread's first scope
        code_tracer_state["after"] = switch_story(greenlet)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert code_tracer_state["after"] == EXPECTED
    assert events.count("switch") >= 6


def test_gevent_greenlets_that_never_entered_a_scope_see_false(native):
    gevent = need("gevent")
    bystanders: list = []
    scoped: list = []

    @secret
    def worker():
        for _ in range(5):
            scoped.append(enabled())
            gevent.sleep(0)  # switches to the hub inside the scope
        scoped.append(enabled())

    def bystander():
        for _ in range(5):
            bystanders.append(enabled())
            gevent.sleep(0)

    jobs = []
    for i in range(200):
        jobs.append(gevent.spawn(worker if i % 2 else bystander))
    gevent.joinall(jobs, raise_error=True)
    assert len(bystanders) == 500 and not any(bystanders)
    assert len(scoped) == 600 and all(scoped)
    assert not enabled()
