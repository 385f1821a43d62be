"""Every kind of scope, each around `enabled()`: the public API only, so that a child interpreter, a
subinterpreter or a run that must load no diagnostic module can use it (test_subinterpreters.py,
test_diagnostics_apart.py).  Each attempt returns what enabled() said inside its scope."""
from __future__ import annotations

from typing import Callable, Dict, Iterator

from secretscope import do, enabled, secret


@secret
def _decorated() -> bool:
    return enabled()


@secret
def _generator() -> Iterator[bool]:
    yield enabled()


@secret
async def _coroutine() -> bool:
    return enabled()


def _run_coroutine() -> bool:
    try:
        _coroutine().send(None)
    except StopIteration as done:
        return bool(done.value)
    raise AssertionError("the coroutine did not finish at its first step")


def _block() -> bool:
    with secret():
        return enabled()


ATTEMPTS: Dict[str, Callable[[], bool]] = {
    "decorated": _decorated, "do": lambda: do(enabled), "with": _block,
    "generator": lambda: next(_generator()), "coroutine": _run_coroutine,
}
