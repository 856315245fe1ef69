"""``rnnx translate``: decode sources with a seq2seq model trained by ``rnnx train`` (reverse,
sort, addition, dates).

rnnx translate runs/reverse abcdef hello
echo "12+34" | rnnx translate runs/addition --strategy beam --beam-size 5
"""

from __future__ import annotations

import argparse
import sys


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from rnnx.cli._args import positive_int

    parser = commands.add_parser(
        "translate",
        help="decode sources with a seq2seq model trained by rnnx train --task reverse|sort|addition|dates",
        description="Decode each source (arguments, or one per line on stdin) with greedy or beam search "
        "and print one output per line.",
    )
    parser.add_argument("run_dir", metavar="DIR", help="a run directory written by rnnx train")
    parser.add_argument("sources", nargs="*", help="sources to decode (default: lines of stdin)")
    parser.add_argument("--strategy", choices=("greedy", "beam"), default="greedy")
    parser.add_argument("--beam-size", type=positive_int, default=5)
    parser.add_argument("--weights", choices=("best", "latest"), default="best")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnx.lab.runs import load_run
    from rnnx.seq2seq import translate

    model, task, _ = load_run(args.run_dir, weights=args.weights)
    if task.kind != "seq2seq":
        raise ValueError(f"{args.run_dir!r} holds a model for task {task.name!r}, not a seq2seq task")
    sources = args.sources or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not sources:
        raise ValueError("no sources: give them as arguments or one per line on stdin")
    outputs = translate(model, sources, strategy=args.strategy, beam_size=args.beam_size)  # type: ignore[arg-type]
    for tokens in outputs:
        print("".join(tokens))
    return 0
