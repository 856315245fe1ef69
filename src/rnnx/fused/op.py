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

Both wrap the C++ kernel (``csrc/fused_rnn.cpp``) one to one, and take and return what
:mod:`rnnx.fused.arguments` declares, flattened: the forward the fields of ``ScanTensors`` (the
input projection ``gi``, the initial states, the weights, each optional one ``None`` where the
configuration lacks it) then ``ScanConfig`` (``kind``, see :func:`rnnx.fused.function.fused_kind`;
``sizes``, rows per step; ``draws``, zoneout seeds and thresholds; the evaluation zoneout
probabilities ``p_h`` and ``p_c``), and returns ``ScanResult`` (the layer's output and final
states) then ``SavedBuffers`` (what its backward reads, each empty where the configuration does
not need it). The operators' signatures, and so their schemas, are built from those declarations.
"""

from collections.abc import Sequence
from operator import attrgetter, itemgetter
from typing import Any

import torch
from torch import Tensor

from rnnx.cells import CellStep, ElmanStep, GRUStep, IndRNNStep, LSTMStep
from rnnx.fused.arguments import (
    BACKWARD_ARGUMENTS,
    FORWARD_ARGUMENTS,
    GRADIENT_OF,
    BackwardConfig,
    BackwardTensors,
    SavedBuffers,
    ScanConfig,
    ScanGradients,
    ScanResult,
    ScanTensors,
    backward_arguments,
    forward_arguments,
    signature,
)
from rnnx.fused.build import load_extension
from rnnx.fused.recompute import kernel_zoneout, recomputed_gradients

# Kinds of the C++ kernel (enum Kind in csrc/arguments.h).
LSTM, GRU, RNN_TANH, RNN_RELU, INDRNN_RELU, INDRNN_TANH = range(6)


def _extension() -> Any:
    ext = load_extension()
    if ext is None:
        raise RuntimeError("rnnx: the fused CPU kernels are unavailable; use backend='reference'")
    return ext


def _fused_scan(*inputs: Any) -> list[Tensor]:
    """The kernel's forward: the fields of :class:`ScanTensors` then :class:`ScanConfig` in, those
    of :class:`ScanResult` then :class:`SavedBuffers` out; ``save=False`` keeps one step's
    buffers only."""
    return list(_extension().forward(*inputs))


def _fused_scan_backward(*inputs: Any) -> list[Tensor]:
    """The kernel's backward: the fields of :class:`BackwardTensors` then :class:`BackwardConfig`
    in, those of :class:`ScanGradients` out."""
    return list(_extension().backward(*inputs))


# The operators' signatures (and so their schemas) are the declarations' fields.
_fused_scan.__signature__ = signature(FORWARD_ARGUMENTS, list[Tensor])  # type: ignore[attr-defined]
_fused_scan_backward.__signature__ = signature(BACKWARD_ARGUMENTS, list[Tensor])  # type: ignore[attr-defined]

fused_scan_op = torch.library.custom_op("rnnx::fused_scan", _fused_scan, mutates_args=(), device_types="cpu")
fused_scan_backward_op = torch.library.custom_op(
    "rnnx::fused_scan_backward", _fused_scan_backward, mutates_args=(), device_types="cpu"
)


def _widths(kind: int, p: int, c: Tensor | None) -> tuple[bool, bool, bool, int, int]:
    lstm, gru, ind = kind == LSTM, kind == GRU, kind >= INDRNN_RELU
    h = c.shape[-1] if lstm and c is not None else p
    return lstm, gru, ind, h, (4 if lstm else 3 if gru else 1) * h


@fused_scan_op.register_fake
def _(*inputs: Any) -> list[Tensor]:
    # The allocations of forward_impl in csrc/fused_rnn.cpp, shapes only.
    t, config = forward_arguments(inputs)
    n, b, p = t.gi.shape[0], t.h0.shape[0], t.h0.shape[1]
    lstm, gru, _, h, gh = _widths(config.kind, p, t.c0)
    save, layer_norm = config.save, config.layer_norm
    sn = n if save else b
    proj = t.w_hr is not None and t.w_hr.numel() > 0
    ln_cell = lstm and layer_norm

    def new(*shape: int) -> Tensor:
        return t.gi.new_empty(shape)

    result = ScanResult(out=new(n, p), h=new(b, p), c=new(b, h) if lstm else new(0))
    saved = SavedBuffers(
        h_in=new(sn, p),
        h_prev=new(n if save and gru else b, p),
        acts=new(sn, gh if lstm or gru else h),
        hh=new(n if save and layer_norm else b, gh),
        hh_rstd=new(sn if layer_norm else 0),
        c_prev=new(sn if lstm else 0, h),
        c_cand=new(sn if lstm else 0, h),
        tanh_c=new(sn if lstm else 0, h),
        c_hat=new(sn if ln_cell else 0, h),
        c_rstd=new(sn if ln_cell else 0),
        gh_n=new(sn if gru else 0, h),
        h_full=new(sn if proj else 0, h),
    )
    return [*result, *saved]


@fused_scan_backward_op.register_fake
def _(*inputs: Any) -> list[Tensor]:
    # The outputs of backward_impl in csrc/fused_rnn.cpp, shapes only.
    t, config = backward_arguments(inputs)
    saved = SavedBuffers._make(t.saved)
    n, p, b = saved.h_in.shape[0], saved.h_in.shape[1], t.d_hn.shape[0]
    lstm, gru, ind, h, gh = _widths(config.kind, p, saved.c_prev)
    layer_norm = config.layer_norm
    proj = t.w_hr is not None and t.w_hr.numel() > 0

    def new(*shape: int) -> Tensor:
        return t.d_out.new_empty(shape)

    gradients = ScanGradients(
        d_gi=new(n, gh),
        d_h0=new(b, p),
        d_c0=new(b, h) if lstm else new(0),
        d_w_hh=new(h) if ind else new(gh, p),
        d_b_hh=new(gh if gru else 0),
        d_ln_hh_w=new(gh if layer_norm else 0),
        d_ln_hh_b=new(gh if layer_norm else 0),
        d_ln_c_w=new(h if lstm and layer_norm else 0),
        d_ln_c_b=new(h if lstm and layer_norm else 0),
        d_peep=new(3 if lstm and config.peephole else 0, h),
        d_w_hr=new(p, h) if proj else new(0),
    )
    return list(gradients)


# Where the declarations put things, computed once (the eager path runs this per call).
_N_TENSORS = len(ScanTensors._fields)  # the forward's inputs: its tensors, then its configuration
_N_RESULT = len(ScanResult._fields)  # the forward's outputs: its results, then its saved buffers
_N_SAVED = len(SavedBuffers._fields)  # what _save keeps: the saved buffers, then the tensors
# The backward's configuration, taken by name from the forward's inputs.
_BACKWARD_CONFIG = itemgetter(*(_N_TENSORS + ScanConfig._fields.index(name) for name in BackwardConfig._fields))
# The backward's tensors after its own (the gradients of out, h and c, and the saved buffers) are
# the forward's of the same names.
_BACKWARD_OWN = ("d_out", "d_hn", "d_cn", "saved")
_READ_BY_BACKWARD = attrgetter(*BackwardTensors._fields[len(_BACKWARD_OWN) :])
# Per forward tensor, where its gradient is in the backward's results (None: the mask has none).
_GRADIENT_AT = tuple(None if name is None else ScanGradients._fields.index(name) for name in GRADIENT_OF)
_H_IN, _C_PREV = SavedBuffers._fields.index("h_in"), SavedBuffers._fields.index("c_prev")
_NO_CONFIG_GRADIENTS = (None,) * len(ScanConfig._fields)  # the configuration has no gradients


def _save(ctx: Any, inputs: tuple[Any, ...], output: list[Tensor]) -> None:
    ctx.config = BackwardConfig._make(_BACKWARD_CONFIG(inputs))
    ctx.set_materialize_grads(False)  # no zero-filled gradients for the saved buffers
    # The kernel's buffers, then its tensor arguments: the kernel's backward reads the weights,
    # a double backward (create_graph=True) runs the forward again from all of them.
    ctx.save_for_backward(*output[_N_RESULT:], *inputs[:_N_TENSORS])


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
    """Gradients of the forward's tensor arguments (one per field of :class:`ScanTensors`), from
    those of out, h and c: the kernel's (first order), or with their graph
    (:mod:`rnnx.fused.recompute`) when autograd asks for one."""
    config: BackwardConfig = ctx.config
    kept = ctx.saved_tensors
    saved, tensors = kept[:_N_SAVED], ScanTensors._make(kept[_N_SAVED:])
    d_out, d_h, d_c = grads[:_N_RESULT]  # those of ScanResult; the saved buffers are internal
    if torch.is_grad_enabled():  # backward(create_graph=True)
        widths = (tensors.h0.shape[1],) if tensors.c0 is None else (tensors.h0.shape[1], tensors.c0.shape[1])
        zoneout = [
            kernel_zoneout(config.draws, k, p, sizes=config.sizes, size=width, device=tensors.gi.device)
            for k, (p, width) in enumerate(zip((config.p_h, config.p_c), widths, strict=False))
        ]
        return tuple(
            recomputed_gradients(
                _reference_step(config.kind, layer_norm=config.layer_norm, peephole=config.peephole),
                tensors,
                (d_out, d_h, d_c)[: 1 + len(zoneout)],  # out, h, (c)
                ctx.needs_input_grad[:_N_TENSORS],
                sizes=config.sizes,
                reverse=config.reverse,
                zoneout=zoneout,
            )
        )
    # (N, P) and (N, H): P is proj_size where there is one.
    h_in, c_prev, batch = saved[_H_IN], saved[_C_PREV], config.sizes[0] if config.sizes else 0
    d_out = torch.zeros_like(h_in) if d_out is None else d_out.contiguous()
    d_h = h_in.new_zeros(batch, h_in.shape[1]) if d_h is None else d_h.contiguous()
    has_c = tensors.c0 is not None
    d_c = None if not has_c else (c_prev.new_zeros(batch, c_prev.shape[1]) if d_c is None else d_c.contiguous())
    # BackwardTensors, then BackwardConfig, in; ScanGradients out.
    gradients = run_backward(d_out, d_h, d_c, list(saved), *_READ_BY_BACKWARD(tensors), *config)
    # Each given tensor's gradient; the kernel's are empty for those it was not given. (One place
    # per tensor: tests/test_fused_arguments.py.)
    return tuple(
        [None if at is None or t is None else gradients[at] for at, t in zip(_GRADIENT_AT, tensors, strict=False)]
    )


def _op_backward(ctx: Any, grads: list[Tensor | None]) -> tuple[Tensor | None, ...]:
    return (*_gradients(ctx, grads, fused_scan_backward_op), *_NO_CONFIG_GRADIENTS)


fused_scan_op.register_autograd(_op_backward, setup_context=_save)


class FusedScan(torch.autograd.Function):
    """Eager mode's form of ``rnnx::fused_scan``: the same arguments, outputs and gradients."""

    @staticmethod
    def forward(ctx: Any, *inputs: Any) -> tuple[Tensor, ...]:
        output = _fused_scan(*inputs)
        _save(ctx, inputs, output)
        ctx.mark_non_differentiable(*output[_N_RESULT:])
        return tuple(output)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        return (*_gradients(ctx, grads, _fused_scan_backward), *_NO_CONFIG_GRADIENTS)


def fused_scan_node(*inputs: Any) -> list[Tensor]:
    """``rnnx::fused_scan`` inside ``torch.compile``, :class:`FusedScan` otherwise; arguments and
    outputs as :func:`fused_scan_op`'s."""
    if torch.compiler.is_compiling():
        return list(fused_scan_op(*inputs))
    return list(FusedScan.apply(*inputs))  # type: ignore[no-untyped-call]
