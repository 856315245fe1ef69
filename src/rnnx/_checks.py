"""Argument checks shared by every module: each error names the argument, what was
expected and what came."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor


def check_int(owner: str, name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be an int; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be >= {minimum}; got {value}")
    return value


def check_bool(owner: str, name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool``."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool; got {type(value).__name__} {value!r}")
    return value


def check_probability(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a float if it is a real number in ``[0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number in [0, 1]; got {type(value).__name__} {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{owner}: {name} must be in [0, 1]; got {value}")
    return float(value)


def check_choice(owner: str, name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {tuple(choices)}; got {value!r}")
    return value


def check_tensor(owner: str, name: str, value: object) -> Tensor:
    """Return ``value`` if it is a floating-point tensor."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{owner}: {name} must be a torch.Tensor; got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{owner}: {name} must be a floating-point tensor; got dtype {value.dtype}")
    return value


def check_matches(
    owner: str, name: str, value: Tensor, *, dtype: torch.dtype, device: torch.device, what: str
) -> None:
    """Check that ``value`` has ``dtype`` and lives on ``device`` (those of ``what``)."""
    if value.dtype != dtype and not torch.is_autocast_enabled(value.device.type):
        raise ValueError(
            f"{owner}: {name} has dtype {value.dtype} but the dtype of {what} is {dtype}; "
            f"convert one of them, e.g. {name}.to({dtype})"
        )
    if value.device != device:
        raise ValueError(
            f"{owner}: {name} is on device {value.device} but {what} is on device {device}; "
            f"move one of them, e.g. {name}.to({str(device)!r})"
        )


def check_shape(owner: str, name: str, value: Tensor, expected: tuple[int, ...], meaning: str) -> None:
    """Check that ``value`` has exactly shape ``expected``; ``meaning`` names its dimensions."""
    if tuple(value.shape) != expected:
        raise ValueError(f"{owner}: {name} must have shape {meaning} = {expected}; got {tuple(value.shape)}")
