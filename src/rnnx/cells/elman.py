"""The Elman recurrent cell (Elman, "Finding Structure in Time", Cognitive Science 1990)."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnx.cells.base import CellStep, DirectionWeights, State

NONLINEARITIES = ("tanh", "relu")


class ElmanStep(CellStep):
    r"""Elman (simple) recurrent step, as in ``torch.nn.RNN``.

    .. math::

        h' = \phi(W_{ih} x + b_{ih} + W_{hh} h + b_{hh}), \quad \phi \in \{\tanh, \mathrm{relu}\}

    Shapes: ``x (B, I)``, ``h (B, H)``, ``W_ih (H, I)``, ``W_hh (H, H)``.

    Args:
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Raises:
        ValueError: for any other ``nonlinearity``.
    """

    num_chunks = 1

    def __init__(self, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}; got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def step(self, gi: Tensor, state: State, w: DirectionWeights) -> State:
        (h,) = state
        # gi already holds W_ih x + b_ih + b_hh for this step.
        pre = torch.addmm(gi, h, w.weight_hh.t())
        return (torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre),)
