"""Benchmark the recurrent core; the same as ``rnnx bench --suite core``.

python benchmarks/core.py                      # lstm, gru, rnn on the three default shapes
python benchmarks/core.py --repeats 20
python benchmarks/core.py --shapes 50,4,8,16   # T,B,I,H; may be repeated
"""

from __future__ import annotations

import sys

from rnnx.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "--suite", "core", *sys.argv[1:]]))
