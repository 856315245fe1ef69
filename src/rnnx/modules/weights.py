"""Checking a module's weights on every forward call, before any backend reads them.

A user can replace a parameter after construction (``m.weight_hh_l0 = nn.Parameter(t)``,
``m.weight_hh_l0.data = t``, or a plain tensor, as weight-drop wrappers do). Every backend
trusts the weights it is given: the native kernels index them by the layer's sizes, the fused
kernel reads them by raw pointer. So each weight of a call is checked here first, against the
shape the cell declares (:meth:`rnnx.cells.CellStep.parameter_shapes`) and the dtype, device
and layout of the input.

The expected shapes are computed once, when the module is built; the check itself is one
combined comparison per weight on the happy path.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rnnx.errors import InputError

WeightShapes = Sequence[tuple[str, tuple[int, ...]]]
"""``(name, shape)`` of each weight a forward call uses, in the module's flat order."""


def check_weights(owner: str, expected: WeightShapes, weights: Sequence[object], like: Tensor) -> None:
    """Check that each weight is a strided tensor of its expected shape, with the dtype and
    device of ``like`` (the input).

    Inside an autocast region a weight's dtype may differ from the input's where autocast casts
    both (float32, bfloat16, float16; not float64).

    Args:
        owner: the module's class name, for the message.
        expected: ``(name, shape)`` per weight.
        weights: the tensors, in the same order.
        like: the input, ``(..., I)``.

    Raises:
        InputError: a weight of the wrong shape, dtype, device or layout, naming it, what was
            expected and what came (a ``ValueError`` and a ``RuntimeError``).
        TypeError: a weight that is not a tensor.
    """
    dtype, device = like.dtype, like.device
    strided = torch.strided
    for (name, shape), w in zip(expected, weights, strict=True):
        # One combined test on the happy path; the slow path below says what is wrong.
        if (
            not isinstance(w, Tensor)
            or w.shape != shape
            or w.dtype != dtype
            or w.layout != strided
            or w.device != device
        ):
            _diagnose(owner, name, shape, w, like)


def _diagnose(owner: str, name: str, shape: tuple[int, ...], w: object, like: Tensor) -> None:
    """Raise the error for a weight that failed :func:`check_weights`' test (or return, for a
    dtype that autocast allows)."""
    what = f"{owner}: parameter {name}"
    if not isinstance(w, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape {shape}; got {type(w).__name__}")
    if w.layout != torch.strided:
        raise InputError(f"{what} must be a dense (strided) tensor; got layout {w.layout}")
    if tuple(w.shape) != shape:
        raise InputError(f"{what} must have shape {shape}; got {tuple(w.shape)}")
    if w.device != like.device:
        raise InputError(
            f"{what} is on device {w.device} but the input is on device {like.device}; "
            f"every parameter must be on the input's device"
        )
    if w.dtype != like.dtype:
        # As torch.nn inside autocast: the products take both in autocast's dtype, so they may
        # differ where autocast casts both (every floating dtype but float64, which it leaves alone).
        autocast = torch.is_autocast_enabled(like.device.type)
        if not (autocast and _autocast_casts(w.dtype) and _autocast_casts(like.dtype)):
            raise InputError(
                f"{what} has dtype {w.dtype} but the input has dtype {like.dtype}; "
                f"every parameter must have the input's dtype (e.g. convert the module with .to({like.dtype}))"
            )


def _autocast_casts(dtype: torch.dtype) -> bool:
    return dtype.is_floating_point and dtype != torch.float64
