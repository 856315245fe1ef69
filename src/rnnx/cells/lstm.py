"""The LSTM cell.

Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 1997; the forget gate
from Gers, Schmidhuber & Cummins, "Learning to Forget", Neural Computation 2000; the
recurrent projection from Sak, Senior & Beaufays, "Long Short-Term Memory Based Recurrent
Neural Network Architectures for Large Vocabulary Speech Recognition", 2014.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnx.cells.base import CellStep, DirectionWeights, State


class LSTMStep(CellStep):
    r"""LSTM step with forget gate and optional projection, as in ``torch.nn.LSTM``.

    Gate blocks are stacked in the order ``i, f, g, o``:

    .. math::

        i &= \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}) \\
        f &= \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}) \\
        g &= \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}) \\
        o &= \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}) \\
        c' &= f \odot c + i \odot g \\
        h' &= o \odot \tanh(c') \qquad (\text{then } h' \leftarrow W_{hr} h' \text{ if projected})

    Shapes: ``x (B, I)``, ``h (B, P)``, ``c (B, H)``, ``W_ih (4H, I)``, ``W_hh (4H, P)``,
    ``W_hr (P, H)``; ``P = proj_size`` when projecting, else ``H``.
    """

    num_chunks = 4
    state_names = ("h", "c")

    def state_sizes(self, hidden_size: int, proj_size: int) -> tuple[int, ...]:
        return (proj_size or hidden_size, hidden_size)

    def step(self, gi: Tensor, state: State, w: DirectionWeights) -> State:
        h, c = state
        # gi already holds W_ih x + b_ih + b_hh for this step.
        gates = torch.addmm(gi, h, w.weight_hh.t())
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        if w.weight_hr is not None:
            h = h @ w.weight_hr.t()
        return h, c
