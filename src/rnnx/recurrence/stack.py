"""Stacked and bidirectional recurrence with dropout between layers, for any cell."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rnnx.cells.base import CellStep, DirectionWeights, State
from rnnx.recurrence.regularize import CallMasks, Zoneout, call_masks, eval_zoneout
from rnnx.recurrence.scan import ScanFn, scan


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
    samples: Sequence[int] | None = None,
    scan_fn: ScanFn = scan,
) -> tuple[Tensor, State]:
    """Run ``len(weights)`` layers of ``cell``, each in one or two directions.

    Layer ``k > 0`` reads the concatenated outputs of both directions of layer ``k - 1``.
    Dropout (inverted, like :func:`torch.nn.functional.dropout`) is applied to the output of
    every layer but the last, in training only. The masks (dropout, zoneout, recurrent
    dropout) are keyed by each row's global sample index and drawn as documented in
    :mod:`rnnx.recurrence.regularize`: one seed from torch's generator per call.

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
        samples: the global sample index of each batch row ``(B,)``, in the order the rows
            run; ``None``: the rows' positions plus :func:`rnnx.sample_offset`'s offset.
        scan_fn: the time loop (a :class:`~rnnx.recurrence.scan.ScanFn`): :func:`~rnnx.recurrence.scan`,
            the fused one, or a recording one.

    Returns:
        ``(out, final)``: ``out`` is ``(N, D*P)``, the last layer's outputs with the forward
        direction first; ``final`` has each tensor ``(L*D, B, size)``.
    """
    num_directions = len(weights[0])
    initial = [s.unbind(0) for s in state0]  # per state: L*D tensors (B, size)
    batch = state0[0].shape[1]
    sizes = [s.shape[-1] for s in state0]
    between = dropout > 0 and len(weights) > 1
    active = training and (between or recurrent_dropout > 0 or any(zoneout))
    masks = call_masks(active, samples, batch, batch_sizes)
    finals: list[State] = []
    for layer, layer_weights in enumerate(weights):
        outs = []
        for direction, w in enumerate(layer_weights):
            index = layer * num_directions + direction
            keep, mask = _direction_masks(masks, zoneout, recurrent_dropout, sizes, x, layer, direction)
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
        if masks is not None and between and layer < len(weights) - 1:
            x = masks.dropout(x, dropout, layer=layer)
    return x, tuple(torch.stack(parts) for parts in zip(*finals, strict=True))


def _direction_masks(
    masks: CallMasks | None,
    zoneout: Sequence[float],
    recurrent_dropout: float,
    sizes: Sequence[int],
    like: Tensor,
    layer: int,
    direction: int,
) -> tuple[tuple[Zoneout, ...] | None, Tensor | None]:
    """``(zoneout, recurrent dropout multiplier)`` of one layer and direction."""
    if masks is None:  # evaluation, or nothing random
        return (eval_zoneout(zoneout) if any(zoneout) else None), None
    keep = masks.zoneout(zoneout, sizes, layer=layer, direction=direction, device=like.device) if any(zoneout) else None
    mask = None
    if recurrent_dropout > 0:
        mask = masks.recurrent_dropout(recurrent_dropout, sizes[0], like, layer=layer, direction=direction)
    return keep, mask
