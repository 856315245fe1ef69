"""Mixed precision: the dtypes a module returns under ``torch.autocast``, those of ``torch.nn``.

Autocast casts the operands of matrix products (``linear``, ``addmm``, ``matmul``...) to its
lower-precision dtype ``a`` (bfloat16 or float16); elementwise operations promote. ``torch.nn``'s
recurrent modules return whatever dtype their implementation ends in, so the dtypes differ by
cell, device and path. Measured with torch 2.13 (float32 modules; ``s0`` is the dtype of the
initial state, the input's when ``hx`` is not given):

=============================  ==============================================================
CPU ``RNN`` / ``RNNCell``      everything ``a``: ``h' = tanh(W x + W h)`` ends in a product
CPU ``GRU`` / ``GRUCell``      ``promote(a, s0)``: ``h' = n + z (h - n)`` reads ``h``; with a
                               float32 input that is float32, with an ``a`` input it is ``a``
CPU ``LSTM`` on oneDNN         everything ``a`` (a padded input of float32 or bfloat16, no
                               ``proj_size``: the oneDNN kernel, which autocast casts)
CPU ``LSTM`` otherwise         ``c`` and ``h`` are ``promote(a, c0)`` (``c' = f c + i g``),
(packed, ``proj_size``),       except that a projected ``h`` ends in a product: ``a``
``LSTMCell``
CUDA, every module             everything ``a`` (cuDNN's layers and the cells are autocast ops;
                               read from PyTorch's autocast op lists, not measured here)
=============================  ==============================================================

Gradients have the dtypes of the tensors they belong to: float32 for the parameters and for a
float32 input, ``a`` for an input given in ``a``. Float64 is left alone by autocast: a float64
module with float64 inputs runs in float64. CPU float16 autocast: ``torch.nn.LSTM`` raises from
oneDNN where it would take the oneDNN kernel ("could not create a primitive descriptor"), so
rnnx's ``backend="native"`` refuses that case with a clear error and ``"auto"`` runs it on the
fused kernel, with the dtypes of the oneDNN row (everything float16).

rnnx returns these dtypes on every backend; the variants take their base cell's row (a
layer-normalised LSTM the LSTM's); IndRNN, which ``torch.nn`` lacks, returns what its
equations give under autocast, ``promote(a, u, s0)`` (its recurrence ``u * h`` is elementwise).
The reference path computes as ``torch.nn``'s generic path does (products in ``a``), the fused
kernel in float32 (it has no bfloat16 arithmetic); both are then cast to the dtypes above.

Accepted inside autocast, as by ``torch.nn``: an input, state or parameter in any dtype autocast
casts (float32, bfloat16, float16) beside one in another; refused with rnnx's errors, as
``torch.nn`` refuses them: float64 beside any other dtype (autocast leaves float64 alone), an
integer input, a wrong shape (:func:`rnnx._checks.check_matches`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rnnx.backends.onednn import autocast_dtype, onednn_runs_lstm
from rnnx.cells import CellStep, ElmanStep, GRUStep, IndRNNStep, LSTMStep

_FAMILIES: dict[type[CellStep], str] = {ElmanStep: "RNN", GRUStep: "GRU", LSTMStep: "LSTM", IndRNNStep: "IndRNN"}


def _family(cell: CellStep) -> str | None:
    """The ``torch.nn`` cell whose dtype rule ``cell`` follows; rnnx's own cells only."""
    return _FAMILIES.get(type(cell))


def _promote(*dtypes: torch.dtype) -> torch.dtype:
    out = dtypes[0]
    for d in dtypes[1:]:
        out = torch.promote_types(out, d)
    return out


def layer_result_dtypes(
    cell: CellStep, input: Tensor, state: Sequence[Tensor], parameter: Tensor, *, packed: bool, proj_size: int
) -> tuple[torch.dtype, tuple[torch.dtype, ...]] | None:
    """``(output dtype, dtype of each final state)`` a layer returns under autocast, or ``None``
    outside autocast, for a float64 input (autocast leaves it alone) and for cells of users'.

    Args:
        cell: the layer's cell.
        input: the input (packed data for packed input), before any cast.
        state: the initial state, one tensor per state (zeros of the input's dtype if not given).
        parameter: one of the layer's parameters (all have its dtype, IndRNN's ``u`` too).
        packed: whether the input is a ``PackedSequence``.
        proj_size: the LSTM's projection, 0 for none.
    """
    a = autocast_dtype(input.device)
    if a is None:  # the common case first: one call per forward outside autocast
        return None
    family = _family(cell)
    if family is None or input.dtype == torch.float64:
        return None
    if family == "IndRNN":  # on every device: no torch.nn kernel, the equations' own dtype
        h = _promote(a, parameter.dtype, state[0].dtype)
        return h, (h,)
    if input.device.type != "cpu":
        return a, (a,) * len(state)
    if family == "RNN":
        return a, (a,)
    if family == "GRU":
        h = _promote(a, state[0].dtype)
        return h, (h,)
    if onednn_runs_lstm(input, packed=packed, proj_size=proj_size):
        return a, (a, a)
    c = _promote(a, state[1].dtype)
    h = a if proj_size else c
    return h, (h, c)


def cell_result_dtypes(cell: CellStep, input: Tensor, state: Sequence[Tensor]) -> tuple[torch.dtype, ...] | None:
    """The dtype of each new state a single-step cell returns under autocast, or ``None`` (as
    :func:`layer_result_dtypes`)."""
    a = autocast_dtype(input.device)
    if a is None:
        return None
    family = _family(cell)
    if family is None or family == "IndRNN" or input.dtype == torch.float64:
        return None
    if input.device.type != "cpu" or family == "RNN":
        return (a,) * len(state)
    s = _promote(a, state[-1].dtype)  # GRU: h; LSTM: c, which h' = o tanh(c') also takes
    return (s,) * len(state)


def cast_all(tensors: Sequence[Tensor], dtypes: Sequence[torch.dtype]) -> tuple[Tensor, ...]:
    """Each tensor in its dtype (a differentiable cast; no copy where it already has it)."""
    return tuple(t.to(d) for t, d in zip(tensors, dtypes, strict=True))
