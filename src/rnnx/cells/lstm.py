"""The LSTM cell and its variants.

Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 1997; the forget gate
from Gers, Schmidhuber & Cummins, "Learning to Forget", Neural Computation 2000; peephole
connections from Gers & Schmidhuber, "Recurrent Nets that Time and Count", IJCNN 2000; the
recurrent projection from Sak, Senior & Beaufays, "Long Short-Term Memory Based Recurrent
Neural Network Architectures for Large Vocabulary Speech Recognition", 2014; layer
normalisation from Ba, Kiros & Hinton, "Layer Normalization", 2016; the forget-gate bias from
Jozefowicz, Zaremba & Sutskever, "An Empirical Exploration of Recurrent Network
Architectures", ICML 2015.
"""

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

    Variants (all off by default, and then exactly the equations above):

    - ``layer_norm``: ``gates = LN_ih(W_ih x) + LN_hh(W_hh h) + b_ih + b_hh``, each LN over all
      ``4H`` features; ``h' = o * tanh(LN_cell(c'))`` with ``LN_cell`` over ``H``; the state
      keeps the un-normalised ``c'``.
    - ``peephole``: ``i`` and ``f`` also see ``p_i * c`` and ``p_f * c``; ``o`` sees
      ``p_o * c'``. ``weight_peephole`` is ``(3, H)`` with rows ``i, f, o``.
    - ``forget_bias``: the forget-gate slice of ``bias_hh`` starts at this value and that of
      ``bias_ih`` at 0, so the gate starts open.

    Shapes: ``x (B, I)``, ``h (B, P)``, ``c (B, H)``, ``W_ih (4H, I)``, ``W_hh (4H, P)``,
    ``W_hr (P, H)``; ``P = proj_size`` when projecting, else ``H``.
    """

    num_chunks = 4
    family_mode = "LSTM"
    state_names = ("h", "c")
    supports_projection = True

    def __init__(self, *, layer_norm: bool = False, peephole: bool = False, forget_bias: float | None = None) -> None:
        self.layer_norm = layer_norm
        self.peephole = peephole
        self.forget_bias = forget_bias
        self.native_mode = None if layer_norm or peephole else "LSTM"

    def native_unsupported(self) -> str | None:
        unsupported = [name for name in ("layer_norm", "peephole") if getattr(self, name)]
        return f"{' and '.join(n + '=True' for n in unsupported)} has no native kernel" if unsupported else None

    def state_sizes(self, hidden_size: int, proj_size: int) -> tuple[int, ...]:
        return (proj_size or hidden_size, hidden_size)

    def parameter_shapes(
        self, input_size: int, hidden_size: int, *, proj_size: int = 0, bias: bool = True
    ) -> dict[str, tuple[int, ...]]:
        shapes = super().parameter_shapes(input_size, hidden_size, proj_size=proj_size, bias=bias)
        gates = 4 * hidden_size
        if self.layer_norm:
            shapes |= layer_norm_shapes("ln_ih", gates) | layer_norm_shapes("ln_hh", gates)
            shapes |= layer_norm_shapes("ln_cell", hidden_size)
        if self.peephole:
            shapes["weight_peephole"] = (3, hidden_size)
        return shapes

    def init_parameter(self, kind: str, t: Tensor, hidden_size: int) -> None:
        super().init_parameter(kind, t, hidden_size)
        if self.forget_bias is not None and kind in ("bias_ih", "bias_hh"):
            forget = slice(hidden_size, 2 * hidden_size)
            t.data[forget] = self.forget_bias if kind == "bias_hh" else 0.0

    def project_input(self, x: Tensor, w: DirectionWeights) -> Tensor:
        if not self.layer_norm:
            return super().project_input(x, w)
        return layer_norm_projection(x, w, biases=("bias_ih", "bias_hh"))

    def step(self, gi: Tensor, state: State, w: DirectionWeights, *, record: GateRecord | None = None) -> State:
        h, c = state
        h_in = w.recurrent_input(h)
        # gi holds W_ih x + b_ih + b_hh (layer-normalised first with layer_norm).
        if self.layer_norm:
            gates = gi + layer_norm(F.linear(h_in, w.weight_hh), w.get("ln_hh_weight"), w.get("ln_hh_bias"))
        else:
            gates = torch.addmm(gi, h_in, w.weight_hh.t())
        i, f, g, o = gates.chunk(4, dim=1)
        peep = w.get("weight_peephole") if self.peephole else None
        if peep is not None:
            i = i + peep[0] * c
            f = f + peep[1] * c
        i, f, g = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
        c = f * c + i * g
        if peep is not None:
            o = o + peep[2] * c
        o = torch.sigmoid(o)
        cell_out = layer_norm(c, w.get("ln_cell_weight"), w.get("ln_cell_bias")) if self.layer_norm else c
        h = o * torch.tanh(cell_out)
        if record is not None:
            record |= {"i": i, "f": f, "g": g, "o": o}
        weight_hr = w.get("weight_hr")
        if weight_hr is not None:
            h = h @ weight_hr.t()
        return h, c

    def extra_repr(self) -> str:
        options = [f"{name}=True" for name in ("layer_norm", "peephole") if getattr(self, name)]
        if self.forget_bias is not None:
            options.append(f"forget_bias={self.forget_bias}")
        return ", ".join(options)
