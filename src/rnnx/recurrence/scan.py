"""The time loop: run one cell over one sequence batch in one direction.

Every input form is reduced to one layout before it gets here: the rows of all time steps
stacked time-major, ``(N, F)``, with ``batch_sizes[t]`` rows at step ``t``. A padded
``(T, B, F)`` batch is that layout with ``batch_sizes = [B] * T`` (a free reshape); a
``PackedSequence`` already is that layout. At step ``t`` only the first ``batch_sizes[t]``
sequences are active, because packing sorts them by decreasing length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor

from rnnx.cells.base import CellStep, DirectionWeights, State
from rnnx.recurrence.regularize import Zoneout, apply_zoneout, split_zoneout


class StepRecorder(Protocol):
    """What watches :func:`scan` step by step (:func:`rnnx.trace` does): it computes each step in
    the cell's place, so that it can keep the gate activations, and sees each state the loop
    keeps (after zoneout)."""

    def step(self, cell: CellStep, t: int, gi: Tensor, state: State, w: DirectionWeights) -> State:
        """``cell.step(gi, state, w)`` at time step ``t``, recorded."""
        ...

    def keep(self, t: int, state: State) -> None:
        """The state after step ``t``, the rows active at ``t``."""
        ...


class ScanFn(Protocol):
    """A time loop: what :func:`scan` is, and what may replace it in :func:`rnnx.recurrence.run_stack`
    (rnnx's fused kernel, :func:`rnnx.fused.fused_scan`; the loop :func:`rnnx.trace` records
    with). It takes and returns what :func:`scan` does, for the same result."""

    def __call__(
        self,
        cell: CellStep,
        gi: Tensor,
        batch_sizes: Sequence[int],
        state0: State,
        w: DirectionWeights,
        *,
        reverse: bool = False,
        zoneout: Sequence[Zoneout] | None = None,
    ) -> tuple[Tensor, State]: ...


def scan(
    cell: CellStep,
    gi: Tensor,
    batch_sizes: Sequence[int],
    state0: State,
    w: DirectionWeights,
    *,
    reverse: bool = False,
    zoneout: Sequence[Zoneout] | None = None,
    recorder: StepRecorder | None = None,
) -> tuple[Tensor, State]:
    """Run ``cell`` over the hoisted input projection of a whole sequence batch.

    Args:
        cell: the cell's step.
        gi: ``(N, G*H)``, :meth:`CellStep.project_input` of every row, time-major.
        batch_sizes: rows per time step, non-increasing, summing to ``N``.
        state0: initial state, each tensor ``(batch_sizes[0], size)``.
        w: the weights of this layer and direction (with its recurrent dropout mask).
        reverse: run from the last step to the first.
        zoneout: per state tensor, see :data:`rnnx.recurrence.regularize.Zoneout`.
        recorder: computes and keeps every step (:func:`rnnx.trace`), or ``None``.

    Returns:
        ``(out, final)``: ``out`` is ``(N, P)``, the emitted ``h`` for every row in the same
        layout as ``gi``; ``final`` is the state after each sequence's own last step (its
        first step when ``reverse``), each tensor ``(batch_sizes[0], size)``.
    """
    # split() is one autograd node; indexing gi[t] in a loop would make T of them, each
    # scattering its gradient into a full-size buffer (quadratic in T).
    steps = torch.split(gi, list(batch_sizes))
    keeps = split_zoneout(zoneout, batch_sizes) if zoneout is not None and any(z is not None for z in zoneout) else None
    order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
    outputs: list[Tensor] = []
    finished: list[State] = []  # forward: states of sequences that ended, shortest last
    state = state0 if not reverse else tuple(s[: batch_sizes[-1]] for s in state0)
    for t in order:
        active, current = batch_sizes[t], state[0].shape[0]
        if active < current:  # forward: the last `current - active` sequences have ended
            finished.append(tuple(s[active:] for s in state))
            state = tuple(s[:active] for s in state)
        elif active > current:  # backward: longer sequences start here, from their own state
            state = tuple(torch.cat([s, s0[current:active]]) for s, s0 in zip(state, state0, strict=True))
        new = cell.step(steps[t], state, w) if recorder is None else recorder.step(cell, t, steps[t], state, w)
        state = apply_zoneout(state, new, keeps[t]) if keeps is not None else new
        if recorder is not None:
            recorder.keep(t, state)
        outputs.append(state[0])
    if reverse:
        outputs.reverse()
    if finished:
        pieces = [state, *reversed(finished)]
        state = tuple(torch.cat(parts) for parts in zip(*pieces, strict=True))
    return torch.cat(outputs), state
