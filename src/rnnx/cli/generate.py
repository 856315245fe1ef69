"""``rnnx generate``: sample text from a character-level model trained with ``rnnx train --task chars``.

rnnx generate runs/chars --prime "We hold these" --length 300 --temperature 0.8 --seed 1
"""

from __future__ import annotations

import argparse

from rnnx.cli._args import nonnegative_float, nonnegative_int


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "generate",
        help="sample text from a character-level model trained by rnnx train --task chars",
        description="Sample characters one at a time from softmax(logits / temperature); temperature 0 "
        "takes the most likely character.",
    )
    parser.add_argument("run_dir", metavar="DIR", help="a run directory written by rnnx train")
    parser.add_argument("--prime", help="text to start from (default: the first character of the text)")
    parser.add_argument("--length", type=nonnegative_int, default=200, help="characters to sample")
    parser.add_argument("--temperature", type=nonnegative_float, default=1.0)
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--weights", choices=("best", "latest"), default="best")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from rnnx.lab.generate import load_run, sample

    model, task, _ = load_run(args.run_dir, weights=args.weights)
    prime = args.prime
    if prime is None and task.vocab is not None:
        prime = task.vocab[int(task.train.inputs[0, 0])]
    generator = torch.Generator().manual_seed(args.seed)
    print(sample(model, task, prime or "", args.length, temperature=args.temperature, generator=generator))
    return 0
