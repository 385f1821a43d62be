"""Reading secretscope's environment settings (SECRETSCOPE_*): one parser, failing closed.

A boolean setting accepts 1/true/yes/on and 0/false/no/off (any case, blanks around ignored);
unset or empty means its default; anything else is a ConfigurationError, never a guess.
"""
from __future__ import annotations

import os
from typing import Dict, Optional

from ._errors import ConfigurationError

_BOOLEAN: Dict[str, bool] = {"1": True, "true": True, "yes": True, "on": True,
                             "0": False, "false": False, "no": False, "off": False}


def env_flag(name: str, default: bool, environ: Optional[Dict[str, str]] = None) -> bool:
    """The boolean setting `name`; unset or empty: `default`; an unknown value raises."""
    raw = (os.environ if environ is None else environ).get(name, "")
    if not raw.strip():
        return default
    value = _BOOLEAN.get(raw.strip().lower())
    if value is None:
        raise ConfigurationError(f"secretscope: {name}={raw!r} is not understood: use 1/true/yes/on or "
                                 f"0/false/no/off (refusing to guess, so as not to run unprotected)")
    return value


def env_choice(name: str, choices: "tuple[str, ...]", default: str) -> str:
    """The setting `name`, one of `choices` (case-insensitive); unset or empty: `default`."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower() or default
    if value not in choices:
        raise ConfigurationError(f"secretscope: {name} must be {' or '.join(choices)}, not {raw!r}")
    return value


def check_settings() -> None:
    """The settings read later (inheritance when the backend is wired, SecretBuffer's on its first
    use), checked when secretscope is imported and before a backend is chosen: a misspelt value
    fails at once, before anything process-wide is set up."""
    env_flag("SECRETSCOPE_INHERIT", True)
    env_choice("SECRETSCOPE_SECRETBUFFER", ("auto", "plain"), "auto")
    env_flag("SECRETSCOPE_SECRETMEM", True)
