"""Child: the public API under the fallback, as one JSON line (test_fallback.py with the fallback
forced, test_matrix.py on PyPy).  Run as `from tests._support.fallback_child import main; main()`
with the repository on sys.path: secretscope is imported here, after the warnings filter."""
from __future__ import annotations

import json
import sys
import warnings


def main(warnings_filter: str = "error") -> None:
    """The report; warnings_filter "error" (the default): the fallback is chosen, not reached
    through a failure; "always": a failure's warning is printed on stderr."""
    warnings.simplefilter(warnings_filter)  # type: ignore[arg-type]
    import secretscope as s
    p = s.protection()

    @s.secret
    def f(x: int) -> object:
        return x * 2, s.enabled()

    with s.secret():
        inside = s.enabled()
    print(json.dumps({"impl": sys.implementation.name, "backend": p.backend,
                      "claims": [p.registers, p.stack, p.heap, p.signal_stacks], "reason": p.reason,
                      "calls": [f(21), s.do(f, 1)], "inside": inside, "enabled": s.enabled()}))
