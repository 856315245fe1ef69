"""The contract between a cell's equations and the machinery that runs them.

A cell only knows how to advance its state by one time step. Everything else (the time
loop, stacking layers, the two directions, packed sequences, dropout between layers) lives
in :mod:`rnnx.recurrence` and works for any :class:`CellStep`.

Shapes used throughout: ``B`` batch, ``I`` input features, ``H`` hidden size, ``P`` the width
of the emitted hidden state (``proj_size`` for a projected LSTM, else ``H``) and ``G`` the
number of ``H``-wide blocks stacked in the weight matrices (1 for Elman, 3 for GRU, 4 for LSTM).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

State = tuple[Tensor, ...]
"""A cell's recurrent state. ``state[0]`` is always the hidden state ``h`` that is emitted."""


@dataclass(frozen=True)
class DirectionWeights:
    """The parameters of one layer in one direction, named as in ``torch.nn``.

    Attributes:
        weight_ih: ``(G*H, I)``, input-to-hidden weights, gate blocks stacked by rows.
        weight_hh: ``(G*H, P)``, hidden-to-hidden weights.
        bias_ih: ``(G*H,)`` or ``None`` when the layer has ``bias=False``.
        bias_hh: ``(G*H,)`` or ``None``.
        weight_hr: ``(P, H)`` projection (LSTM with ``proj_size > 0``) or ``None``.
    """

    weight_ih: Tensor
    weight_hh: Tensor
    bias_ih: Tensor | None = None
    bias_hh: Tensor | None = None
    weight_hr: Tensor | None = None


class CellStep(ABC):
    """One step of a recurrent cell, written from its equations.

    Subclasses set :attr:`num_chunks` and :attr:`state_names` and implement :meth:`step`.
    The machinery calls :meth:`project_input` once for a whole sequence (one GEMM over all
    ``T*B`` rows) and then :meth:`step` once per time step with that step's rows.
    """

    #: Number of ``H``-wide gate blocks in ``weight_ih`` / ``weight_hh``.
    num_chunks: int
    #: Names of the state tensors, ``("h",)`` or ``("h", "c")``; ``h`` comes first.
    state_names: tuple[str, ...] = ("h",)
    #: Whether ``bias_hh`` may be added to the hoisted input projection. True when the
    #: recurrent pre-activation enters the cell only through ``W_ih x + b_ih + W_hh h + b_hh``.
    folds_hidden_bias: bool = True

    def state_sizes(self, hidden_size: int, proj_size: int) -> tuple[int, ...]:
        """Width of each state tensor, in the order of :attr:`state_names`."""
        del proj_size  # only the LSTM projects
        return (hidden_size,) * len(self.state_names)

    def project_input(self, x: Tensor, w: DirectionWeights) -> Tensor:
        """The input part of every gate for many rows at once.

        Args:
            x: ``(N, I)``; ``N`` is usually every time step of the sequence, ``T*B``.
            w: the layer's weights.

        Returns:
            ``(N, G*H)``: ``W_ih x + b_ih``, plus ``b_hh`` when :attr:`folds_hidden_bias`.
        """
        bias = w.bias_ih
        if bias is not None and self.folds_hidden_bias and w.bias_hh is not None:
            bias = bias + w.bias_hh
        return F.linear(x, w.weight_ih, bias)

    @abstractmethod
    def step(self, gi: Tensor, state: State, w: DirectionWeights) -> State:
        """Advance the state by one time step.

        Args:
            gi: ``(B, G*H)``, this step's rows of :meth:`project_input`.
            state: the previous state, each tensor ``(B, size)`` as in :meth:`state_sizes`.
            w: the layer's weights.

        Returns:
            The new state, same shapes; its first tensor is the emitted hidden state.
        """
