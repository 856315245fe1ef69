"""The GRU cell (Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
Statistical Machine Translation", EMNLP 2014), in the reset-after form of ``torch.nn.GRU``
and cuDNN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnx.cells.base import CellStep, DirectionWeights, State


class GRUStep(CellStep):
    r"""GRU step with the reset gate applied after the recurrent matrix product.

    Gate blocks are stacked in the order ``r, z, n``:

    .. math::

        r &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        z &= \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n &= \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \\
        h' &= (1 - z) \odot n + z \odot h

    Cho et al. apply ``r`` to ``h`` before ``W_hn``; the reset-after form above is what
    ``torch.nn.GRU`` and cuDNN compute. Because ``b_hn`` sits inside ``r * (...)``, ``b_hh``
    cannot be folded into the input projection.

    Shapes: ``x (B, I)``, ``h (B, H)``, ``W_ih (3H, I)``, ``W_hh (3H, H)``.
    """

    num_chunks = 3
    folds_hidden_bias = False

    def step(self, gi: Tensor, state: State, w: DirectionWeights) -> State:
        (h,) = state
        gh = F.linear(h, w.weight_hh, w.bias_hh)  # (B, 3H)
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return ((1 - z) * n + z * h,)
