"""The fused scan as one autograd node, in two forms over the same C++ kernel:

- :class:`FusedScan`, a ``torch.autograd.Function``, for eager mode;
- two PyTorch custom operators, ``rnnx::fused_scan`` and ``rnnx::fused_scan_backward``, with an
  autograd formula and shape-only ("fake") versions, which :func:`fused_scan_node` uses while
  ``torch.compile`` traces, so that the call stays inside the compiled graph as one op.

The custom operators' Python dispatch (argument defaults, pytree flattening) costs about 0.4 ms
per forward+backward in eager mode, as much as a whole small layer, hence the two forms. Both
save the same tensors and share the backward formula: the C++ backward for first-order
gradients; where autograd wants a graph of the gradients (``create_graph=True``: a gradient
penalty, a Hessian-vector product) a differentiable recompute through the reference loop
(:mod:`rnnx.fused.recompute`), which is why the kernel's tensor arguments, the input
projection ``gi`` among them, stay saved beside its buffers.

Both wrap the C++ kernel (``csrc/fused_rnn.cpp``) one to one. The forward returns the layer's
output and final states, then the buffers its backward reads (each empty when the configuration
does not need it). Configuration travels as plain arguments: ``kind`` (see
:func:`rnnx.fused.function.fused_kind`), ``sizes`` (rows per step), ``draws`` (zoneout seeds and
thresholds) and the evaluation zoneout probabilities ``p_h`` and ``p_c``.

This module deliberately has no ``from __future__ import annotations``: ``torch.library`` reads
the operators' schemas from their annotations at run time.
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnx.cells import CellStep, ElmanStep, GRUStep, IndRNNStep, LSTMStep
from rnnx.fused.build import load_extension
from rnnx.fused.recompute import kernel_zoneout, recomputed_gradients

# Kinds of the C++ kernel (enum Kind in csrc/arguments.h).
LSTM, GRU, RNN_TANH, RNN_RELU, INDRNN_RELU, INDRNN_TANH = range(6)


def _extension() -> Any:
    ext = load_extension()
    if ext is None:
        raise RuntimeError("rnnx: the fused CPU kernels are unavailable; use backend='reference'")
    return ext


def _fused_scan(
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
    kind: int,
    reverse: bool,
    layer_norm: bool,
    peephole: bool,
    save: bool,
    sizes: list[int],
    draws: list[int],
    p_h: float,
    p_c: float,
) -> list[Tensor]:
    """``[out (N, P), h (B, P), c (B, H), *saved]``; ``save=False`` keeps one step's buffers only."""
    return list(
        _extension().forward(
            kind, reverse, layer_norm, peephole, save, gi, sizes, h0, c0, w_hh, b_hh,
            ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, peep, mask, draws, p_h, p_c, w_hr,
        )
    )  # fmt: skip


fused_scan_op = torch.library.custom_op("rnnx::fused_scan", _fused_scan, mutates_args=(), device_types="cpu")


def _widths(kind: int, p: int, c: Tensor | None) -> tuple[bool, bool, bool, int, int]:
    lstm, gru, ind = kind == LSTM, kind == GRU, kind >= INDRNN_RELU
    h = c.shape[-1] if lstm and c is not None else p
    return lstm, gru, ind, h, (4 if lstm else 3 if gru else 1) * h


@fused_scan_op.register_fake
def _(
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
    kind: int,
    reverse: bool,
    layer_norm: bool,
    peephole: bool,
    save: bool,
    sizes: list[int],
    draws: list[int],
    p_h: float,
    p_c: float,
) -> list[Tensor]:
    # The allocations of forward_impl in csrc/fused_rnn.cpp, shapes only.
    n, b, p = gi.shape[0], h0.shape[0], h0.shape[1]
    lstm, gru, _, h, gh = _widths(kind, p, c0)
    sn = n if save else b
    proj = w_hr is not None and w_hr.numel() > 0
    ln_cell = lstm and layer_norm

    def new(*shape: int) -> Tensor:
        return gi.new_empty(shape)

    return [
        new(n, p),  # out
        new(b, p),  # h
        new(b, h) if lstm else new(0),  # c
        new(sn, p),  # h_in
        new(n if save and gru else b, p),  # h_prev
        new(sn, gh if lstm or gru else h),  # acts
        new(n if save and layer_norm else b, gh),  # hh
        new(sn if layer_norm else 0),  # hh_rstd
        new(sn if lstm else 0, h),  # c_prev
        new(sn if lstm else 0, h),  # c_cand
        new(sn if lstm else 0, h),  # tanh_c
        new(sn if ln_cell else 0, h),  # c_hat
        new(sn if ln_cell else 0),  # c_rstd
        new(sn if gru else 0, h),  # gh_n
        new(sn if proj else 0, h),  # h_full
    ]


def _fused_scan_backward(
    d_out: Tensor,
    d_hn: Tensor,
    d_cn: Tensor | None,
    saved: list[Tensor],
    w_hh: Tensor,
    ln_hh_w: Tensor | None,
    ln_c_w: Tensor | None,
    peep: Tensor | None,
    mask: Tensor | None,
    w_hr: Tensor | None,
    kind: int,
    reverse: bool,
    layer_norm: bool,
    peephole: bool,
    sizes: list[int],
    draws: list[int],
    p_h: float,
    p_c: float,
) -> list[Tensor]:
    """``[d_gi, d_h0, d_c0, d_w_hh, d_peephole, d_b_hh, d_ln_hh_w, d_ln_hh_b, d_ln_cell_w,
    d_ln_cell_b, d_w_hr]``, each empty where the configuration lacks it."""
    return list(
        _extension().backward(
            kind, reverse, layer_norm, peephole, sizes, d_out, d_hn, d_cn, saved, w_hh,
            ln_hh_w, ln_c_w, peep, mask, draws, p_h, p_c, w_hr,
        )
    )  # fmt: skip


fused_scan_backward_op = torch.library.custom_op(
    "rnnx::fused_scan_backward", _fused_scan_backward, mutates_args=(), device_types="cpu"
)


@fused_scan_backward_op.register_fake
def _(
    d_out: Tensor,
    d_hn: Tensor,
    d_cn: Tensor | None,
    saved: list[Tensor],
    w_hh: Tensor,
    ln_hh_w: Tensor | None,
    ln_c_w: Tensor | None,
    peep: Tensor | None,
    mask: Tensor | None,
    w_hr: Tensor | None,
    kind: int,
    reverse: bool,
    layer_norm: bool,
    peephole: bool,
    sizes: list[int],
    draws: list[int],
    p_h: float,
    p_c: float,
) -> list[Tensor]:
    # The outputs of backward_impl in csrc/fused_rnn.cpp, shapes only.
    n, p, b = saved[0].shape[0], saved[0].shape[1], d_hn.shape[0]
    lstm, gru, ind, h, gh = _widths(kind, p, saved[5])
    proj = w_hr is not None and w_hr.numel() > 0

    def new(*shape: int) -> Tensor:
        return d_out.new_empty(shape)

    return [
        new(n, gh),  # d_gi
        new(b, p),  # d_h0
        new(b, h) if lstm else new(0),  # d_c0
        new(h) if ind else new(gh, p),  # d_w_hh
        new(3 if lstm and peephole else 0, h),  # d_peephole
        new(gh if gru else 0),  # d_b_hh
        new(gh if layer_norm else 0),  # d_ln_hh_w
        new(gh if layer_norm else 0),  # d_ln_hh_b
        new(h if lstm and layer_norm else 0),  # d_ln_cell_w
        new(h if lstm and layer_norm else 0),  # d_ln_cell_b
        new(p, h) if proj else new(0),  # d_w_hr
    ]


N_TENSORS = 12  # tensor arguments of the forward, before the configuration


def _save(ctx: Any, inputs: tuple[Any, ...], output: list[Tensor]) -> None:
    kind, reverse, layer_norm, peephole, _, sizes, draws, p_h, p_c = inputs[N_TENSORS:]
    ctx.config = (kind, reverse, layer_norm, peephole, sizes, draws, p_h, p_c)
    ctx.set_materialize_grads(False)  # no zero-filled gradients for the saved buffers
    # The kernel's buffers, then its tensor arguments: the kernel's backward reads the weights,
    # a double backward (create_graph=True) runs the forward again from all of them.
    ctx.save_for_backward(*output[3:], *inputs[:N_TENSORS])


def _reference_step(kind: int, *, layer_norm: bool, peephole: bool) -> CellStep:
    """The reference step that the kernel of ``kind`` computes."""
    if kind == LSTM:
        return LSTMStep(layer_norm=layer_norm, peephole=peephole)
    if kind == GRU:
        return GRUStep(layer_norm=layer_norm)
    if kind in (RNN_TANH, RNN_RELU):
        return ElmanStep("tanh" if kind == RNN_TANH else "relu", layer_norm=layer_norm)
    return IndRNNStep("tanh" if kind == INDRNN_TANH else "relu")


def _gradients(ctx: Any, grads: Sequence[Tensor | None], run_backward: Any) -> tuple[Tensor | None, ...]:
    """Gradients of the forward's tensor arguments, from those of out, h and c: the kernel's
    (first order), or with their graph (:mod:`rnnx.fused.recompute`) when autograd asks for one."""
    kind, reverse, layer_norm, peephole, sizes, draws, p_h, p_c = ctx.config
    *saved, gi, h0, c0, w_hh, b_hh, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, peep, mask, w_hr = ctx.saved_tensors
    if torch.is_grad_enabled():  # backward(create_graph=True)
        widths = (h0.shape[1],) if c0 is None else (h0.shape[1], c0.shape[1])
        zoneout = [
            kernel_zoneout(draws, k, p, sizes=sizes, size=width, device=gi.device)
            for k, (p, width) in enumerate(zip((p_h, p_c), widths, strict=False))
        ]
        return tuple(
            recomputed_gradients(
                _reference_step(kind, layer_norm=layer_norm, peephole=peephole),
                (gi, h0, c0, w_hh, b_hh, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, peep, mask, w_hr),
                grads[: 1 + len(zoneout)],  # out, h, (c); the saved buffers are internal
                ctx.needs_input_grad[:N_TENSORS],
                sizes=sizes,
                reverse=reverse,
                zoneout=zoneout,
            )
        )
    d_out, d_h, d_c = grads[:3]  # the saved buffers are internal: their gradients are ignored
    h_in, c_prev = saved[0], saved[5]  # (N, P) and (N, H): P is proj_size where there is one
    batch = sizes[0] if sizes else 0
    d_out = torch.zeros_like(h_in) if d_out is None else d_out.contiguous()
    d_h = h_in.new_zeros(batch, h_in.shape[1]) if d_h is None else d_h.contiguous()
    has_c = c0 is not None
    d_c = None if not has_c else (c_prev.new_zeros(batch, c_prev.shape[1]) if d_c is None else d_c.contiguous())
    # The kernel sums the per-feature gradients (layer-norm gains and biases, GRU's b_hh).
    d_gi, dh0, dc0, d_w, d_peep, d_b_hh, d_ln_hh_w, d_ln_hh_b, d_ln_c_w, d_ln_c_b, d_w_hr = run_backward(
        d_out, d_h, d_c, saved, w_hh, ln_hh_w, ln_c_w, peep, mask, w_hr,
        kind, reverse, layer_norm, peephole, sizes, draws, p_h, p_c,
    )  # fmt: skip
    return (
        d_gi,
        dh0,
        dc0 if has_c else None,
        d_w,
        d_b_hh if b_hh is not None else None,
        d_ln_hh_w if ln_hh_w is not None else None,
        d_ln_hh_b if ln_hh_w is not None else None,
        d_ln_c_w if ln_c_w is not None else None,
        d_ln_c_b if ln_c_w is not None else None,
        d_peep if peep is not None else None,
        None,  # mask
        d_w_hr if w_hr is not None else None,
    )


def _op_backward(ctx: Any, grads: list[Tensor | None]) -> tuple[Tensor | None, ...]:
    return (*_gradients(ctx, grads, fused_scan_backward_op), *([None] * 9))  # none for the configuration


fused_scan_op.register_autograd(_op_backward, setup_context=_save)


class FusedScan(torch.autograd.Function):
    """Eager mode's form of ``rnnx::fused_scan``: the same arguments, outputs and gradients."""

    @staticmethod
    def forward(ctx: Any, *inputs: Any) -> tuple[Tensor, ...]:
        output = _fused_scan(*inputs)
        _save(ctx, inputs, output)
        ctx.mark_non_differentiable(*output[3:])
        return tuple(output)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        return (*_gradients(ctx, grads, _fused_scan_backward), *([None] * 9))


def fused_scan_node(*inputs: Any) -> list[Tensor]:
    """``rnnx::fused_scan`` inside ``torch.compile``, :class:`FusedScan` otherwise; arguments and
    outputs as :func:`fused_scan_op`'s."""
    if torch.compiler.is_compiling():
        return list(fused_scan_op(*inputs))
    return list(FusedScan.apply(*inputs))  # type: ignore[no-untyped-call]
