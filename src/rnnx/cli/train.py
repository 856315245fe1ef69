"""``rnnx train``: train one model on one task, with checkpoints a killed run resumes from.

rnnx train --task adding --seq-len 50 --model lstm --out runs/lstm
rnnx train --task chars --path book.txt --model lstm:layer_norm --epochs 30 --out runs/chars
rnnx train --config run.toml --lr 1e-3 --out runs/a     # flags override the file
rnnx train --resume runs/lstm                           # continue a killed run exactly
torchrun --nproc_per_node 2 -m rnnx.cli train ...       # data parallel (gloo on CPU)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from rnnx.cli._args import positive_float
    from rnnx.cli.flags import add_training_flags
    from rnnx.lab.train import DEFAULT_TIMEOUT

    parser = commands.add_parser(
        "train",
        help="train one model on one task (checkpoints each epoch; --resume continues a killed run)",
        description="Train a model (rnn, lstm, gru, indrnn, variants, transformer, conv) on a lab task. "
        "Settings come from flags or --config run.toml (flags win); the resolved config, a checkpoint per "
        "epoch, the best weights and result.json go to --out.",
    )
    add_training_flags(parser, models=False)
    parser.add_argument("--out", metavar="DIR", help="run directory (required unless --resume)")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"under torchrun, stop when another process has not answered for this long (default {DEFAULT_TIMEOUT:g})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from rnnx.cli.flags import config_from_settings, settings_from_args
    from rnnx.lab.checkpoint import read_pointer
    from rnnx.lab.config import read_saved_config
    from rnnx.lab.outputs import MARKER
    from rnnx.lab.progress import Bars
    from rnnx.lab.train import train

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = settings_from_args(args)
    if args.resume:
        if args.out or settings:
            raise ValueError("--resume DIR takes its settings from DIR/config.json; drop --out and the other settings")
        saved = Path(args.resume) / "config.json"
        if not saved.is_file() and (Path(args.resume) / MARKER).is_file():
            raise FileNotFoundError(
                f"--resume: {args.resume!r} stopped before it saved its config; start it again with --out {args.resume}"
            )
        if not saved.is_file():
            raise FileNotFoundError(f"--resume: {str(saved)!r} does not exist; is {args.resume!r} a run directory?")
        config = read_saved_config(saved)
        out_dir, resume = Path(args.resume), True
        if read_pointer(out_dir) is None and int(os.environ.get("RANK", "0")) == 0:
            print(
                f"rnnx train: {args.resume} has no checkpoint yet (stopped before its first epoch ended); "
                "starting it from step 0 with its saved config",
                file=sys.stderr,
            )
    else:
        if not args.out:
            raise ValueError("--out DIR is required: the run directory for checkpoints and results")
        config = config_from_settings(settings, source=args.config or "flags")
        out_dir, resume = Path(args.out), False
    with Bars() as bars:
        result = train(
            config, out_dir=out_dir, resume=resume, progress=bars.callback(config.model), timeout=args.timeout
        )
    summary = {
        "model": result.model,
        "params": result.params,
        f"best_{result.metric}": result.best_metric,
        f"final_{result.metric}": result.final_metric,
        f"test_{result.metric}": result.test_metric,
        "baseline": result.baseline,
        "epochs": len(result.curve),
        "train_seconds": round(result.train_seconds, 2),
    }
    if int(os.environ.get("RANK", "0")) == 0:  # one summary, from the first process under torchrun
        print(json.dumps(summary), file=sys.stdout)
    return 0
