"""python -m secretscope [selftest [--json] | bench [--quick]]: report coverage and run the live self-test."""
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
        _banner()
        from ._bench import run as bench
        return bench(sys.stdout, quick=args.quick)
    from ._selftest import run
    if args.json:
        return run(sys.stdout, as_json=True)
    _banner()
    return run(sys.stdout)


def _banner() -> None:
    import platform  # names the implementation actually running (CPython, PyPy, ...)
    print(f"secretscope {__version__}: Go's runtime/secret for "
          f"{platform.python_implementation()} {platform.python_version()}")


if __name__ == "__main__":
    sys.exit(main())
