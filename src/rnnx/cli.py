"""The ``rnnx`` command line.

    rnnx bench                         # the core suite: torch.nn vs rnnx auto vs reference
    rnnx bench --suite variants        # LayerNorm/zoneout/recurrent-dropout LSTM, GRU, RNN
    rnnx bench --shapes 50,4,8,16 --repeats 3

Bad arguments print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import platform
import sys

import torch


def _shape(text: str) -> tuple[int, int, int, int]:
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected four positive integers T,B,I,H; got {text!r}")
    return parts[0], parts[1], parts[2], parts[3]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def _bench(args: argparse.Namespace) -> int:
    from rnnx import benchmark

    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu}", file=sys.stderr)
    groups = benchmark.SUITES[args.suite]
    timings = benchmark.run(
        groups, args.shapes or benchmark.SHAPES, repeats=args.repeats, echo=lambda s: print(s, file=sys.stderr)
    )
    print(benchmark.format_table(timings))
    if args.suite == "core":
        print("\nPer-call dispatch on a tiny layer (T=2, B=1, I=4, H=8), forward, microseconds:\n")
        print("| mode | torch.nn | rnnx auto | difference |\n|---|---:|---:|---:|")
        for mode in groups:
            theirs, ours = benchmark.dispatch_overhead(mode)
            print(f"| {mode} | {theirs * 1e6:.1f} | {ours * 1e6:.1f} | {(ours - theirs) * 1e6:+.1f} |")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from rnnx import benchmark

    parser = argparse.ArgumentParser(prog="rnnx", description="rnnx: recurrent networks, first-class in PyTorch.")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser(
        "bench",
        help="time rnnx against torch.nn (ratios to a baseline measured in the same run)",
        description="Time each implementation in interleaved rounds after warm-up; print the minimum per "
        "call and its ratio to the group's baseline (the first row of each group). CPU, float32.",
    )
    bench.add_argument("--suite", choices=tuple(benchmark.SUITES), default="core")
    bench.add_argument("--shapes", type=_shape, action="append", metavar="T,B,I,H", help="repeatable")
    bench.add_argument("--repeats", type=_positive, default=10, help="timed rounds per implementation")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
