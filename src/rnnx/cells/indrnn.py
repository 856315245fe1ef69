"""The independently recurrent cell (Li, Li, Cook, Zhu & Gao, "Independently Recurrent
Neural Network (IndRNN): Building A Longer and Deeper RNN", CVPR 2018)."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnx.cells.base import CellStep, DirectionWeights, GateRecord, State
from rnnx.cells.elman import NONLINEARITIES, activation


class IndRNNStep(CellStep):
    r"""IndRNN step: each unit sees only its own previous value.

    .. math::

        h' = \phi(W_{ih} x + b_{ih} + u \odot h + b_{hh})

    ``u`` is the vector ``weight_hh`` of shape ``(H,)``, initialised from ``U(0, 1)`` as in
    Li et al. (with ``relu``, ``|u| <= 1`` keeps the recurrence from exploding at the start).

    Shapes: ``x (B, I)``, ``h (B, H)``, ``W_ih (H, I)``, ``u (H,)``.

    Args:
        nonlinearity: ``"relu"`` (the paper's choice) or ``"tanh"``.
    """

    num_chunks = 1

    def __init__(self, nonlinearity: str = "relu") -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}; got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def parameter_shapes(
        self, input_size: int, hidden_size: int, *, proj_size: int = 0, bias: bool = True
    ) -> dict[str, tuple[int, ...]]:
        shapes = super().parameter_shapes(input_size, hidden_size, proj_size=proj_size, bias=bias)
        shapes["weight_hh"] = (hidden_size,)
        return shapes

    def init_parameter(self, kind: str, t: Tensor, hidden_size: int) -> None:
        if kind == "weight_hh":
            torch.nn.init.uniform_(t, 0.0, 1.0)
        else:
            super().init_parameter(kind, t, hidden_size)

    def step(self, gi: Tensor, state: State, w: DirectionWeights, *, record: GateRecord | None = None) -> State:
        (h,) = state
        pre = gi + w.weight_hh * w.recurrent_input(h)  # gi holds W_ih x + b_ih + b_hh
        if record is not None:
            record["pre"] = pre
        return (activation(self.nonlinearity, pre),)

    def extra_repr(self) -> str:
        return f"nonlinearity={self.nonlinearity}"
