"""``rnnx translate``: decode sources with a seq2seq model trained by ``rnnx train`` (reverse,
sort, addition, dates), or saved by ``rnnx.seq2seq.save``.

rnnx translate runs/reverse abcdef hello
echo "12+34" | rnnx translate runs/addition --strategy beam --beam-size 5
rnnx translate dates-model "Mar 12, 2021"

A damaged or edited file prints one line naming it and what is wrong, and exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from rnnx.cli._args import positive_int

    parser = commands.add_parser(
        "translate",
        help="decode sources with a seq2seq model trained by rnnx train --task reverse|sort|addition|dates",
        description="Decode each source (arguments, or one per line on stdin) with greedy or beam search "
        "and print one output per line.",
    )
    parser.add_argument(
        "run_dir", metavar="DIR", help="a run directory written by rnnx train, or a folder written by rnnx.seq2seq.save"
    )
    parser.add_argument("sources", nargs="*", help="sources to decode (default: lines of stdin)")
    parser.add_argument("--strategy", choices=("greedy", "beam"), default="greedy")
    parser.add_argument("--beam-size", type=positive_int, default=5)
    parser.add_argument("--weights", choices=("best", "latest"), default="best", help="of a run directory")
    parser.set_defaults(run=run)


def _load_model(run_dir: str, weights: str) -> nn.Module:
    """The seq2seq model in ``run_dir``: a folder of ``rnnx.seq2seq.save``, or a lab run."""
    from rnnx._files import read_json
    from rnnx.lab.runs import load_run
    from rnnx.seq2seq import load
    from rnnx.seq2seq.schema import FORMAT

    config = Path(run_dir) / "config.json"
    if config.is_file() and read_json(config).get("format") == FORMAT:
        return load(run_dir)
    model, task, _ = load_run(run_dir, weights=weights)
    if task.kind != "seq2seq":
        raise ValueError(f"{run_dir!r} holds a model for task {task.name!r}, not a seq2seq task")
    return model


def run(args: argparse.Namespace) -> int:
    from rnnx.seq2seq import Seq2Seq, translate

    model = _load_model(args.run_dir, args.weights)
    if not isinstance(model, Seq2Seq):
        raise ValueError(f"{args.run_dir!r} does not hold a seq2seq model")
    sources = args.sources or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not sources:
        raise ValueError("no sources: give them as arguments or one per line on stdin")
    outputs = translate(model, sources, strategy=args.strategy, beam_size=args.beam_size)
    for tokens in outputs:
        print("".join(tokens))
    return 0
