"""The reference backend: the cell's equations (:mod:`rnnx.cells`) run by rnnx's own machinery
(:mod:`rnnx.recurrence`), every variant and input form, differentiable to any order."""

from __future__ import annotations

from torch import Tensor

from rnnx.backends.call import LayerCall, LayerResult
from rnnx.cells import State
from rnnx.recurrence import ScanFn, run_stack, scan


def run_recurrence(call: LayerCall, state: State, weights: list[Tensor], scan_fn: ScanFn) -> LayerResult:
    """Run ``call`` through :func:`rnnx.recurrence.run_stack` with the time loop ``scan_fn``.

    A padded ``(T, B, I)`` input is handed over as the packed layout with ``B`` rows per step (a
    free reshape); each row's global sample index keys its random masks (:meth:`LayerCall.samples`).
    """
    layer, seq = call.layer, call.seq
    if seq.batch_sizes is not None:
        x, batch_sizes = seq.data, seq.batch_sizes.tolist()
    else:
        x = call.time_major()
        steps, batch, features = x.shape
        x = x.reshape(steps * batch, features)
        batch_sizes = [batch] * steps
    out, final = run_stack(
        layer.cell,
        x,
        batch_sizes,
        state,
        layer.direction_weights(weights),
        dropout=layer.dropout,
        training=layer.training,
        zoneout=call.active_zoneout(),
        recurrent_dropout=layer.recurrent_dropout,
        samples=call.samples(),
        scan_fn=scan_fn,
    )
    if seq.batch_sizes is None:
        out = call.batch_layout(out.view(len(batch_sizes), seq.batch, out.shape[-1]))
    return out, final


class ReferenceBackend:
    """Runs every call: :func:`rnnx.recurrence.scan` (or, while :func:`rnnx.trace` records the
    layer, its recording loop) under :func:`rnnx.recurrence.run_stack`."""

    name = "reference"

    def unsupported(self, call: LayerCall) -> str | None:
        return None

    def run(self, call: LayerCall, state: State, weights: list[Tensor]) -> LayerResult:
        return run_recurrence(call, state, weights, call.traced or scan)
