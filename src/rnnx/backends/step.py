"""The step backend: inference over a whole sequence through the streaming step kernel
(:func:`rnnx.fused.stream.infer_sequence`), which ``"auto"`` takes for a single sequence."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rnnx.backends.call import LayerCall, LayerResult
from rnnx.cells import CellStep, DirectionWeights, State
from rnnx.fused.function import fused_kind
from rnnx.fused.stream import StackKernel, evaluation_zoneout, infer_sequence, sequence_faster


class StepBackend:
    """One C++ call per step for the whole stack, weights packed once per module; no autograd.
    Not requestable: ``"auto"`` runs it where it was measured fastest."""

    name = "step"

    def unsupported(self, call: LayerCall) -> str | None:
        if self.faster(call) is None:
            return "the step kernel runs inference of a unidirectional CPU layer on one padded sequence"
        return None

    def faster(self, call: LayerCall) -> str | None:
        """Why the step kernel is the fastest for ``call`` (:func:`rnnx.fused.stream.sequence_faster`), or ``None``."""
        layer, seq = call.layer, call.seq
        return sequence_faster(
            layer.cell,
            device=seq.data.device,
            dtype=seq.data.dtype,
            batch=seq.batch,
            bidirectional=layer.bidirectional,
            packed=seq.packed,
            training=layer.training,
        )

    def run(self, call: LayerCall, state: State, weights: list[Tensor]) -> LayerResult:
        layer = call.layer
        layers = [d[0] for d in layer.direction_weights(weights)]
        zoneout = evaluation_zoneout(layer.zoneout)
        x = call.time_major().contiguous()
        output, final = infer_sequence(layer, layer.cell, layers, zoneout, weights, x, state)
        return call.batch_layout(output), final


def stream_kernel(
    cell: CellStep,
    layers: Sequence[DirectionWeights],
    zoneout: Sequence[float],
    weights: Sequence[Tensor],
    state: State,
    like: Tensor,
) -> tuple[StackKernel, State] | None:
    """The compiled step of :class:`rnnx.Stream` for a stack of ``cell``, with its state buffers
    (copies of ``state``, which the kernel updates in place), or ``None`` where the kernel cannot
    run it: a cell without a kernel (a user's), weights not all of ``like``'s dtype and device, or
    a dtype other than float32 and float64.

    Args:
        layers: each layer's weights (one direction).
        zoneout: the module's zoneout probabilities (the kernel runs their expectation).
        weights: the flat weights the kernel watches for changes.
        state: ``(h,)`` or ``(h, c)``, each ``(L, B, size)``.
        like: the step's input.
    """
    if fused_kind(cell) is None:
        return None
    dtypes = {t.dtype for t in weights}
    if dtypes != {like.dtype} or like.dtype not in (torch.float32, torch.float64):
        return None
    if any(t.device != like.device for t in weights):
        return None
    p = evaluation_zoneout(zoneout)
    buffers = tuple(s.detach().to(like.dtype).contiguous().clone() for s in state)
    c = buffers[1] if len(buffers) > 1 else buffers[0].new_empty(0)
    kernel = StackKernel(cell, layers, [p] * len(layers), buffers[0], c, list(weights))
    return kernel, buffers
