"""The fused scan's arguments and results, declared once.

Each entry point of the kernel (``csrc/fused_rnn.cpp``) and each Python form of it (the custom
operators ``rnnx::fused_scan`` and ``rnnx::fused_scan_backward``, their shape-only versions, the
eager :class:`rnnx.fused.op.FusedScan`) takes and returns these tuples' fields, flattened, in
this order: the operators' signatures (and so their schemas) are built from the fields and
their annotations (:func:`signature`), and the C++ side declares the same lists
(``csrc/arguments.h``), which ``tests/test_fused_arguments.py`` checks against these.

Sizes, as in ``csrc/arguments.h``: ``N = sum(sizes)`` rows (all steps stacked time-major),
``B = sizes[0]`` sequences, ``P`` the width of ``h``, ``H`` the cell's width (``P``, except for
an LSTM with ``w_hr``), ``G`` gate blocks (4 LSTM, 3 GRU, else 1).

This module deliberately has no ``from __future__ import annotations``: the annotations are
the operators' types, read at run time.
"""

import inspect
from collections.abc import Sequence
from typing import Any, NamedTuple

from torch import Tensor


class ScanTensors(NamedTuple):
    """The forward's tensor arguments, before its :class:`ScanConfig`. Each is dense, contiguous
    and of ``gi``'s dtype; an optional one is ``None`` exactly where the configuration lacks it."""

    gi: Tensor
    """``(N, G*H)``: the input projection ``W_ih x + b``, every step's rows."""
    h0: Tensor
    """``(B, P)``: the initial hidden state."""
    c0: Tensor | None
    """``(B, H)``: the initial cell state (LSTM only)."""
    w_hh: Tensor
    """``(G*H, P)``; IndRNN's ``(H,)``: the recurrent weights."""
    b_hh: Tensor | None
    """``(G*H,)``: the recurrent bias, GRU only (the other cells fold it into ``gi``)."""
    ln_hh_w: Tensor | None
    """``(G*H,)``: the recurrent product's layer-norm gain (``layer_norm``)."""
    ln_hh_b: Tensor | None
    """``(G*H,)``: its shift (``layer_norm``)."""
    ln_c_w: Tensor | None
    """``(H,)``: the cell state's layer-norm gain (LSTM with ``layer_norm``)."""
    ln_c_b: Tensor | None
    """``(H,)``: its shift (LSTM with ``layer_norm``)."""
    peep: Tensor | None
    """``(3, H)``: the peephole weights of the input, forget and output gates (``peephole``)."""
    mask: Tensor | None
    """``(B, P)``: the recurrent dropout mask, already scaled, or ``None`` for none."""
    w_hr: Tensor | None
    """``(P, H)``: the LSTM's projection (``proj_size``)."""


class ScanConfig(NamedTuple):
    """The forward's configuration, after its :class:`ScanTensors`."""

    kind: int
    """The cell: :data:`rnnx.fused.op.LSTM`, ``GRU``, ``RNN_TANH``, ``RNN_RELU``, ``INDRNN_RELU``
    or ``INDRNN_TANH``."""
    reverse: bool
    """Run the steps last to first."""
    layer_norm: bool
    """The cell normalises its recurrent product (and an LSTM its cell state)."""
    peephole: bool
    """The LSTM's gates read the cell state."""
    save: bool
    """Keep the whole sequence's :class:`SavedBuffers` (``N`` rows) for a backward pass; else one
    step's (``B`` rows)."""
    sizes: list[int]
    """Rows per step, ``T`` of them, non-increasing, each at least 1."""
    draws: list[int]
    """Zoneout's training draws: ``[key_h, threshold_h, key_c, threshold_c]`` (a threshold of
    ``-1`` for none), then, where one is drawn, the global sample index of each of the ``B`` rows
    (:func:`rnnx.fused.function.kernel_draws`)."""
    p_h: float
    """Evaluation zoneout of ``h``, in ``[0, 1)``."""
    p_c: float
    """Evaluation zoneout of ``c``, in ``[0, 1)``."""


class ScanResult(NamedTuple):
    """The forward's results, before its :class:`SavedBuffers`."""

    out: Tensor
    """``(N, P)``: ``h`` at every step."""
    h: Tensor
    """``(B, P)``: the final hidden state."""
    c: Tensor
    """``(B, H)``: the final cell state; empty ``(0,)`` for a cell without one."""


class SavedBuffers(NamedTuple):
    """What the forward leaves for its backward, after the :class:`ScanResult`. ``S`` rows: ``N``
    with ``save``, else ``B`` (one step's scratch, which no backward can read). A buffer the
    configuration does not use has 0 rows."""

    h_in: Tensor
    """``(S, P)``: ``h`` entering ``W_hh`` (after the recurrent dropout mask)."""
    h_prev: Tensor
    """``(N, P)`` for a GRU with ``save``, else ``(B, P)``: the state before each step."""
    acts: Tensor
    """``(S, G*H)`` for LSTM and GRU, else ``(S, H)``: the gate activations (the candidate ``h``)."""
    hh: Tensor
    """``(N, G*H)`` with ``layer_norm`` and ``save``, else ``(B, G*H)``: ``W_hh h``, or its
    normalised value."""
    hh_rstd: Tensor
    """``(S,)`` with ``layer_norm``: the recurrent product's inverse standard deviation."""
    c_prev: Tensor
    """``(S, H)``, LSTM: the cell state before each step."""
    c_cand: Tensor
    """``(S, H)``, LSTM: the new cell state before zoneout."""
    tanh_c: Tensor
    """``(S, H)``, LSTM: ``tanh`` of the (normalised) cell state."""
    c_hat: Tensor
    """``(S, H)``, LSTM with ``layer_norm``: the normalised cell state."""
    c_rstd: Tensor
    """``(S,)``, LSTM with ``layer_norm``: the cell state's inverse standard deviation."""
    gh_n: Tensor
    """``(S, H)``, GRU: ``W_hn h + b_hn`` (after the layer norm), which ``r`` scales."""
    h_full: Tensor
    """``(S, H)``, LSTM with ``w_hr``: ``o * tanh(c)``, before the projection."""


class BackwardTensors(NamedTuple):
    """The backward's tensor arguments, before its :class:`BackwardConfig`: the gradients of the
    :class:`ScanResult`, the forward's :class:`SavedBuffers` and the :class:`ScanTensors` that
    the backward reads, named as there."""

    d_out: Tensor
    """``(N, P)``: the gradient of ``out``."""
    d_hn: Tensor
    """``(B, P)``: the gradient of the final ``h``."""
    d_cn: Tensor | None
    """``(B, H)``: the gradient of the final ``c`` (LSTM only)."""
    saved: list[Tensor]
    """The :class:`SavedBuffers` of a forward run with ``save``, in their order."""
    w_hh: Tensor
    ln_hh_w: Tensor | None
    ln_c_w: Tensor | None
    peep: Tensor | None
    mask: Tensor | None
    w_hr: Tensor | None


class BackwardConfig(NamedTuple):
    """The backward's configuration, after its :class:`BackwardTensors`: the forward's
    :class:`ScanConfig` but ``save``, named as there."""

    kind: int
    reverse: bool
    layer_norm: bool
    peephole: bool
    sizes: list[int]
    draws: list[int]
    p_h: float
    p_c: float


class ScanGradients(NamedTuple):
    """The backward's results: the gradient of each of the :class:`ScanTensors` but the mask,
    ``d_`` and its name, of its shape; each empty ``(0,)`` (or with 0 rows) where the
    configuration lacks the tensor. The kernel sums the per-feature ones over all rows."""

    d_gi: Tensor
    d_h0: Tensor
    d_c0: Tensor
    d_w_hh: Tensor
    d_b_hh: Tensor
    d_ln_hh_w: Tensor
    d_ln_hh_b: Tensor
    d_ln_c_w: Tensor
    d_ln_c_b: Tensor
    d_peep: Tensor
    d_w_hr: Tensor


FORWARD_ARGUMENTS = (ScanTensors, ScanConfig)
"""The forward's arguments: these tuples' fields, in order."""
FORWARD_RESULTS = (ScanResult, SavedBuffers)
"""The forward's results: these tuples' fields, in order."""
BACKWARD_ARGUMENTS = (BackwardTensors, BackwardConfig)
BACKWARD_RESULTS = (ScanGradients,)

GRADIENT_OF = tuple(f"d_{name}" if f"d_{name}" in ScanGradients._fields else None for name in ScanTensors._fields)
"""Per field of :class:`ScanTensors`, the field of :class:`ScanGradients` that holds its gradient
(``None`` for the mask, which has none)."""


def forward_arguments(inputs: Sequence[Any]) -> tuple[ScanTensors, ScanConfig]:
    """The forward's arguments, flat as the operator takes them, as their two tuples."""
    n = len(ScanTensors._fields)
    return ScanTensors._make(inputs[:n]), ScanConfig._make(inputs[n:])


def backward_arguments(inputs: Sequence[Any]) -> tuple[BackwardTensors, BackwardConfig]:
    """The backward's arguments, flat as the operator takes them, as their two tuples."""
    n = len(BackwardTensors._fields)
    return BackwardTensors._make(inputs[:n]), BackwardConfig._make(inputs[n:])


def fields(declarations: Sequence[Any]) -> list[tuple[str, Any]]:
    """``(name, annotation)`` of each field of the NamedTuples ``declarations``, in order."""
    return [(name, d.__annotations__[name]) for d in declarations for name in d._fields]


def signature(declarations: Sequence[Any], returns: Any) -> inspect.Signature:
    """The signature of a function taking the fields of ``declarations`` in order, as
    :func:`inspect.signature` reports it (``torch.library`` infers an operator's schema so)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter(name, kind, annotation=hint) for name, hint in fields(declarations)]
    return inspect.Signature(parameters, return_annotation=returns)
