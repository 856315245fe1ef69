"""The two exported forms of a layer call, for programs that run at any sequence length and
batch: ``graph``, the cell's equations as one scan over time (:func:`rnnx.recurrence.graph.graph_stack`,
an ONNX ``Scan`` under ``torch.export``), and ``onnx-lstm``, ONNX's own ``LSTM`` node with its
peephole input (:mod:`rnnx.backends.onnx_lstm`, for the TorchScript-based ONNX exporter).
:func:`rnnx.backends.select.choose_for_export` says which runs."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnx.backends.call import LayerCall, LayerResult
from rnnx.backends.onnx_lstm import onnx_lstm_stack, onnx_lstm_unsupported
from rnnx.cells import State
from rnnx.recurrence.graph import graph_stack


class GraphBackend:
    """The cell's equations in one ``scan`` over time (``torch.export``, ``dynamo=True``)."""

    name = "graph"

    def unsupported(self, call: LayerCall) -> str | None:
        if call.seq.packed:
            return "a PackedSequence's lengths are data"
        return None

    def run(self, call: LayerCall, state: State, weights: list[Tensor]) -> LayerResult:
        layer = call.layer
        output, final = graph_stack(
            layer.cell, call.time_major(), state, layer.direction_weights(weights), zoneout=call.active_zoneout()
        )
        return call.batch_layout(output), final


class OnnxLstmBackend:
    """ONNX's ``LSTM`` node per layer, both directions in it, with the peepholes as its ``P``."""

    name = "onnx-lstm"

    def unsupported(self, call: LayerCall) -> str | None:
        layer = call.layer
        return onnx_lstm_unsupported(
            layer.cell,
            proj_size=layer.proj_size,
            zoneout=layer.zoneout,
            packed=call.seq.packed,
            onnx_export=torch.onnx.is_in_onnx_export(),
        )

    def run(self, call: LayerCall, state: State, weights: list[Tensor]) -> LayerResult:
        layer = call.layer
        output, final = onnx_lstm_stack(
            call.time_major(), state, layer.direction_weights(weights), hidden_size=layer.hidden_size
        )
        return call.batch_layout(output), final
