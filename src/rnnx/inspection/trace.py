"""``rnnx.trace``: record every step of the recurrent layers in a model.

Usage::

    with rnnx.trace(model) as tr:
        model(x)
    tr["encoder.lstm"][0]["f"]  # forget gate of layer 0, forward direction, (T, B, H)

While a trace is active, each traced layer runs the reference time loop (whatever its
``backend``) with a loop that also keeps each step's gate activations (cells report them
through the ``record`` keyword of :meth:`rnnx.cells.CellStep.step`) and state. The steps are
the very ones :func:`rnnx.recurrence.scan` runs, so outputs and gradients are those of the
reference path. Outside a trace a layer pays one ``is None`` check per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import torch
from torch import Tensor, nn

from rnnx.backends import SequenceBatch
from rnnx.cells import CellStep, DirectionWeights, GateRecord, State
from rnnx.inspection.records import CallTrace, DirectionTrace, lengths_of, pad_steps
from rnnx.modules import RecurrentCell, RecurrentLayer
from rnnx.recurrence.regularize import Zoneout
from rnnx.recurrence.scan import scan


@dataclass
class LiveStates:
    """The ``h`` tensors of one layer direction as the graph holds them (for
    :func:`rnnx.gradient_flow`): ``steps[t]`` is ``(batch_sizes[t], P)`` in packed order."""

    call: CallTrace
    layer: int
    direction: int
    steps: list[Tensor]
    batch: int
    unsorted: Tensor | None


class Trace:
    """The record of a :func:`trace`: one :class:`CallTrace` per call of each traced module.

    ``tr[name]`` is the last call of the module called ``name`` in the model (``""`` for the
    model itself, as in :meth:`torch.nn.Module.named_modules`); :meth:`calls` gives all of them,
    in the order they ran.
    """

    def __init__(self, model: nn.Module, *, keep_graph: bool = False) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"rnnx.trace: model must be a torch.nn.Module; got {type(model).__name__}")
        self.modules = {
            name: module for name, module in model.named_modules() if isinstance(module, RecurrentLayer | RecurrentCell)
        }
        if not self.modules:
            raise ValueError(
                f"rnnx.trace: {type(model).__name__} contains no rnnx recurrent layer or cell to trace "
                "(torch.nn.LSTM and friends are opaque kernels; rnnx.LSTM.from_torch converts them)"
            )
        self.keep_graph = keep_graph
        self.live: list[LiveStates] = []
        self._calls: list[CallTrace | _CellSegment] = []
        self._count: dict[str, int] = {}
        self._layer_calls = 0
        self._active = False

    # -- recording --------------------------------------------------------------------------

    def __enter__(self) -> Trace:
        if self._active:
            raise ValueError("rnnx.trace: this trace is already active")
        busy = [name or type(m).__name__ for name, m in self.modules.items() if m._tracer is not None]
        if busy:
            raise ValueError(f"rnnx.trace: {busy} are already being traced; traces of one module cannot nest")
        for name, module in self.modules.items():
            if isinstance(module, RecurrentLayer):
                module._tracer = _LayerRecorder(self, name)
            else:
                module._tracer = _CellRecorder(self, name, module)
        self._active = True
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for module in self.modules.values():
            del module._tracer  # back to the class's None
        self._active = False

    def _next_call(self, name: str) -> int:
        count = self._count.get(name, 0)
        self._count[name] = count + 1
        return count

    # -- reading ----------------------------------------------------------------------------

    def calls(self, name: str | None = None) -> list[CallTrace]:
        """Every recorded call, in the order they ran; only those of ``name`` if given.

        Raises:
            KeyError: ``name`` is not a traced module.
        """
        if name is not None and name not in self.modules:
            raise KeyError(f"rnnx.trace: no traced module named {name!r}; traced: {list(self.modules)}")
        calls = [c if isinstance(c, CallTrace) else c.materialize() for c in self._calls]
        return [c for c in calls if name is None or c.name == name]

    def __getitem__(self, name: str) -> CallTrace:
        """The last call of the module ``name``.

        Raises:
            KeyError: ``name`` is not a traced module, or it was not called while tracing.
        """
        calls = self.calls(name)
        if not calls:
            raise KeyError(f"rnnx.trace: {name!r} was not called while tracing")
        return calls[-1]

    def __len__(self) -> int:
        return len(self._calls)

    def __repr__(self) -> str:
        return f"Trace(modules={list(self.modules)}, calls={len(self._calls)})"


def trace(model: nn.Module) -> Trace:
    """Record every step of every rnnx recurrent layer and cell in ``model``.

    Use as a context manager; everything ``model`` computes inside is recorded::

        with rnnx.trace(model) as tr:
            out = model(x)
        lstm = tr["lstm"]          # the last call of model.lstm
        lstm[0]["i"]               # input gate, layer 0 forward, (T, B, H)
        lstm[1, 1].h               # h of layer 1, reverse direction, (T, B, P)
        lstm[0].lengths            # (B,), for packed input

    For each call of each :class:`~rnnx.RecurrentLayer` (``rnnx.RNN/LSTM/GRU/IndRNN/Recurrent``)
    the trace holds, per layer and direction, the named gate activations and the state after
    every step, detached copies, each ``(T, B, width)`` (see :mod:`rnnx.inspection.records`).
    A :class:`~rnnx.RecurrentCell` (``rnnx.LSTMCell`` ...) records one step per call; its
    consecutive calls stack in time into one :class:`CallTrace` until the batch size changes or
    a traced layer runs (a decoder's steps after its encoder's call form one call).

    While tracing, the ``native`` and ``fused`` backends give way to the reference loop (the
    same equations; outputs agree to float rounding, and exactly with ``backend="reference"``).
    In training, dropout between layers then draws its masks as the reference path does.

    Args:
        model: any module; the rnnx layers and cells inside it (or it itself) are traced.

    Returns:
        A :class:`Trace`, filled while the ``with`` block runs.

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.
        ValueError: ``model`` contains no rnnx recurrent layer or cell, or one of them is already
            being traced.
    """
    return Trace(model)


class _LayerRecorder:
    """A layer's tracer: gives each forward call a time loop that records it."""

    def __init__(self, owner: Trace, name: str) -> None:
        self.owner = owner
        self.name = name

    def __call__(self, layer: RecurrentLayer, seq: SequenceBatch) -> _TracedScan:
        call = CallTrace(self.name, type(layer).__name__, self.owner._next_call(self.name), layer.num_directions)
        self.owner._calls.append(call)
        self.owner._layer_calls += 1
        return _TracedScan(self.owner, call, seq)


class _TracedScan:
    """:func:`rnnx.recurrence.scan` with a recorder that keeps what each step computed."""

    def __init__(self, owner: Trace, call: CallTrace, seq: SequenceBatch) -> None:
        self.owner = owner
        self.call = call
        self.seq = seq

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
    ) -> tuple[Tensor, State]:
        steps = _Steps(len(batch_sizes))
        out, final = scan(cell, gi, batch_sizes, state0, w, reverse=reverse, zoneout=zoneout, recorder=steps)
        self._record(cell, steps.gates, steps.states, batch_sizes)
        return out, final

    def _record(self, cell: CellStep, gates: list[GateRecord], states: list[State], batch_sizes: Sequence[int]) -> None:
        index = len(self.call.directions)
        layer, direction = divmod(index, self.call.num_directions)
        batch, unsorted = self.seq.batch, self.seq.unsorted_indices
        lengths = lengths_of(batch_sizes)
        if unsorted is not None:
            lengths = lengths.index_select(0, unsorted.cpu())

        def padded(steps: list[Tensor]) -> Tensor:
            return pad_steps([s.detach() for s in steps], batch, unsorted)

        names = list(gates[0])
        self.call.directions.append(
            DirectionTrace(
                layer=layer,
                direction=direction,
                gates={n: padded([g[n] for g in gates]) for n in names},
                states={n: padded([s[k] for s in states]) for k, n in enumerate(cell.state_names)},
                lengths=lengths,
            )
        )
        if self.owner.keep_graph:
            hs = [s[0] for s in states]
            self.owner.live.append(LiveStates(self.call, layer, direction, hs, batch, unsorted))


class _Steps:
    """The :class:`rnnx.recurrence.scan.StepRecorder` of one direction: each step's gate
    activations and kept state, in time order."""

    def __init__(self, steps: int) -> None:
        self.gates: list[GateRecord] = [{} for _ in range(steps)]
        self.states: list[State] = [() for _ in range(steps)]

    def step(self, cell: CellStep, t: int, gi: Tensor, state: State, w: DirectionWeights) -> State:
        return cell.step_recording(gi, state, w, self.gates[t])

    def keep(self, t: int, state: State) -> None:
        self.states[t] = state


class _CellRecorder:
    """A cell module's tracer: one step per call; calls of one batch size stack in time."""

    def __init__(self, owner: Trace, name: str, module: RecurrentCell) -> None:
        self.owner = owner
        self.name = name
        self.module = module
        self.segment: _CellSegment | None = None
        self.pending: GateRecord = {}

    def step(self, cell: CellStep, gi: Tensor, state: State, w: DirectionWeights) -> State:
        self.pending = {}
        return cell.step_recording(gi, state, w, self.pending)

    def emit(self, state: State) -> None:
        batch = state[0].shape[0]
        layer_calls = self.owner._layer_calls
        if self.segment is None or self.segment.batch != batch or self.segment.after != layer_calls:
            call = CallTrace(self.name, type(self.module).__name__, self.owner._next_call(self.name), 1)
            self.segment = _CellSegment(call, batch, self.module.cell.state_names, layer_calls)
            self.owner._calls.append(self.segment)
            if self.owner.keep_graph:
                self.owner.live.append(LiveStates(call, 0, 0, self.segment.live, batch, None))
        self.segment.gates.append({n: g.detach() for n, g in self.pending.items()})
        self.segment.states.append(tuple(s.detach() for s in state))
        if self.owner.keep_graph:
            self.segment.live.append(state[0])


class _CellSegment:
    """Consecutive calls of one cell module with one batch size."""

    def __init__(self, call: CallTrace, batch: int, state_names: tuple[str, ...], after: int) -> None:
        self.call = call
        self.after = after  # layer calls before this segment: a layer call between two steps ends it
        self.batch = batch
        self.state_names = state_names
        self.gates: list[GateRecord] = []
        self.states: list[State] = []
        self.live: list[Tensor] = []

    def materialize(self) -> CallTrace:
        steps = len(self.states)
        if len(self.call.directions) != 1 or self.call.directions[0].lengths[0] != steps:
            names = list(self.gates[0])
            self.call.directions[:] = [
                DirectionTrace(
                    layer=0,
                    direction=0,
                    gates={n: torch.stack([g[n] for g in self.gates]) for n in names},
                    states={n: torch.stack([s[k] for s in self.states]) for k, n in enumerate(self.state_names)},
                    lengths=torch.full((self.batch,), steps, dtype=torch.int64),
                )
            ]
        return self.call
