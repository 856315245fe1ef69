"""The fused recurrence as one autograd node: a drop-in for :func:`rnnx.recurrence.scan`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnx.cells import CellStep, DirectionWeights, ElmanStep, GRUStep, IndRNNStep, LSTMStep, State
from rnnx.fused.build import load_extension
from rnnx.recurrence.regularize import Zoneout, ZoneoutDraw

# Kinds of the C++ kernel (enum Kind in csrc/fused_rnn.cpp).
LSTM, GRU, RNN_TANH, RNN_RELU, INDRNN_RELU, INDRNN_TANH = range(6)


def fused_kind(cell: CellStep) -> int | None:
    """The kernel kind that computes ``cell``, or ``None``. Only rnnx's own cells (not
    subclasses, which may change the step) are fused."""
    kind = type(cell)
    if kind is LSTMStep:
        return LSTM
    if kind is GRUStep:
        return GRU
    if kind is ElmanStep:
        return RNN_TANH if cell.nonlinearity == "tanh" else RNN_RELU  # type: ignore[attr-defined]
    if kind is IndRNNStep:
        return INDRNN_TANH if cell.nonlinearity == "tanh" else INDRNN_RELU  # type: ignore[attr-defined]
    return None


# Cells whose fused kernel was measured faster than PyTorch's own CPU kernel (`rnnx bench`,
# README): torch.nn runs GRU and RNN on CPU as a per-step ATen loop, LSTM on oneDNN, except an
# LSTM with proj_size, which oneDNN cannot run and torch.nn runs as the same slow loop. The fused
# call costs about 40 us more to set up, so below this many steps the native loop wins.
_FASTER_THAN_NATIVE_ON_CPU = {GRU, RNN_TANH, RNN_RELU}
MIN_STEPS_FOR_FUSED = 8


def prefers_fused(cell: CellStep, device: torch.device, steps: int, *, proj_size: int = 0) -> bool:
    """Whether ``backend="auto"`` should take the fused kernel even where native can run."""
    kind = fused_kind(cell)
    faster = kind in _FASTER_THAN_NATIVE_ON_CPU or (kind == LSTM and proj_size > 0)
    return device.type == "cpu" and steps >= MIN_STEPS_FOR_FUSED and faster


def fused_unsupported(cell: CellStep, *, dtype: torch.dtype, device: torch.device) -> str | None:
    """Why the fused kernel cannot run this configuration, or ``None`` when it can."""
    if fused_kind(cell) is None:
        return f"{type(cell).__name__} has no fused kernel"
    if device.type != "cpu":
        return f"the fused kernels run on CPU; got device {device}"
    if dtype not in (torch.float32, torch.float64):
        return f"the fused kernels run float32 and float64; got {dtype}"
    return None


class _FusedScan(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        meta: tuple[int, bool, bool, bool, tuple[int, ...], tuple[int, int, int, int], float, float],
        gi: Tensor,
        h0: Tensor,
        c0: Tensor | None,
        w_hh: Tensor,
        b_hh: Tensor | None,
        ln_hh_w: Tensor | None,
        ln_hh_b: Tensor | None,
        ln_c_w: Tensor | None,
        ln_c_b: Tensor | None,
        peep: Tensor | None,
        mask: Tensor | None,
        w_hr: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        kind, reverse, layer_norm, peephole, sizes, draws, p_h, p_c = meta
        ext = load_extension()
        assert ext is not None
        save = any(ctx.needs_input_grad)  # no backward pass, no whole-sequence buffers
        results = ext.forward(
            kind, reverse, layer_norm, peephole, save, gi, list(sizes), h0, c0, w_hh, b_hh,
            ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, peep, mask, list(draws), p_h, p_c, w_hr,
        )  # fmt: skip
        out, h, c, *saved = results
        ctx.meta = meta
        ctx.has = (c0 is not None, b_hh is not None)
        ctx.save_for_backward(*saved, w_hh, ln_hh_w, ln_c_w, peep, mask, w_hr)
        return out, h, c

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_out: Tensor | None, d_h: Tensor | None, d_c: Tensor | None) -> tuple[Any, ...]:
        kind, reverse, layer_norm, peephole, sizes, draws, p_h, p_c = ctx.meta
        has_c, has_b_hh = ctx.has
        *saved, w_hh, ln_hh_w, ln_c_w, peep, mask, w_hr = ctx.saved_tensors
        h_in, c_prev = saved[0], saved[5]  # (N, P) and (N, H): P is proj_size where there is one
        batch = sizes[0] if sizes else 0
        d_out = torch.zeros_like(h_in) if d_out is None else d_out
        d_h = torch.zeros(h_in.shape[1:], dtype=h_in.dtype).expand(batch, -1) if d_h is None else d_h
        d_c = (
            None
            if not has_c
            else (torch.zeros(c_prev.shape[1:], dtype=h_in.dtype).expand(batch, -1) if d_c is None else d_c)
        )
        ext = load_extension()
        assert ext is not None
        # The kernel sums the per-feature gradients (layer-norm gains and biases, GRU's b_hh).
        d_gi, dh0, dc0, d_w, d_peep, d_b_hh, d_ln_hh_w, d_ln_hh_b, d_ln_c_w, d_ln_c_b, d_w_hr = ext.backward(
            kind, reverse, layer_norm, peephole, list(sizes), d_out, d_h.contiguous(), d_c, saved, w_hh,
            ln_hh_w, ln_c_w, peep, mask, list(draws), p_h, p_c, w_hr,
        )  # fmt: skip
        return (
            None,
            d_gi,
            dh0,
            dc0 if has_c else None,
            d_w,
            d_b_hh if has_b_hh else None,
            d_ln_hh_w if ln_hh_w is not None else None,
            d_ln_hh_b if ln_hh_w is not None else None,
            d_ln_c_w if ln_c_w is not None else None,
            d_ln_c_b if ln_c_w is not None else None,
            d_peep if peep is not None else None,
            None,
            d_w_hr if w_hr is not None else None,
        )


def _zoneout_argument(z: Zoneout) -> tuple[int, int, float]:
    """``(seed, threshold, p)`` for the kernel: a training draw it computes itself (threshold
    ``-1`` for none), and the evaluation probability."""
    if isinstance(z, ZoneoutDraw):
        return z.seed, z.threshold, 0.0
    if isinstance(z, Tensor):
        raise TypeError("zoneout: the fused kernel computes its masks from a ZoneoutDraw; got a mask tensor")
    return 0, -1, float(z or 0.0)


def fused_scan(
    cell: CellStep,
    gi: Tensor,
    batch_sizes: Sequence[int],
    state0: State,
    w: DirectionWeights,
    *,
    reverse: bool = False,
    zoneout: Sequence[Zoneout] | None = None,
) -> tuple[Tensor, State]:
    """:func:`rnnx.recurrence.scan` for the cells of :func:`fused_kind`, as one fused C++
    loop and one autograd node (first-order gradients)."""
    kind = fused_kind(cell)
    assert kind is not None
    zoneout = tuple(zoneout) if zoneout is not None else (None,) * len(state0)
    seed_h, threshold_h, p_h = _zoneout_argument(zoneout[0])
    seed_c, threshold_c, p_c = _zoneout_argument(zoneout[1]) if len(zoneout) > 1 else (0, -1, 0.0)
    layer_norm = bool(getattr(cell, "layer_norm", False))
    peephole = bool(getattr(cell, "peephole", False))
    draws = (seed_h, threshold_h, seed_c, threshold_c)
    meta = (kind, reverse, layer_norm, peephole, tuple(batch_sizes), draws, p_h, p_c)
    out, h, c = _FusedScan.apply(  # type: ignore[no-untyped-call]
        meta,
        gi,
        state0[0],
        state0[1] if kind == LSTM else None,
        w.weight_hh,
        w.get("bias_hh") if kind == GRU else None,
        w.get("ln_hh_weight"),
        w.get("ln_hh_bias"),
        w.get("ln_cell_weight"),
        w.get("ln_cell_bias"),
        w.get("weight_peephole") if peephole else None,
        w.hidden_mask,
        w.get("weight_hr"),
    )
    return out, ((h, c) if kind == LSTM else (h,))
