"""Stacked and bidirectional recurrence with dropout between layers, for any cell."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnx.cells.base import CellStep, DirectionWeights, State
from rnnx.recurrence.regularize import recurrent_dropout_mask, zoneout_masks
from rnnx.recurrence.scan import scan


def run_stack(
    cell: CellStep,
    x: Tensor,
    batch_sizes: Sequence[int],
    state0: State,
    weights: Sequence[Sequence[DirectionWeights]],
    *,
    dropout: float = 0.0,
    training: bool = False,
    zoneout: Sequence[float] = (),
    recurrent_dropout: float = 0.0,
    scan_fn: Callable[..., tuple[Tensor, State]] = scan,
) -> tuple[Tensor, State]:
    """Run ``len(weights)`` layers of ``cell``, each in one or two directions.

    Layer ``k > 0`` reads the concatenated outputs of both directions of layer ``k - 1``.
    Dropout (inverted, like :func:`torch.nn.functional.dropout`) is applied to the output of
    every layer but the last, in training only. Masks are drawn in the order documented in
    :mod:`rnnx.recurrence.regularize`.

    Args:
        cell: the cell's step.
        x: ``(N, I)`` rows of all time steps, time-major (see :mod:`rnnx.recurrence.scan`).
        batch_sizes: rows per time step.
        state0: initial state, each tensor ``(L*D, B, size)``, indexed ``layer * D + direction``.
        weights: ``weights[layer][direction]``; ``D = len(weights[0])`` is 1 or 2.
        dropout: probability of zeroing an element between layers.
        training: whether the random regularisers are active.
        zoneout: zoneout probability per state tensor (empty for none).
        recurrent_dropout: variational dropout probability on ``h`` entering ``W_hh``.
        scan_fn: the time loop, :func:`~rnnx.recurrence.scan` or a fused one with its signature.

    Returns:
        ``(out, final)``: ``out`` is ``(N, D*P)``, the last layer's outputs with the forward
        direction first; ``final`` has each tensor ``(L*D, B, size)``.
    """
    num_directions = len(weights[0])
    initial = [s.unbind(0) for s in state0]  # per state: L*D tensors (B, size)
    batch, rows = state0[0].shape[1], x.shape[0]
    sizes = [s.shape[-1] for s in state0]
    finals: list[State] = []
    for layer, layer_weights in enumerate(weights):
        outs = []
        for direction, w in enumerate(layer_weights):
            index = layer * num_directions + direction
            mask = recurrent_dropout_mask(recurrent_dropout, batch, sizes[0], x, training=training)
            keep = zoneout_masks(zoneout, rows, sizes, x, training=training) if zoneout else None
            out, final = scan_fn(
                cell,
                cell.project_input(x, w),
                batch_sizes,
                tuple(s[index] for s in initial),
                w.with_hidden_mask(mask) if mask is not None else w,
                reverse=direction == 1,
                zoneout=keep,
            )
            outs.append(out)
            finals.append(final)
        x = outs[0] if num_directions == 1 else torch.cat(outs, dim=1)
        if dropout > 0 and training and layer < len(weights) - 1:
            x = F.dropout(x, dropout, training=True)
    return x, tuple(torch.stack(parts) for parts in zip(*finals, strict=True))
