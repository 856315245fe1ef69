"""From the encoder's final state to the decoder's initial state.

A bidirectional encoder's state is first brought to one row per layer by concatenating its
two directions: ``(L_e*2, B, H_e) -> (L_e, B, 2*H_e)``, ``[h_fwd; h_bwd]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnx._checks import check_choice
from rnnx.modules.layer import RecurrentLayer
from rnnx.seq2seq._inputs import State

KINDS: tuple[str, ...] = ("copy", "linear", "none")


def merge_directions(state: Tensor, num_layers: int, num_directions: int) -> Tensor:
    """``(L*D, B, size) -> (L, B, D*size)``, the directions of each layer side by side."""
    _, batch, size = state.shape
    return state.view(num_layers, num_directions, batch, size).permute(0, 2, 1, 3).reshape(num_layers, batch, -1)


class Shapes:
    """The state layout of a recurrent layer: names, layers, directions and widths."""

    def __init__(self, rnn: RecurrentLayer) -> None:
        self.names = rnn.cell.state_names
        self.layers = rnn.num_layers
        self.directions = rnn.num_directions
        self.sizes = rnn.cell.state_sizes(rnn.hidden_size, rnn.proj_size)

    def describe(self) -> str:
        parts = [f"{n}: ({self.layers * self.directions}, B, {s})" for n, s in zip(self.names, self.sizes, strict=True)]
        return f"({', '.join(parts)})"


class Bridge(nn.Module):
    """Base of the bridges: ``forward(encoder_state) -> decoder_state``, each a tuple of
    ``(rows, B, size)`` tensors in the layers' own layouts."""

    kind = ""

    def __init__(self, encoder_rnn: RecurrentLayer, decoder_rnn: RecurrentLayer) -> None:
        super().__init__()
        self.source = Shapes(encoder_rnn)
        self.target = Shapes(decoder_rnn)

    def merged(self, state: State) -> list[Tensor]:
        """Each encoder state tensor as ``(L_e, B, D_e*size)``."""
        return [merge_directions(s, self.source.layers, self.source.directions) for s in state]

    def forward(self, state: State) -> State:
        raise NotImplementedError


class CopyBridge(Bridge):
    """The decoder starts from the encoder's final state itself: the context vector of
    Sutskever et al. (2014) and Cho et al. (2014). Both must have the same state tensors
    (``h`` or ``h, c``), the same number of layers, and widths that agree (``2*H_e = H_d``
    for a bidirectional encoder)."""

    kind = "copy"

    def __init__(self, encoder_rnn: RecurrentLayer, decoder_rnn: RecurrentLayer) -> None:
        super().__init__(encoder_rnn, decoder_rnn)
        src, tgt = self.source, self.target
        merged = [src.directions * s for s in src.sizes]
        if src.names != tgt.names or src.layers != tgt.layers or merged != list(tgt.sizes):
            raise ValueError(
                f"Seq2Seq: bridge='copy' needs the encoder's final state to fit the decoder's initial state; "
                f"encoder state {src.describe()} is {src.layers} layer(s) of widths {merged} "
                f"(directions concatenated), decoder state {tgt.describe()} is {tgt.layers} layer(s) of widths "
                f"{list(tgt.sizes)}; use bridge='linear' to map between them"
            )

    def forward(self, state: State) -> State:
        return tuple(self.merged(state))


class LinearBridge(Bridge):
    r"""A learned map per decoder state tensor, across all layers and directions:
    :math:`h_0^{dec} = \tanh(W_h\, \mathrm{vec}(h^{enc}) + b_h)` and, for an LSTM decoder,
    :math:`c_0^{dec} = W_c\, \mathrm{vec}(c^{enc}) + b_c` (no squashing: a cell state is
    unbounded). ``vec`` concatenates every layer and direction of a sequence's state, so any
    layer counts, directions and widths map to any others (Bahdanau et al. 2015 initialise
    :math:`s_0 = \tanh(W_s \overleftarrow{h}_1)`). An LSTM decoder after a GRU/RNN encoder
    builds ``c`` from the encoder's ``h``; a GRU/RNN decoder after an LSTM encoder uses ``h``."""

    kind = "linear"

    def __init__(self, encoder_rnn: RecurrentLayer, decoder_rnn: RecurrentLayer) -> None:
        super().__init__(encoder_rnn, decoder_rnn)
        src, tgt = self.source, self.target
        self.from_index = [k if k < len(src.names) else 0 for k in range(len(tgt.names))]
        self.maps = nn.ModuleList(
            nn.Linear(src.layers * src.directions * src.sizes[i], tgt.layers * size)
            for i, size in zip(self.from_index, tgt.sizes, strict=True)
        )

    def forward(self, state: State) -> State:
        merged = self.merged(state)
        out = []
        for k, (i, linear) in enumerate(zip(self.from_index, self.maps, strict=True)):
            flat = merged[i].permute(1, 0, 2).reshape(merged[i].shape[1], -1)  # (B, L_e*D_e*size)
            mapped = linear(flat).view(-1, self.target.layers, self.target.sizes[k]).permute(1, 0, 2)
            out.append(torch.tanh(mapped) if k == 0 else mapped)  # (L_d, B, size_d)
        return tuple(o.contiguous() for o in out)


class ZeroBridge(Bridge):
    """The decoder starts from zeros; with attention it still reads the source."""

    kind = "none"

    def forward(self, state: State) -> State:
        batch = state[0].shape[1]
        return tuple(state[0].new_zeros(self.target.layers, batch, size) for size in self.target.sizes)


def make_bridge(kind: str, encoder_rnn: RecurrentLayer, decoder_rnn: RecurrentLayer) -> Bridge:
    """The bridge named ``kind`` (``"copy"``, ``"linear"`` or ``"none"``) between two layers.

    Raises:
        ValueError: an unknown ``kind``, or ``"copy"`` between states that differ.
    """
    check_choice("Seq2Seq", "bridge", kind, KINDS)
    classes: dict[str, type[Bridge]] = {"copy": CopyBridge, "linear": LinearBridge, "none": ZeroBridge}
    return classes[kind](encoder_rnn, decoder_rnn)
