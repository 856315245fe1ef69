"""The fused backend: rnnx's C++ kernel (:mod:`rnnx.fused`) as the time loop of the reference
machinery, one autograd node per layer and direction, for the variants too."""

from __future__ import annotations

from torch import Tensor

from rnnx.backends.call import LayerCall, LayerResult
from rnnx.backends.reference import run_recurrence
from rnnx.cells import State
from rnnx.fused import fused_faster, fused_scan, fused_unsupported


class FusedBackend:
    """:func:`rnnx.fused.fused_scan` in place of :func:`rnnx.recurrence.scan`."""

    name = "fused"

    def unsupported(self, call: LayerCall) -> str | None:
        """Why the kernel cannot run ``call`` (a cell without a kernel, a device, a dtype, or an
        extension that did not build here), or ``None``."""
        like = call.seq.data
        return fused_unsupported(call.layer.cell, dtype=like.dtype, device=like.device)

    def faster(self, call: LayerCall) -> str | None:
        """Why the kernel was measured faster than PyTorch's for ``call``, or ``None``
        (:func:`rnnx.fused.fused_faster`)."""
        layer, seq = call.layer, call.seq
        return fused_faster(
            layer.cell,
            seq.data.device,
            seq.steps(layer.batch_first),
            proj_size=layer.proj_size,
            packed=seq.packed,
            inference=call.inference,
            batch=seq.batch,
        )

    def run(self, call: LayerCall, state: State, weights: list[Tensor]) -> LayerResult:
        return run_recurrence(call, state, weights, fused_scan)
