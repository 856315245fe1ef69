"""Calls into PyTorch's fused recurrent kernels, exactly as ``torch.nn`` makes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import _VF, Tensor

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
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run a whole stacked layer with the fused kernel for ``mode``.

    Args:
        mode: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"GRU"`` or ``"LSTM"``.
        input: ``(T, B, I)`` (``(B, T, I)`` if ``batch_first``), or packed data ``(N, I)``.
        batch_sizes: the packed sequence's batch sizes, or ``None`` for a padded input.
        state: initial state, each ``(L*D, B, size)``, in the packed (sorted) batch order.
        flat_weights: the parameters in ``torch.nn``'s flat order.

    Returns:
        ``(output, final_state)`` as the kernel returns them.
    """
    op = _LAYER_OPS[mode]
    hx: Tensor | tuple[Tensor, ...] = state if mode == "LSTM" else state[0]
    flags = (bias, num_layers, dropout, training, bidirectional)
    if batch_sizes is None:
        result = op(input, hx, flat_weights, *flags, batch_first)
    else:
        result = op(input, batch_sizes, hx, flat_weights, *flags)
    return result[0], tuple(result[1:])


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
