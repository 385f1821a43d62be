"""python -m secretscope [selftest|bench]: report coverage and run the live self-test."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import __version__


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m secretscope", description=__doc__)
    parser.add_argument("command", nargs="?", default="selftest", choices=["selftest", "bench"],
                        help="selftest (default): coverage report and live residue test; "
                             "bench: benchmarks")
    parser.add_argument("--quick", action="store_true", help="bench: fewer repeats")
    args = parser.parse_args(argv)
    import platform  # names the implementation actually running (CPython, PyPy, ...)
    print(f"secretscope {__version__}: Go's runtime/secret for "
          f"{platform.python_implementation()} {platform.python_version()}")
    if args.command == "bench":
        from ._bench import run as bench
        return bench(sys.stdout, quick=args.quick)
    from ._selftest import run
    return run(sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
