"""Issue 15: work a scope starts runs in a scope — threads, thread-pool work and asyncio tasks.

For every way of starting work: `enabled()` is True inside work started inside a scope and False
in the same work started outside one; a sentinel the inherited work writes 64 KiB deep into its
stack is gone once the work returns (or, for a task, at each suspension), and is found with the
opt-out in force (the control); nesting works; the opt-out restores Go 1.26's semantics.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import textwrap
import threading
from typing import Any, Callable, Dict, List

import pytest

from secretscope import do, enabled, inherit, protection, secret
from tests._support.environment import run_python
from tests._support.residue import KiB

Work = Callable[[], Any]


@pytest.fixture
def inheriting(native):
    previous = inherit(True)
    yield
    inherit(previous)


@pytest.fixture
def opted_out(native):
    previous = inherit(False)
    yield
    inherit(previous)


@pytest.fixture(params=[True, False], ids=["inherited", "control"])
def inherits(request, native) -> Any:
    """Each test twice: with inheritance, and without (the control, where residue must survive)."""
    previous = inherit(request.param)
    yield request.param
    inherit(previous)


def _assert_erased(found: int, inherits: bool, left: str) -> None:
    if inherits:
        assert found == 0, left
    else:
        assert found > 0, "control: without inheritance the sentinel must survive"


# ---- ways of starting work: each runs `work` and returns its result ---------------------------

class _ThreadResult(threading.Thread):
    """A thread whose run() is `work`; `after` runs on the same thread once run() has returned
    (the stack is still the thread's, not yet given back to the C library)."""

    def __init__(self, work: Work, after: Callable[[], Any] = lambda: None) -> None:
        super().__init__()
        self.work, self.after, self.result, self.afterwards = work, after, None, None

    def run(self) -> None:
        self.result = self.work()

    def _bootstrap_inner(self) -> None:  # run() is called from here (CPython 3.10-3.15)
        super()._bootstrap_inner()
        self.afterwards = self.after()


def by_thread(work: Work) -> Any:
    t = _ThreadResult(work)
    t.start()
    t.join()
    return t.result


def by_target(work: Work) -> Any:
    box: List[Any] = []
    t = threading.Thread(target=lambda: box.append(work()))
    t.start()
    t.join()
    return box[0]


def by_submit(work: Work) -> Any:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def by_map(work: Work) -> Any:
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: work(), range(3)))
    assert len(set(map(repr, results))) == 1, results
    return results[0]


SYNC: Dict[str, Callable[[Work], Any]] = {
    "thread": by_thread, "thread-target": by_target, "submit": by_submit, "map": by_map,
}


async def by_run_in_executor(work: Work) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, work)


async def by_to_thread(work: Work) -> Any:
    return await asyncio.to_thread(work)


async def _body(work: Work) -> Any:
    await asyncio.sleep(0)  # an eager task's first step runs inside its creator: look after it
    return work()


async def by_create_task(work: Work) -> Any:
    return await asyncio.create_task(_body(work))


async def by_loop_create_task(work: Work) -> Any:
    return await asyncio.get_running_loop().create_task(_body(work))


async def by_ensure_future(work: Work) -> Any:
    return await asyncio.ensure_future(_body(work))


async def by_gather(work: Work) -> Any:
    first, second = await asyncio.gather(_body(work), _body(work))
    assert first == second
    return first


async def by_task_group(work: Work) -> Any:
    async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
        task = group.create_task(_body(work))
    return task.result()


async def by_eager_task(work: Work) -> Any:
    asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
    return await asyncio.create_task(_body(work))


async def by_task_factory(work: Work) -> Any:
    made: List[Any] = []

    def factory(loop: Any, coro: Any, **kwargs: Any) -> asyncio.Task:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    asyncio.get_running_loop().set_task_factory(factory)
    result = await asyncio.create_task(_body(work))
    assert len(made) == 1
    return result


ASYNC: Dict[str, Callable[[Work], Any]] = {
    "run_in_executor": by_run_in_executor, "to_thread": by_to_thread, "create_task": by_create_task,
    "loop.create_task": by_loop_create_task, "ensure_future": by_ensure_future, "gather": by_gather,
    "task_factory": by_task_factory,
}
if sys.version_info >= (3, 11):
    ASYNC["TaskGroup"] = by_task_group
if sys.version_info >= (3, 12):
    ASYNC["eager_task_factory"] = by_eager_task

WAYS = list(SYNC) + list(ASYNC)


def start(way: str, work: Work, scoped: bool) -> Any:
    """Start `work` the given way, from inside a scope or not, and return its result."""
    if way in SYNC:
        return do(SYNC[way], work) if scoped else SYNC[way](work)
    starter = ASYNC[way]
    return asyncio.run(secret(starter)(work) if scoped else starter(work))


# ---- enabled() --------------------------------------------------------------------------------

@pytest.mark.parametrize("way", WAYS)
def test_work_started_inside_a_scope_runs_inside_one(inheriting, way):
    assert protection().inherit is True
    assert start(way, enabled, scoped=True) is True
    assert start(way, enabled, scoped=False) is False
    assert not enabled()


@pytest.mark.parametrize("way", WAYS)
def test_opt_out_restores_go_1_26_semantics(opted_out, way):
    assert protection().inherit is False
    assert start(way, enabled, scoped=True) is False
    assert start(way, lambda: do(enabled), scoped=True) is True  # decorating is the way then


def test_a_thread_pool_started_inside_a_scope_serves_others_outside_it(inheriting):
    # the pool's worker threads are started by a submit inside the scope; they must not run
    # their whole life in it: later work submitted outside scopes runs outside
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        assert do(lambda: [pool.submit(enabled).result() for _ in range(4)]) == [True] * 4
        assert [pool.submit(enabled).result() for _ in range(4)] == [False] * 4
        assert list(pool.map(lambda _: enabled(), range(4))) == [False] * 4


def test_tasks_are_exact_per_task(inheriting):
    """An inherited task is in a scope at each of its steps; a task created outside scopes,
    running while the inherited one is suspended, is not."""
    log: List[Any] = []

    async def inherited_body(gate: asyncio.Event) -> None:
        log.append(("inherited before", enabled()))
        await gate.wait()
        log.append(("inherited after", enabled()))

    async def unrelated(gate: asyncio.Event) -> None:
        await asyncio.sleep(0)
        log.append(("unrelated", enabled()))
        gate.set()

    @secret
    async def spawn(gate: asyncio.Event) -> asyncio.Task:
        return asyncio.create_task(inherited_body(gate))

    async def main() -> None:
        gate = asyncio.Event()
        other = asyncio.create_task(unrelated(gate))  # created outside any scope
        task = await spawn(gate)
        await asyncio.gather(task, other)
        log.append(("main", enabled()))

    asyncio.run(main())
    assert log == [("inherited before", True), ("unrelated", False), ("inherited after", True), ("main", False)]


# ---- nesting ----------------------------------------------------------------------------------

def test_nesting_a_scopes_thread_starts_a_thread(inheriting):
    def grandchild() -> List[bool]:
        return [enabled(), by_thread(enabled), by_submit(enabled)]

    assert do(by_thread, grandchild) == [True, True, True]
    assert by_thread(grandchild) == [False, False, False]


def test_nesting_a_thread_runs_a_loop_whose_tasks_inherit(inheriting):
    def loop_in_thread() -> Any:
        return asyncio.run(by_create_task(enabled)), asyncio.run(by_to_thread(enabled))

    assert do(by_thread, loop_in_thread) == (True, True)
    assert by_thread(loop_in_thread) == (False, False)


def test_nesting_a_task_inside_an_inherited_task(inheriting):
    async def outer() -> Any:
        await asyncio.sleep(0)
        return enabled(), await by_create_task(enabled), await by_to_thread(enabled)

    async def main() -> Any:
        return await asyncio.create_task(outer())

    assert asyncio.run(secret(main)()) == (True, True, True)
    assert asyncio.run(main()) == (False, False, False)


def test_a_decorated_coroutine_is_not_wrapped_twice(inheriting):
    from secretscope import _inherit

    @secret
    async def decorated() -> bool:
        return enabled()

    async def main() -> Any:
        task = asyncio.create_task(decorated())
        plain = asyncio.create_task(_body(enabled))
        return type(task.get_coro()).__name__, type(plain.get_coro()).__name__, await task, await plain

    kinds = asyncio.run(secret(main)())
    assert kinds == ("coroutine", _inherit._InheritedCoroutine.__name__, True, True)


def test_inherited_task_keeps_its_coroutine_face(inheriting):
    async def named_body() -> str:
        await asyncio.sleep(0)
        return "done"

    async def main() -> Any:
        task = asyncio.create_task(named_body())
        coro = task.get_coro()
        face = (coro.__name__, coro.__qualname__, coro.cr_code is named_body.__code__,
                "named_body" in repr(task), len(task.get_stack()))
        return face, await task

    face, result = asyncio.run(secret(main)())
    assert face == ("named_body", named_body.__qualname__, True, True, 1) and result == "done"


def test_cancelled_before_its_first_step(inheriting, recwarn):
    started: List[bool] = []

    async def never() -> None:
        started.append(True)

    async def main() -> bool:
        task = asyncio.create_task(never())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return task.cancelled()

    assert asyncio.run(secret(main)()) is True
    assert started == []
    assert not [w for w in recwarn.list if "never awaited" in str(w.message)]


def test_an_exception_from_inherited_work_propagates(inheriting):
    def fails() -> None:
        raise LookupError("from inherited work")

    for way in ("submit", "to_thread", "create_task"):
        with pytest.raises(LookupError, match="from inherited work"):
            start(way, fails, scoped=True)


# ---- stack residue ----------------------------------------------------------------------------

_TAGS = iter(range(0xA0, 0xB6))  # tests/_support/residue.py: 0xa0-0xb5 are this module's


def _writer(probe) -> Any:
    tag = next(_TAGS)
    write, written = probe.stack_writer(64 * KiB, 4096, tag)
    return tag, write, written


@pytest.mark.parametrize("raises", [False, True], ids=["returns", "raises"])
def test_thread_stack_is_erased_when_run_returns(probe, inherits, raises, monkeypatch):
    tag, write, written = _writer(probe)
    reported: List[Any] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args.exc_type))

    def work() -> None:
        write()
        if raises:
            raise KeyError("from run()")

    # counted on the thread itself after run() returned: its stack is still in use there
    t = _ThreadResult(work, after=lambda: probe.count(*written(), tag))
    do(t.start)
    t.join()
    assert reported == ([KeyError] if raises else [])
    assert t.afterwards is not None
    _assert_erased(t.afterwards, inherits, "sentinel left on the thread's stack after run() returned")


@pytest.mark.parametrize("way", ["submit", "map"])
def test_executor_work_stack_is_erased(probe, inherits, way):
    tag, write, written = _writer(probe)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        def scoped() -> None:
            if way == "submit":
                pool.submit(write).result()
            else:
                list(pool.map(lambda _: write(), range(1)))
        do(scoped)
        # the worker is idle now, blocked far above the sentinel; read its stack from here
        found = probe.count(*written(), tag)
    _assert_erased(found, inherits, "sentinel left on the worker's stack")


@pytest.mark.parametrize("way", ["run_in_executor", "to_thread"])
def test_default_executor_work_stack_is_erased(probe, inherits, way):
    tag, write, written = _writer(probe)

    @secret
    async def submit() -> None:
        await ASYNC[way](write)

    async def main() -> int:
        await submit()
        return probe.count(*written(), tag)  # before asyncio.run ends the worker threads

    found = asyncio.run(main())
    _assert_erased(found, inherits, "sentinel left on the default executor's worker stack")


TASK_WAYS = ["create_task", "ensure_future", "gather"] + (["TaskGroup"] if sys.version_info >= (3, 11) else []) \
    + (["eager_task_factory"] if sys.version_info >= (3, 12) else [])


@pytest.mark.parametrize("way", TASK_WAYS)
def test_task_stack_is_erased_at_each_suspension(probe, inherits, way):
    tag, write, written = _writer(probe)
    counts: List[int] = []

    async def body(wrote: asyncio.Event, gate: asyncio.Event) -> None:
        await asyncio.sleep(0)  # an eager task's first step runs inside its creator's scope
        write()
        wrote.set()
        await gate.wait()       # suspended: the sentinel must be gone now

    async def watcher(wrote: asyncio.Event, gate: asyncio.Event) -> None:
        await wrote.wait()
        counts.append(probe.count(*written(), tag))
        gate.set()

    @secret
    async def spawn() -> None:
        wrote, gate = asyncio.Event(), asyncio.Event()
        if way == "eager_task_factory":
            asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        if way == "gather":
            await asyncio.gather(body(wrote, gate), watcher(wrote, gate))
        elif way == "TaskGroup":
            async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
                group.create_task(body(wrote, gate))
                group.create_task(watcher(wrote, gate))
        else:
            make = asyncio.ensure_future if way == "ensure_future" else asyncio.create_task
            await asyncio.gather(make(body(wrote, gate)), make(watcher(wrote, gate)))

    asyncio.run(spawn())
    assert len(counts) == 1
    _assert_erased(counts[0], inherits, "sentinel left on the stack while the inherited task was suspended")


# ---- the switch -------------------------------------------------------------------------------

def test_inherit_takes_a_bool_and_returns_the_previous_setting(inheriting):
    assert inherit(False) is True and protection().inherit is False
    assert inherit(False) is False
    assert inherit(True) is False and protection().inherit is True
    with pytest.raises(TypeError, match="True or False"):
        inherit(1)  # type: ignore[arg-type]


def test_opt_out_puts_the_standard_library_back(inheriting):
    from concurrent.futures.thread import ThreadPoolExecutor

    from secretscope import _inherit
    wrapped = (threading.Thread.start, ThreadPoolExecutor.submit, asyncio.BaseEventLoop.create_task)
    assert [f.__module__ for f in wrapped] == ["secretscope._inherit"] * 3
    inherit(False)
    bare = (threading.Thread.start, ThreadPoolExecutor.submit, asyncio.BaseEventLoop.create_task)
    assert [f.__module__ for f in bare] == ["threading", "concurrent.futures.thread", "asyncio.base_events"]
    assert _inherit.installed() == []


HOOKS = textwrap.dedent("""
    import sys, threading
    import secretscope
    from secretscope import _inherit
    bare = threading.Thread.start
    print("before", threading.Thread.start is bare, _inherit.installed())
    secretscope.do(lambda: None)          # the first scope installs the wrappers
    print("after", threading.Thread.start is bare, _inherit.installed())
    import asyncio, concurrent.futures.thread as cft  # imported after: patched at their import
    print("imported", _inherit.installed(), _inherit._FINDER in sys.meta_path,
          type(asyncio.base_events.__loader__).__name__, type(cft.__spec__.loader).__name__)
    async def main():
        return await asyncio.to_thread(secretscope.enabled), await asyncio.create_task(asyncio.sleep(0, secretscope.enabled()))
    print("inherits", asyncio.run(secretscope.secret(main)()))
""")


def test_wrappers_are_installed_by_the_first_scope_and_at_later_imports(native):
    r = run_python(HOOKS)
    assert r.returncode == 0, r.stderr
    before, after, imported, inherits = r.stdout.splitlines()
    assert before == "before True []"
    assert after == "after False ['threading']"
    assert imported == ("imported ['threading', 'concurrent.futures.thread', 'asyncio.base_events'] False "
                        "SourceFileLoader SourceFileLoader")
    assert inherits == "inherits (True, True)"


ENV_REPORT = textwrap.dedent("""
    import threading
    import secretscope as s
    seen = []
    s.do(lambda: (t := threading.Thread(target=lambda: seen.append(s.enabled())), t.start(), t.join()))
    print(s.protection().inherit, seen)
""")


@pytest.mark.parametrize("value, expected", [("0", "False [False]"), ("1", "True [True]"), ("", "True [True]"),
                                             (" Off ", "False [False]"), ("yes", "True [True]")])
def test_environment_variable(native, value, expected):
    r = run_python(ENV_REPORT, env={"SECRETSCOPE_INHERIT": value})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected


# the unknown-value and fallback checks are in tests/test_fallback.py (they run on PyPy too)


@pytest.mark.skipif(sys.version_info < (3, 14), reason="InterpreterPoolExecutor is new in 3.14")
def test_interpreter_pool_work_is_left_alone(inheriting):
    # its work is pickled into another interpreter: a do() wrapper could not go there
    from concurrent.futures import InterpreterPoolExecutor  # type: ignore[attr-defined]
    with InterpreterPoolExecutor(max_workers=1) as pool:
        assert do(lambda: pool.submit(pow, 2, 5).result()) == 32
