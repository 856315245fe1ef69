"""Benchmark the recurrent core: torch.nn vs rnnx ``auto`` vs rnnx ``reference``.

    python benchmarks/core.py                      # all modes, the three default shapes
    python benchmarks/core.py --modes lstm --repeats 20
    python benchmarks/core.py --shapes 50,4,8,16   # T,B,I,H; may be repeated

Prints the minimum time per call over interleaved repeats after warm-up, and each time's
ratio to torch.nn measured in the same run. CPU, float32, default thread count.
"""

from __future__ import annotations

import argparse
import platform
import sys

import torch

from rnnx import benchmark


def shape(text: str) -> tuple[int, int, int, int]:
    parts = [int(p) for p in text.split(",")]
    if len(parts) != 4 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected four positive integers T,B,I,H; got {text!r}")
    return parts[0], parts[1], parts[2], parts[3]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="lstm,gru,rnn", help="comma-separated: lstm, gru, rnn")
    parser.add_argument("--shapes", type=shape, action="append", help="T,B,I,H (repeatable)")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds per implementation")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in benchmark.MODES]
    if unknown or args.repeats < 1:
        parser.error(f"--modes must name {tuple(benchmark.MODES)} and --repeats be >= 1")
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu}", file=sys.stderr)
    timings = benchmark.run(
        modes, args.shapes or benchmark.SHAPES, repeats=args.repeats, echo=lambda s: print(s, file=sys.stderr)
    )
    print(benchmark.format_table(timings))
    print("\nPer-call dispatch on a tiny layer (T=2, B=1, I=4, H=8), forward, microseconds:\n")
    print("| mode | torch.nn | rnnx auto | difference |\n|---|---:|---:|---:|")
    for mode in modes:
        theirs, ours = benchmark.dispatch_overhead(mode)
        print(f"| {mode} | {theirs * 1e6:.1f} | {ours * 1e6:.1f} | {(ours - theirs) * 1e6:+.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
