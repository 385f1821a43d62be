"""Diagnostics: `python -m secretscope` (the coverage report and live self-test, the benchmarks)
and the residue probes the test suite and benchmarks/ use.

Nothing a user's `import secretscope`, `@secret`, `do()` or `protection()` loads imports this
package (tests/test_diagnostics.py checks it in a fresh interpreter): the runtime carries no
diagnostic code, and a diagnostic module may import any runtime module.

- probe        the residue probe: plants a known sentinel in the stack and registers through
               libsecretscope_probe_<arch>.so (asm/<arch>/probe) and counts what is left
- memory_scan  scanning the process's own writable memory for a sentinel, without copying it
- selftest     `python -m secretscope [selftest] [--json]`: coverage report and live self-test
- bench        `python -m secretscope bench [--quick]`: the benchmarks (docs/performance.md)
"""
from __future__ import annotations

import platform
from typing import TextIO


def banner(out: TextIO) -> None:
    """The first line of the text reports: the version and the implementation actually running."""
    from .. import __version__
    print(f"secretscope {__version__}: Go's runtime/secret for "
          f"{platform.python_implementation()} {platform.python_version()}", file=out)
