"""The fused scan's gradients as a differentiable computation, for higher-order gradients.

The C++ backward computes first-order gradients only: its results are numbers, not a graph.
When autograd runs a backward with ``create_graph=True`` (a gradient penalty, a
Hessian-vector product, MAML), the fused node instead runs its forward again with the
reference loop (:func:`rnnx.recurrence.scan`) on the very tensors the kernel read (inputs,
weights, initial states, the recurrent dropout mask) and the same zoneout masks (a
:class:`~rnnx.recurrence.regularize.ZoneoutDraw` rebuilt from the kernel's seed and threshold
is the mask the kernel computed), and differentiates that, keeping the graph::

    d_gi, d_h0, ... = autograd.grad(scan(gi, h0, ...), (gi, h0, ...), (d_out, d_hn, d_cn), create_graph=True)

so the gradients are differentiable functions of the inputs and of the incoming gradients,
to any order. This costs one reference forward and backward, only when a graph of the
backward is asked for; first-order training keeps the kernel's backward.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rnnx.cells import CellStep, DirectionWeights
from rnnx.fused.arguments import ScanTensors
from rnnx.recurrence.masks import SampleRows
from rnnx.recurrence.regularize import Zoneout, ZoneoutDraw
from rnnx.recurrence.scan import scan

# The kernel's weights (fields of ScanTensors) as DirectionWeights kinds; the mask is its hidden_mask.
_WEIGHT_KINDS = {
    "w_hh": "weight_hh",
    "b_hh": "bias_hh",
    "ln_hh_w": "ln_hh_weight",
    "ln_hh_b": "ln_hh_bias",
    "ln_c_w": "ln_cell_weight",
    "ln_c_b": "ln_cell_bias",
    "peep": "weight_peephole",
    "w_hr": "weight_hr",
}


def kernel_zoneout(
    draws: Sequence[int], state: int, p: float, *, sizes: Sequence[int], size: int, device: torch.device
) -> Zoneout:
    """The zoneout of state tensor ``state`` (0 for ``h``, 1 for ``c``) as the kernel got it,
    the inverse of :func:`rnnx.fused.function.kernel_draws`: a training draw where its
    threshold is not negative (``draws`` is ``[key_h, threshold_h, key_c, threshold_c,
    *samples]``, keys as signed 64-bit integers), else the evaluation probability ``p``
    (``None`` for none)."""
    key, limit = draws[2 * state], draws[2 * state + 1]
    if limit < 0:
        return p or None
    return ZoneoutDraw(key % 2**64, limit, SampleRows(tuple(draws[4:]), tuple(sizes)), size, device)


def recomputed_gradients(
    cell: CellStep,
    inputs: ScanTensors,
    grads: Sequence[Tensor | None],
    needs: Sequence[bool],
    *,
    sizes: Sequence[int],
    reverse: bool,
    zoneout: Sequence[Zoneout],
) -> list[Tensor | None]:
    """The gradients of the fused scan's tensor arguments, with their graph.

    Args:
        cell: the reference step the kernel computes.
        inputs: the kernel's tensor arguments (:class:`rnnx.fused.arguments.ScanTensors`).
        grads: the gradients of ``out (N, P)``, ``h_n (B, P)`` and (LSTM) ``c_n (B, H)``;
            ``None`` for an output that does not reach the loss.
        needs: per input, whether its gradient is wanted.
        sizes: rows per step; ``reverse`` and ``zoneout`` (one per state tensor) as the kernel ran.

    Returns:
        One gradient per input, ``None`` where not wanted or not reached.
    """
    gi, h0, c0 = inputs.gi, inputs.h0, inputs.c0
    w = DirectionWeights({kind: getattr(inputs, name) for name, kind in _WEIGHT_KINDS.items()}, inputs.mask)
    state0 = (h0, c0) if c0 is not None else (h0,)
    wanted = [(k, t) for k, t in enumerate(inputs) if needs[k] and t is not None and t.requires_grad]
    result: list[Tensor | None] = [None] * len(inputs)
    # In the kernel's dtype, also where the backward is called inside an autocast region.
    with torch.enable_grad(), torch.autocast(gi.device.type, enabled=False):
        out, final = scan(cell, gi, sizes, state0, w, reverse=reverse, zoneout=zoneout)
        pairs = [(y, g) for y, g in zip((out, *final), grads, strict=False) if g is not None]
        if not wanted or not pairs:
            return result
        found = torch.autograd.grad(
            [y for y, _ in pairs],
            [t for _, t in wanted],
            [g for _, g in pairs],
            create_graph=True,
            allow_unused=True,
        )
    for (k, _), g in zip(wanted, found, strict=True):
        result[k] = g
    return result
