"""The ``rnnx`` command line: one module per subcommand, each with ``add_parser`` and ``run``.

    rnnx bench     time rnnx against torch.nn (ratios measured in the same run)
    rnnx build     compile the fused CPU kernels ahead of time
    rnnx train     train one model on one task, with checkpoints and exact resume
    rnnx compare   train several models (and seeds) on one task; table, results.json, plots
    rnnx generate  sample text from a trained character model
    rnnx translate decode with a trained seq2seq model
    rnnx inspect   gate heatmaps and gradient flow of a trained run
    rnnx claims    measure the textbook claims about recurrent layers

``rnnx COMMAND --help`` lists each command's options.

Bad arguments, and the ``ValueError``/``TypeError``/``OSError`` a command raises on bad input (a
missing or unwritable file, the ``TimeoutError`` of a data-parallel run whose peer froze), print
one line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import NoReturn

# Subcommand modules, in the order ``rnnx --help`` lists them.
COMMANDS: tuple[str, ...] = ("bench", "build", "train", "compare", "generate", "claims", "translate", "inspect")

# The lab commands plot (matplotlib), draw progress (rich) and load bundled data (scikit-learn):
# the ``lab`` extra. They are checked before any work starts, so a long run never fails at its end.
LAB_COMMANDS = frozenset({"train", "compare", "generate", "claims", "translate", "inspect"})
LAB_MODULES = {"matplotlib": "matplotlib", "rich": "rich", "sklearn": "scikit-learn"}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``rnnx: error: ...`` and exit code 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnnx", description="rnnx: recurrent networks, first-class in PyTorch.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"rnnx.cli.{name}").add_parser(commands)
    return parser


def missing_lab_packages() -> list[str]:
    """The distributions of the ``lab`` extra that are not installed."""
    return [package for module, package in LAB_MODULES.items() if importlib.util.find_spec(module) is None]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in LAB_COMMANDS and (missing := missing_lab_packages()):
        print(
            f"rnnx {args.command}: error: needs the lab extra ({', '.join(missing)} not installed); "
            "install it with: pip install 'rnnx[lab]'",
            file=sys.stderr,
        )
        return 2
    try:
        return int(args.run(args))
    except (ValueError, TypeError, OSError) as error:  # OSError: also a missing file, a timeout, no permission
        print(f"rnnx {args.command}: error: {error}", file=sys.stderr)
        return 2
