"""The native backend: PyTorch's fused recurrent kernels (cuDNN on GPU, oneDNN or ATen on CPU),
called exactly as ``torch.nn`` calls them, and what of rnnx they cannot run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import _VF, Tensor

from rnnx.backends.call import LayerCall, LayerResult
from rnnx.backends.onednn import native_autocast_unsupported
from rnnx.cells import CellStep, State
from rnnx.recurrence.regularize import call_masks

_LAYER_OPS: dict[str, Callable[..., Any]] = {
    "RNN_TANH": _VF.rnn_tanh,
    "RNN_RELU": _VF.rnn_relu,
    "GRU": _VF.gru,
    "LSTM": _VF.lstm,
}
_CELL_OPS: dict[str, Callable[..., Any]] = {
    "RNN_TANH": _VF.rnn_tanh_cell,
    "RNN_RELU": _VF.rnn_relu_cell,
    "GRU": _VF.gru_cell,
    "LSTM": _VF.lstm_cell,
}


def native_layer(
    mode: str,
    input: Tensor,
    batch_sizes: Tensor | None,
    state: tuple[Tensor, ...],
    flat_weights: Sequence[Tensor],
    *,
    bias: bool,
    num_layers: int,
    dropout: float,
    training: bool,
    bidirectional: bool,
    batch_first: bool,
    samples: Sequence[int] | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run a whole stacked layer with the fused kernel for ``mode``.

    In training with ``dropout`` between stacked layers, the layers run one kernel call each
    with rnnx's keyed dropout in between (see :mod:`rnnx.recurrence.regularize`).

    Args:
        mode: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"GRU"`` or ``"LSTM"``.
        input: ``(T, B, I)`` (``(B, T, I)`` if ``batch_first``), or packed data ``(N, I)``.
        batch_sizes: the packed sequence's batch sizes, or ``None`` for a padded input.
        state: initial state, each ``(L*D, B, size)``, in the packed (sorted) batch order.
        flat_weights: the parameters in ``torch.nn``'s flat order.
        samples: the global sample index of each (sorted) batch row, for the dropout masks;
            ``None``: the rows' positions plus :func:`rnnx.sample_offset`'s offset.

    Returns:
        ``(output, final_state)`` as the kernel returns them.
    """
    op = _LAYER_OPS[mode]
    if training and dropout > 0 and num_layers > 1:
        return _layer_by_layer(
            op, mode, input, batch_sizes, state, flat_weights, bias=bias, num_layers=num_layers, dropout=dropout,
            bidirectional=bidirectional, batch_first=batch_first, samples=samples,
        )  # fmt: skip
    hx: Tensor | tuple[Tensor, ...] = state if mode == "LSTM" else state[0]
    flags = (bias, num_layers, dropout, training, bidirectional)
    if batch_sizes is None:
        result = op(input, hx, flat_weights, *flags, batch_first)
    else:
        result = op(input, batch_sizes, hx, flat_weights, *flags)
    return result[0], tuple(result[1:])


def _layer_by_layer(
    op: Callable[..., Any],
    mode: str,
    input: Tensor,
    batch_sizes: Tensor | None,
    state: tuple[Tensor, ...],
    flat_weights: Sequence[Tensor],
    *,
    bias: bool,
    num_layers: int,
    dropout: float,
    bidirectional: bool,
    batch_first: bool,
    samples: Sequence[int] | None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Each layer on its own kernel call, with rnnx's keyed dropout in between (the masks of
    :mod:`rnnx.recurrence.regularize`, the same on every backend), instead of the kernel's."""
    d = 2 if bidirectional else 1
    per_layer = len(flat_weights) // num_layers
    x = input.transpose(0, 1) if batch_first and batch_sizes is None else input  # time-major
    if batch_sizes is None:
        steps, batch = x.shape[:2]
        sizes = [batch] * steps
    else:
        sizes, batch = batch_sizes.tolist(), int(batch_sizes[0])
    masks = call_masks(True, samples, batch, sizes)
    assert masks is not None
    finals = []
    for layer in range(num_layers):
        rows = slice(layer * d, (layer + 1) * d)
        hx: Tensor | tuple[Tensor, ...] = tuple(s[rows] for s in state) if mode == "LSTM" else state[0][rows]
        weights = flat_weights[layer * per_layer : (layer + 1) * per_layer]
        if batch_sizes is None:
            result = op(x, hx, weights, bias, 1, 0.0, True, bidirectional, False)
        else:
            result = op(x, batch_sizes, hx, weights, bias, 1, 0.0, True, bidirectional)
        x = result[0]
        finals.append(tuple(result[1:]))
        if layer < num_layers - 1:
            flat = x.reshape(-1, x.shape[-1])  # the rows of all steps, time-major
            x = masks.dropout(flat, dropout, layer=layer).view_as(x)
    if batch_first and batch_sizes is None:
        x = x.transpose(0, 1)
    return x, tuple(torch.cat(parts) for parts in zip(*finals, strict=True))


def native_cell(
    mode: str,
    input: Tensor,
    state: tuple[Tensor, ...],
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
) -> tuple[Tensor, ...]:
    """One step of the fused cell kernel for ``mode``; shapes ``(B, I)`` and ``(B, size)``."""
    op = _CELL_OPS[mode]
    if mode == "LSTM":
        return tuple(op(input, state, weight_ih, weight_hh, bias_ih, bias_hh))
    return (op(input, state[0], weight_ih, weight_hh, bias_ih, bias_hh),)


def variants_unsupported(
    cell: CellStep, *, zoneout: Sequence[float], recurrent_dropout: float, training: bool
) -> str | None:
    """Why PyTorch's kernels cannot run a module with ``cell`` and these regularisers, or ``None``:
    the cell's own variants (:meth:`CellStep.native_unsupported`), zoneout, and recurrent dropout
    in training (weight drop runs on them: it only changes the weights)."""
    reasons = [r for r in [cell.native_unsupported()] if r]
    if any(zoneout):
        reasons.append("zoneout has no native kernel")
    if recurrent_dropout and training:
        reasons.append("recurrent_dropout has no native kernel in training")
    return "; ".join(reasons) or None


class NativeBackend:
    """:func:`native_layer`: ``torch.nn``'s own kernel for the standard cells."""

    name = "native"

    def unsupported(self, call: LayerCall) -> str | None:
        layer, seq = call.layer, call.seq
        return layer.native_unsupported() or native_autocast_unsupported(
            layer.cell, seq.data, packed=seq.packed, proj_size=layer.proj_size
        )

    def run(self, call: LayerCall, state: State, weights: list[Tensor]) -> LayerResult:
        layer, seq = call.layer, call.seq
        mode = layer.cell.native_mode
        assert mode is not None
        return native_layer(
            mode,
            seq.data,
            seq.batch_sizes,
            state,
            weights,
            bias=layer.bias,
            num_layers=layer.num_layers,
            dropout=layer.dropout,
            training=layer.training,
            bidirectional=layer.bidirectional,
            batch_first=layer.batch_first,
            samples=call.samples(),
        )
