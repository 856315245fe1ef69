"""``rnnx build``: compile the fused CPU kernels ahead of time, instead of on first use.

rnnx build                       # for this CPU's instruction set
rnnx build --capability AVX2     # for another set this CPU runs (a cache shared with older CPUs)

In a Dockerfile, after installing rnnx: ``ENV TORCH_EXTENSIONS_DIR=/opt/rnnx-kernels`` then
``RUN rnnx build``; the image then starts without compiling (docs/performance.md).
"""

from __future__ import annotations

import argparse
import sys

from rnnx.fused import build as kernels


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "build",
        help="compile the fused CPU kernels ahead of time",
        description="Compile rnnx's C++ kernels (the fused time loops and the streaming step) into torch's "
        "extension cache ($TORCH_EXTENSIONS_DIR), so that no process compiles them on first use. Prints the "
        "cache folder.",
    )
    parser.add_argument(
        "--capability",
        type=str.upper,
        choices=kernels.CAPABILITIES,
        default=None,
        help="instruction set to build for (default: what PyTorch detects on this CPU)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        folder = kernels.build_kernels(args.capability)
    except RuntimeError as error:
        print(f"rnnx build: error: {error}", file=sys.stderr)
        return 2
    isa = args.capability or kernels.compile_flags()[0]
    print(f"rnnx build: {', '.join(e.what for e in kernels.EXTENSIONS)} for {isa} ready in {folder}")
    return 0
