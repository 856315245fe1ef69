"""The time loop as one graph operation, for export: every cell over any sequence length.

:func:`rnnx.recurrence.scan` is a Python loop over time steps, which an exporter that traces
Python (``torch.export``, ``torch.onnx.export(..., dynamo=True)``) would unroll for the example's
length. :func:`graph_stack` runs the same cell steps through ``torch``'s ``scan`` operator instead,
so the exported program holds one loop whose length is the input's (an ONNX ``Scan``), and
the sequence length and batch stay dynamic.

It runs evaluation only: no random masks (zoneout acts as its expectation), no dropout
between layers, and padded input (a ``PackedSequence`` has data-dependent lengths).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch._higher_order_ops.scan import scan as scan_op

from rnnx.cells.base import CellStep, DirectionWeights, State
from rnnx.recurrence.regularize import apply_zoneout


def graph_scan(
    cell: CellStep,
    gi: Tensor,
    state0: State,
    w: DirectionWeights,
    *,
    reverse: bool = False,
    zoneout: Sequence[float] = (),
) -> tuple[Tensor, State]:
    """Run ``cell`` over ``gi (T, B, G*H)`` (the hoisted input projection) with one scan.

    Returns:
        ``(out, final)``: ``out (T, B, P)``, the emitted ``h`` at every step (in input order
        when ``reverse``); ``final``, the state after the last step processed.
    """
    probabilities = tuple(zoneout) if any(zoneout) else ()

    def step(state: State, g: Tensor) -> tuple[State, Tensor]:
        new = cell.step(g, state, w)
        if probabilities:
            new = apply_zoneout(state, new, probabilities)
        return tuple(new), new[0].clone()  # a fresh output: scan refuses aliases

    final, out = scan_op(step, tuple(state0), gi, reverse=reverse)
    return out, tuple(final)


def graph_stack(
    cell: CellStep,
    x: Tensor,
    state0: State,
    weights: Sequence[Sequence[DirectionWeights]],
    *,
    zoneout: Sequence[float] = (),
) -> tuple[Tensor, State]:
    """Run ``len(weights)`` layers of ``cell`` in one or two directions over ``x (T, B, I)``.

    Args:
        cell: the cell's step.
        x: the input, time-major.
        state0: initial state, each tensor ``(L*D, B, size)``, indexed ``layer * D + direction``.
        weights: ``weights[layer][direction]``.
        zoneout: zoneout probability per state tensor (empty for none), as its expectation.

    Returns:
        ``(out, final)``: ``out (T, B, D*P)`` with the forward direction first; ``final``
        with each tensor ``(L*D, B, size)``.
    """
    steps, batch = x.shape[0], x.shape[1]
    directions = len(weights[0])
    finals: list[State] = []
    for layer, layer_weights in enumerate(weights):
        outs = []
        for direction, w in enumerate(layer_weights):
            index = layer * directions + direction
            gi = cell.project_input(x.reshape(steps * batch, x.shape[-1]), w).reshape(steps, batch, -1)
            out, final = graph_scan(
                cell, gi, tuple(s[index] for s in state0), w, reverse=direction == 1, zoneout=zoneout
            )
            outs.append(out)
            finals.append(final)
        x = outs[0] if directions == 1 else torch.cat(outs, dim=-1)
    return x, tuple(torch.stack(parts) for parts in zip(*finals, strict=True))
