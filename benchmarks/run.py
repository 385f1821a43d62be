#!/usr/bin/env python3
"""Run the benchmarks: the same as `python -m secretscope bench` (add --quick for fewer repeats)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from secretscope.__main__ import main  # noqa: E402

sys.exit(main(["bench", *sys.argv[1:]]))
