"""``rnnx claims``: test what tutorials say about recurrent layers, on this machine.

rnnx claims --quick                 # every claim, small experiments (minutes on 2 cores)
rnnx claims --only 1,5 --out runs/claims
rnnx claims --seeds 3               # the full experiments, three seeds where models are trained
rnnx claims --quick --threads 1     # on a CPU shared with other work
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rnnx.cli._args import positive_int


def claim_numbers(text: str) -> list[int]:
    """Parse ``1,5``: claim numbers separated by commas."""
    try:
        numbers = [int(p) for p in text.split(",")]
    except ValueError:
        numbers = []
    if not numbers or min(numbers) < 1:
        raise argparse.ArgumentTypeError(f"expected claim numbers separated by commas, e.g. 1,5; got {text!r}")
    return numbers


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    claims = commands.add_parser(
        "claims",
        help="measure the textbook claims about RNN, LSTM, GRU and Transformer layers; print verdicts",
        description="Run one experiment per claim, print a table (claim, numbers measured, verdict computed "
        "from them), write claims.json and one plot per claim.",
    )
    claims.add_argument("--quick", action="store_true", help="small experiments: all claims in minutes")
    claims.add_argument("--only", type=claim_numbers, metavar="N,M", help="only these claims, e.g. 1,5")
    claims.add_argument("--out", type=Path, default=Path("claims"), help="folder for claims.json and plots")
    claims.add_argument(
        "--seeds", type=positive_int, default=None, help="seeds where a claim trains (default 2, 1 quick)"
    )
    claims.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's)")
    claims.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnx.claims.base import Settings
    from rnnx.claims.runner import MODULES, format_table, run_claims

    numbers = args.only or sorted(MODULES)
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 2)
    settings = Settings(quick=args.quick, seeds=seeds, out_dir=args.out, threads=args.threads)
    start = time.perf_counter()
    results = run_claims(numbers, settings, echo=lambda s: print(s, file=sys.stderr))
    print(format_table(results))
    print(f"\n{len(results)} claim(s) in {time.perf_counter() - start:.0f} s; results in {args.out / 'claims.json'}")
    return 0
