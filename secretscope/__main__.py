"""python -m secretscope [selftest [--json] | bench [--quick]]: report coverage and run the live self-test."""
# Argument parsing only: the commands are in secretscope.diagnostics (selftest, bench).
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import __version__


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m secretscope", description=__doc__)
    top.add_argument("--version", action="version", version=f"secretscope {__version__}")
    top.add_argument("--json", action="store_true",
                     help="selftest: print the coverage report and every check as one JSON object")
    commands = top.add_subparsers(dest="command", metavar="{selftest,bench}")
    selftest = commands.add_parser("selftest", help="(default) coverage report and live residue test",
                                   description="The coverage report and the live residue test; exit "
                                               "status 1 if a protection protection() claims does not hold.")
    # SUPPRESS: `--json` before or after the command, whichever was given
    selftest.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                          help="print the coverage report and every check as one JSON object")
    bench = commands.add_parser("bench", help="benchmarks (see docs/performance.md)",
                                description="Benchmarks: median per-call times, plain and inside a scope.")
    bench.add_argument("--quick", action="store_true", help="fewer repeats")
    return top


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "bench":
        if args.json:
            parser().error("--json applies to selftest, not bench")
        from .diagnostics.bench import main as bench
        return bench(sys.stdout, quick=args.quick)
    from .diagnostics.selftest import main as selftest
    return selftest(sys.stdout, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
