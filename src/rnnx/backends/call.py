"""One call of a recurrent layer as the backends see it, and the protocol every backend follows.

A module reads its input into a :class:`SequenceBatch`, wraps it with itself in a
:class:`LayerCall`, asks :func:`rnnx.backends.choose` which backend runs it, and hands the
call to that backend's :meth:`Backend.run`. Every backend returns the same thing: the output in
the layout of the input it was given and the final state in the batch's (sorted) row order;
the module brings both to ``torch.nn``'s forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from rnnx.cells import CellStep, DirectionWeights, State
from rnnx.recurrence.masks import global_samples
from rnnx.recurrence.scan import ScanFn

LayerResult = tuple[Tensor, State]
"""``(output, final state)``: ``output`` in the layout of the call's input (``(T, B, D*P)``,
``(B, T, D*P)`` with ``batch_first``, or packed data ``(N, D*P)``); each final state tensor
``(L*D, B, size)`` in the batch's sorted row order."""


@dataclass
class SequenceBatch:
    """A checked input, with what is needed to run it and to shape the result.

    Attributes:
        data: the input tensor (batched now, even if the user's was not), or packed data.
        batch_sizes: the packed batch sizes (CPU int64), or ``None`` for a padded input.
        sorted_indices, unsorted_indices: the packing permutation, or ``None``.
        batch: number of sequences.
        is_batched: ``False`` for an unbatched ``(T, I)`` input.
    """

    data: Tensor
    batch_sizes: Tensor | None
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None
    batch: int
    is_batched: bool

    @property
    def packed(self) -> bool:
        return self.batch_sizes is not None

    def steps(self, batch_first: bool) -> int:
        """Number of time steps ``T``."""
        if self.batch_sizes is not None:
            return int(self.batch_sizes.shape[0])
        return int(self.data.shape[1 if batch_first else 0])


class LayerSpec(Protocol):
    """What a backend reads of a layer module (:class:`rnnx.modules.layer.RecurrentLayer` is one).

    ``torch.nn``'s arguments as ``torch.nn`` names them, then rnnx's: the cell, the
    regularisers (``zoneout`` one probability per state tensor) and the requested backend.
    """

    cell: CellStep
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool
    proj_size: int
    zoneout: tuple[float, ...]
    recurrent_dropout: float
    weight_drop: float
    backend: str
    training: bool

    def direction_weights(self, flat: list[Tensor]) -> list[list[DirectionWeights]]:
        """``flat`` (in ``torch.nn``'s order) grouped as ``weights[layer][direction]``."""
        ...

    def native_unsupported(self, *, training: bool | None = None) -> str | None:
        """Why PyTorch's kernels cannot run this module's configuration (its cell and
        regularisers, :func:`rnnx.backends.native.variants_unsupported`), or ``None``."""
        ...


@dataclass(frozen=True)
class LayerCall:
    """One forward call: the layer, its input, and (while :func:`rnnx.trace` records the layer)
    the recording time loop that must run it.

    Attributes:
        layer: the module.
        seq: its checked input.
        traced: the time loop :func:`rnnx.trace` records with, or ``None``.
    """

    layer: LayerSpec
    seq: SequenceBatch
    traced: ScanFn | None = None

    @property
    def owner(self) -> str:
        """The module's class name, for messages."""
        return type(self.layer).__name__

    @property
    def inference(self) -> bool:
        """No gradient will be taken: autograd is off and the module is in evaluation mode."""
        return not torch.is_grad_enabled() and not self.layer.training

    def time_major(self) -> Tensor:
        """The padded input as ``(T, B, I)``."""
        return self.seq.data.transpose(0, 1) if self.layer.batch_first else self.seq.data

    def batch_layout(self, time_major: Tensor) -> Tensor:
        """A time-major ``(T, B, F)`` result in the layout of the input (batch first if asked)."""
        return time_major.transpose(0, 1) if self.layer.batch_first else time_major

    def samples(self) -> tuple[int, ...] | None:
        """In training, each (sorted) row's global sample index, which keys its random masks
        (:func:`rnnx.sample_offset`); ``None`` in evaluation, which draws none."""
        if not self.layer.training:
            return None
        return global_samples(self.seq.batch, self.seq.sorted_indices)

    def active_zoneout(self) -> tuple[float, ...]:
        """The layer's zoneout probabilities, or ``()`` when zoneout is off."""
        zoneout = self.layer.zoneout
        return zoneout if any(zoneout) else ()


class Backend(Protocol):
    """One way of running a layer call. rnnx's: ``reference``, ``native``, ``fused``, ``step``,
    and for export ``graph`` and ``onnx-lstm`` (:data:`rnnx.backends.REGISTRY`)."""

    name: str

    def unsupported(self, call: LayerCall) -> str | None:
        """Why this backend cannot run ``call``, or ``None`` when it can."""
        ...

    def run(self, call: LayerCall, state: State, weights: list[Tensor]) -> LayerResult:
        """Run ``call`` from ``state`` (each ``(L*D, B, size)``, sorted rows) with the flat
        ``weights`` (``torch.nn``'s order, weight drop applied)."""
        ...
