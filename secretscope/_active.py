"""The backend chosen at import (see _backend.py), and its entry points."""
from __future__ import annotations

from typing import Any, Callable

from ._backend import select_backend

backend = select_backend()
do: Callable[..., Any] = backend.do
# One step of a decorated generator/coroutine (_suspendable.py): its result is handed on as it is.
do_step: Callable[..., Any] = getattr(backend, "do_step", backend.do)
enabled: Callable[[], bool] = backend.enabled
