"""The parameters of one layer in one direction, by kind: what a cell's equations read.

Its own module, below both :mod:`rnnx.cells.base` (the cell contract) and :mod:`rnnx.cells.norm`
(the layer norm), which both read weights through it.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor


class DirectionWeights:
    """The tensors of one layer in one direction, by parameter kind (the name without
    ``_l{k}`` / ``_reverse``), e.g. ``weight_ih``, ``bias_hh``, ``ln_ih_weight``.

    Args:
        tensors: the parameters; ``None`` values (absent biases) are dropped.
        hidden_mask: recurrent dropout mask ``(B, P)`` for the whole batch, or ``None``.
    """

    __slots__ = ("hidden_mask", "tensors")

    def __init__(self, tensors: Mapping[str, Tensor | None], hidden_mask: Tensor | None = None) -> None:
        self.tensors = {name: t for name, t in tensors.items() if t is not None}
        self.hidden_mask = hidden_mask

    @property
    def weight_ih(self) -> Tensor:
        """``(G*H, I)`` input-to-hidden weights."""
        return self.tensors["weight_ih"]

    @property
    def weight_hh(self) -> Tensor:
        """``(G*H, P)`` hidden-to-hidden weights (``(H,)`` for IndRNN)."""
        return self.tensors["weight_hh"]

    def get(self, name: str) -> Tensor | None:
        """The tensor of kind ``name``, or ``None`` if this layer has none."""
        return self.tensors.get(name)

    def replace(self, **tensors: Tensor) -> DirectionWeights:
        """A copy with some tensors replaced (e.g. a weight-dropped ``weight_hh``)."""
        return DirectionWeights(self.tensors | tensors, self.hidden_mask)

    def with_hidden_mask(self, mask: Tensor | None) -> DirectionWeights:
        return DirectionWeights(self.tensors, mask)

    def recurrent_input(self, h: Tensor) -> Tensor:
        """``h`` as it enters the recurrent weights: with recurrent dropout (Gal &
        Ghahramani 2016) applied when a mask is set. With packed input only the first
        ``len(h)`` sequences are still running, so the mask is cut to them."""
        if self.hidden_mask is None:
            return h
        return h * self.hidden_mask[: h.shape[0]]
