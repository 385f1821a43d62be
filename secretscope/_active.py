"""The backend chosen at import (see _backend.py), and its entry points."""
from __future__ import annotations

from typing import Any, Callable

from . import _inherit
from ._backend import select_backend

backend = select_backend()
do: Callable[..., Any] = backend.do
enabled: Callable[[], bool] = backend.enabled

# Work a scope starts inherits it (SECRETSCOPE_INHERIT, inherit()): the wrappers are installed
# by the first scope of the process (_inherit.py).
_inherit.configure(enabled, do, native=backend.name == "native")
if backend.name == "native":
    backend.registry.also_on_register(_inherit.first_scope)
