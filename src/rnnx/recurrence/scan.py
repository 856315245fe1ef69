"""The time loop: run one cell over one sequence batch in one direction.

Every input form is reduced to one layout before it gets here: the rows of all time steps
stacked time-major, ``(N, F)``, with ``batch_sizes[t]`` rows at step ``t``. A padded
``(T, B, F)`` batch is that layout with ``batch_sizes = [B] * T`` (a free reshape); a
``PackedSequence`` already is that layout. At step ``t`` only the first ``batch_sizes[t]``
sequences are active, because packing sorts them by decreasing length.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rnnx.cells.base import CellStep, DirectionWeights, State


def scan(
    cell: CellStep,
    gi: Tensor,
    batch_sizes: Sequence[int],
    state0: State,
    w: DirectionWeights,
    *,
    reverse: bool = False,
) -> tuple[Tensor, State]:
    """Run ``cell`` over the hoisted input projection of a whole sequence batch.

    Args:
        cell: the cell's step.
        gi: ``(N, G*H)``, :meth:`CellStep.project_input` of every row, time-major.
        batch_sizes: rows per time step, non-increasing, summing to ``N``.
        state0: initial state, each tensor ``(batch_sizes[0], size)``.
        w: the weights of this layer and direction.
        reverse: run from the last step to the first.

    Returns:
        ``(out, final)``: ``out`` is ``(N, P)``, the emitted ``h`` for every row in the same
        layout as ``gi``; ``final`` is the state after each sequence's own last step (its
        first step when ``reverse``), each tensor ``(batch_sizes[0], size)``.
    """
    # split() is one autograd node; indexing gi[t] in a loop would make T of them, each
    # scattering its gradient into a full-size buffer (quadratic in T).
    steps = torch.split(gi, list(batch_sizes))
    outputs: list[Tensor] = []
    if not reverse:
        state = state0
        finished: list[State] = []  # states of sequences that ended, shortest last
        for g in steps:
            active = g.shape[0]
            if active < state[0].shape[0]:
                finished.append(tuple(s[active:] for s in state))
                state = tuple(s[:active] for s in state)
            state = cell.step(g, state, w)
            outputs.append(state[0])
        if finished:
            pieces = [state, *reversed(finished)]
            state = tuple(torch.cat(parts) for parts in zip(*pieces, strict=True))
    else:
        state = tuple(s[: batch_sizes[-1]] for s in state0)
        for g in reversed(steps):
            active, current = g.shape[0], state[0].shape[0]
            if active > current:
                # Longer sequences start here, from their own initial state.
                state = tuple(torch.cat([s, s0[current:active]]) for s, s0 in zip(state, state0, strict=True))
            state = cell.step(g, state, w)
            outputs.append(state[0])
        outputs.reverse()
    return torch.cat(outputs), state
