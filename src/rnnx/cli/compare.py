"""``rnnx compare``: train several models (and seeds) on one task; print a table, write
``results.json`` and plots.

rnnx compare --task adding --seq-len 50 --models rnn,lstm,gru,transformer --quick --out cmp
rnnx compare --task copy --models lstm,gru --seeds 3 --match-params 20000 --out cmp
rnnx compare --task adding --models lstm,gru --sweep seq_len=10,50,100,200 --out sweep
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rnnx.cli._args import positive_int


def _sweep(text: str) -> tuple[str, list[Any]]:
    from rnnx.cli.flags import parse_value

    name, eq, values = text.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not eq or not name.strip() or not items:
        raise argparse.ArgumentTypeError(f"expected OPTION=V1,V2,... (e.g. seq_len=10,50,100); got {text!r}")
    return name.strip(), [parse_value(v) for v in items]


def _is_seed(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from rnnx.cli.flags import add_training_flags

    parser = commands.add_parser(
        "compare",
        help="train several models on one task and report which wins (table, results.json, plots)",
        description="Train each model with each seed on one task; print a table (params, final and best "
        "validation metric as mean ± std over seeds, train time, samples/s, peak memory, steps to reach "
        "half the trivial baseline) and write results.json, table.md, curves.png and wallclock.png to --out.",
    )
    add_training_flags(parser, models=True)
    parser.add_argument("--seeds", type=positive_int, default=argparse.SUPPRESS, help="seeds per model (default 1)")
    parser.add_argument("--sweep", type=_sweep, metavar="OPTION=V1,V2,...", help="repeat for each task option value")
    parser.add_argument("--out", metavar="DIR", required=True, help="directory for runs, results and plots")
    parser.add_argument("--resume", action="store_true", help="continue the runs already in --out")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from rnnx.cli.flags import config_from_settings, settings_from_args
    from rnnx.lab.compare import compare, format_table
    from rnnx.lab.models import split_specs
    from rnnx.lab.progress import Bars

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = settings_from_args(args)
    models = settings.pop("models", "rnn,lstm,gru,transformer")  # a list in TOML, a string from the flag
    seeds = getattr(args, "seeds", settings.pop("seeds", 1))  # the flag wins over the file
    settings.pop("seeds", None)
    source = args.config or "flags"
    if isinstance(models, str):
        models = split_specs(models)  # "lstm:layer_norm,zoneout=0.1,gru": two specs
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ValueError(f"{source}: models must be a string like 'lstm,gru' or a list of strings; got {models!r}")
    if not (_is_seed(seeds) and seeds >= 1) and not (isinstance(seeds, list) and seeds and all(map(_is_seed, seeds))):
        raise ValueError(f"{source}: seeds must be a count >= 1 or a list of seeds >= 0; got {seeds!r}")
    config = config_from_settings(settings, source=source)
    with Bars() as bars:
        results = compare(
            config, models, seeds=seeds, sweep=args.sweep, out_dir=args.out, resume=args.resume, progress=bars.callback
        )
    print(format_table(results))
    print(f"\nwrote {args.out}/results.json, table.md and plots", file=sys.stderr)
    return 0
