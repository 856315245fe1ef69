"""``rnnx inspect``: gate heatmaps and gradient flow of a trained lab run.

rnnx inspect --checkpoint runs/lstm --input valid:0 --out runs/lstm/inspect
rnnx inspect --checkpoint runs/lstm --input test:0-15 --weights latest
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "inspect",
        help="plot the gates over time and the gradient flow of a model trained by rnnx train",
        description="Rebuild the run's model, feed it sequences of its own task, and write one gate heatmap per "
        "recurrent layer and direction (trace_*.png) and the norm of dLoss/dh_t per step (gradient_flow.png).",
    )
    parser.add_argument("--checkpoint", required=True, metavar="DIR", help="a run directory written by rnnx train")
    parser.add_argument(
        "--input", default="valid:0", metavar="SPLIT:I[-J]", help="sequences of the run's task (default valid:0)"
    )
    parser.add_argument("--weights", choices=("best", "latest"), default="best")
    parser.add_argument("--out", type=Path, default=None, help="folder for the PNGs (default DIR/inspect)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnx.lab.inspect import inspect_run
    from rnnx.lab.outputs import MARKER, Output

    saved = Path(args.checkpoint) / "config.json"
    if not saved.is_file():
        raise FileNotFoundError(f"{args.checkpoint!r} is not a run directory: {str(saved)!r} does not exist")
    Output.existing(args.checkpoint, "run")
    out = args.out if args.out is not None else Path(args.checkpoint) / "inspect"
    created = not out.exists()
    Output.claim(out, "inspect", flag="--out")  # a new or empty folder, or one rnnx inspect wrote
    try:
        paths = inspect_run(args.checkpoint, out, selection=args.input, weights=args.weights)
    except BaseException:
        if created:  # leave nothing behind for a run that wrote no plot
            (out / MARKER).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    for path in paths:
        print(path)
    return 0
