"""The backend chosen at import (see _backend.py), and its entry points."""
from __future__ import annotations

from typing import Any, Callable

from ._inherit import configure as configure_inheritance
from ._inherit import first_scope
from ._backend import select_backend

backend = select_backend()
do: Callable[..., Any] = backend.do
# One step of a decorated generator/coroutine (_suspendable.py): its result is handed on as it is.
do_step: Callable[..., Any] = getattr(backend, "do_step", backend.do)
enabled: Callable[[], bool] = backend.enabled

# Work a scope starts inherits it (SECRETSCOPE_INHERIT, inherit()): the wrappers are installed
# by the first scope of the process (_inherit.py).
configure_inheritance(enabled, do, native=backend.name == "native")
registry = getattr(backend, "registry", None)  # the native backend's per-thread registration
if registry is not None:
    registry.on_registered.append(first_scope)
