"""The Elman recurrent cell (Elman, "Finding Structure in Time", Cognitive Science 1990)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnx.cells.base import CellStep, DirectionWeights, GateRecord, State
from rnnx.cells.norm import (
    layer_norm,
    layer_norm_projection,
    layer_norm_shapes,
)

NONLINEARITIES = ("tanh", "relu")


def activation(nonlinearity: str, x: Tensor) -> Tensor:
    return torch.tanh(x) if nonlinearity == "tanh" else torch.relu(x)


class ElmanStep(CellStep):
    r"""Elman (simple) recurrent step, as in ``torch.nn.RNN``.

    .. math::

        h' = \phi(W_{ih} x + b_{ih} + W_{hh} h + b_{hh}), \quad \phi \in \{\tanh, \mathrm{relu}\}

    With ``layer_norm`` (Ba et al. 2016) each product is normalised on its own:
    :math:`h' = \phi(\mathrm{LN}_{ih}(W_{ih} x) + \mathrm{LN}_{hh}(W_{hh} h) + b_{ih} + b_{hh})`.

    Shapes: ``x (B, I)``, ``h (B, H)``, ``W_ih (H, I)``, ``W_hh (H, H)``; layer-norm gains
    and biases ``(H,)``.

    Args:
        nonlinearity: ``"tanh"`` or ``"relu"``.
        layer_norm: normalise the input and recurrent products.

    Raises:
        ValueError: for any other ``nonlinearity``.
    """

    num_chunks = 1

    def __init__(self, nonlinearity: str = "tanh", *, layer_norm: bool = False) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}; got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.layer_norm = layer_norm
        self.family_mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.native_mode = None if layer_norm else self.family_mode

    def native_unsupported(self) -> str | None:
        return "layer_norm=True has no native kernel" if self.layer_norm else None

    def parameter_shapes(
        self, input_size: int, hidden_size: int, *, proj_size: int = 0, bias: bool = True
    ) -> dict[str, tuple[int, ...]]:
        shapes = super().parameter_shapes(input_size, hidden_size, proj_size=proj_size, bias=bias)
        if self.layer_norm:
            shapes |= layer_norm_shapes("ln_ih", hidden_size) | layer_norm_shapes("ln_hh", hidden_size)
        return shapes

    def project_input(self, x: Tensor, w: DirectionWeights) -> Tensor:
        if not self.layer_norm:
            return super().project_input(x, w)
        return layer_norm_projection(x, w, biases=("bias_ih", "bias_hh"))

    def step(self, gi: Tensor, state: State, w: DirectionWeights, *, record: GateRecord | None = None) -> State:
        (h,) = state
        h_in = w.recurrent_input(h)
        if self.layer_norm:
            pre = gi + layer_norm(F.linear(h_in, w.weight_hh), w.get("ln_hh_weight"), w.get("ln_hh_bias"))
        else:
            pre = torch.addmm(gi, h_in, w.weight_hh.t())  # gi holds W_ih x + b_ih + b_hh
        if record is not None:
            record["pre"] = pre  # the pre-activation: where tanh saturates or relu is dead
        return (activation(self.nonlinearity, pre),)

    def extra_repr(self) -> str:
        return "layer_norm=True" if self.layer_norm else ""
