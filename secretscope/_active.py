"""The backend chosen at import (see _backend.py), and its entry points."""
from __future__ import annotations

from typing import Any, Callable

from ._backend import select_backend

backend = select_backend()
do: Callable[..., Any] = backend.do
enabled: Callable[[], bool] = backend.enabled
