"""Layer normalisation as the layer-normalised cells use it (Ba, Kiros & Hinton, "Layer
Normalization", 2016)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from rnnx.cells.weights import DirectionWeights

LN_EPS = 1e-5


def layer_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """Normalise ``x (..., F)`` over its last dimension, then scale and shift by ``(F,)``."""
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps=LN_EPS)


def layer_norm_shapes(prefix: str, size: int) -> dict[str, tuple[int, ...]]:
    """The gain and bias of one layer norm over ``size`` features, named ``{prefix}_weight``
    and ``{prefix}_bias``."""
    return {f"{prefix}_weight": (size,), f"{prefix}_bias": (size,)}


def is_layer_norm_parameter(kind: str) -> bool:
    return kind.startswith("ln_")


def init_layer_norm(kind: str, t: Tensor) -> None:
    """Gains start at 1 and biases at 0."""
    t.data.fill_(1.0 if kind.endswith("_weight") else 0.0)


def layer_norm_projection(x: Tensor, w: DirectionWeights, biases: tuple[str, ...]) -> Tensor:
    """``LN_ih(W_ih x)`` plus the named biases, for many rows at once: ``(N, I) -> (N, G*H)``.

    The biases are added to the layer norm's own shift, a ``(G*H,)`` sum, instead of to its
    ``(N, G*H)`` output: one pass over the rows instead of three.
    """
    shift = w.get("ln_ih_bias")
    for name in biases:
        b = w.get(name)
        if b is not None:
            shift = b if shift is None else shift + b
    return layer_norm(F.linear(x, w.weight_ih), w.get("ln_ih_weight"), shift)
