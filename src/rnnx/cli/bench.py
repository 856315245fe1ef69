"""``rnnx bench``: time rnnx against torch.nn, ratios to a baseline measured in the same run.

rnnx bench                         # the core suite: torch.nn vs rnnx auto vs reference
rnnx bench --suite variants        # LayerNorm/zoneout/recurrent-dropout LSTM, GRU, RNN
rnnx bench --suite packed          # packed batches, lengths uniform over [1, T]
rnnx bench --suite layers          # 2-layer bidirectional LSTM and LayerNorm-LSTM
rnnx bench --suite inference       # forward only, with onnxruntime's rows where it is installed
rnnx bench --shapes 50,4,8,16 --repeats 3
"""

from __future__ import annotations

import argparse
import sys

from rnnx.cli._args import positive_int, shape4


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from rnnx import benchmark

    bench = commands.add_parser(
        "bench",
        help="time rnnx against torch.nn (ratios to a baseline measured in the same run)",
        description="Time each implementation in interleaved rounds after warm-up; print the minimum per "
        "call and its ratio to the group's baseline (the first row of each group). CPU, float32.",
    )
    bench.add_argument("--suite", choices=(*benchmark.SUITES, "inference"), default="core")
    bench.add_argument("--shapes", type=shape4, action="append", metavar="T,B,I,H", help="repeatable")
    bench.add_argument("--repeats", type=positive_int, default=10, help="timed rounds per implementation")
    bench.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnx import benchmark

    print(benchmark.machine_line())
    if args.suite == "inference":
        from rnnx import benchmark_inference

        found = benchmark_inference.run(
            shapes=args.shapes or benchmark.SHAPES, repeats=args.repeats, echo=lambda s: print(s, file=sys.stderr)
        )
        print(benchmark_inference.format_table(found))
        return 0
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
