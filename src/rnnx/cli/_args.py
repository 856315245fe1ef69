"""Argument types shared by the ``rnnx`` subcommands.

Each raises :class:`argparse.ArgumentTypeError`, which argparse turns into one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """Parse an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """Parse an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """Parse a finite number >= 0 (not NaN, not infinite)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0; got {text!r}")
    return value


def positive_float(text: str) -> float:
    """Parse a finite number > 0 (not NaN, not infinite)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {text!r}")
    return value


def shape4(text: str) -> tuple[int, int, int, int]:
    """Parse ``T,B,I,H``: four positive integers."""
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected four positive integers T,B,I,H; got {text!r}")
    return parts[0], parts[1], parts[2], parts[3]
