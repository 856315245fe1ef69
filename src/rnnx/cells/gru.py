"""The GRU cell (Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
Statistical Machine Translation", EMNLP 2014), in the reset-after form of ``torch.nn.GRU``
and cuDNN."""

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

    With ``layer_norm`` (Ba et al. 2016): ``gi = LN_ih(W_ih x) + b_ih`` and
    ``gh = LN_hh(W_hh h) + b_hh``, each over all ``3H`` features, then the update above.

    Shapes: ``x (B, I)``, ``h (B, H)``, ``W_ih (3H, I)``, ``W_hh (3H, H)``.
    """

    num_chunks = 3
    family_mode = "GRU"
    folds_hidden_bias = False

    def __init__(self, *, layer_norm: bool = False) -> None:
        self.layer_norm = layer_norm
        self.native_mode = None if layer_norm else "GRU"

    def native_unsupported(self) -> str | None:
        return "layer_norm=True has no native kernel" if self.layer_norm else None

    def parameter_shapes(
        self, input_size: int, hidden_size: int, *, proj_size: int = 0, bias: bool = True
    ) -> dict[str, tuple[int, ...]]:
        shapes = super().parameter_shapes(input_size, hidden_size, proj_size=proj_size, bias=bias)
        if self.layer_norm:
            gates = 3 * hidden_size
            shapes |= layer_norm_shapes("ln_ih", gates) | layer_norm_shapes("ln_hh", gates)
        return shapes

    def project_input(self, x: Tensor, w: DirectionWeights) -> Tensor:
        if not self.layer_norm:
            return super().project_input(x, w)
        return layer_norm_projection(x, w, biases=("bias_ih",))  # b_hh stays inside the step

    def step(self, gi: Tensor, state: State, w: DirectionWeights, *, record: GateRecord | None = None) -> State:
        (h,) = state
        h_in = w.recurrent_input(h)
        if self.layer_norm:
            gh = layer_norm(F.linear(h_in, w.weight_hh), w.get("ln_hh_weight"), w.get("ln_hh_bias"))
            b = w.get("bias_hh")
            gh = gh if b is None else gh + b
        else:
            gh = F.linear(h_in, w.weight_hh, w.get("bias_hh"))  # (B, 3H)
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        if record is not None:
            record |= {"r": r, "z": z, "n": n}
        return ((1 - z) * n + z * h,)

    def extra_repr(self) -> str:
        return "layer_norm=True" if self.layer_norm else ""
