"""The fused recurrence as one autograd node: a drop-in for :func:`rnnx.recurrence.scan`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnx.cells import CellStep, DirectionWeights, ElmanStep, GRUStep, IndRNNStep, LSTMStep, State
from rnnx.fused.arguments import ScanConfig, ScanResult, ScanTensors
from rnnx.fused.build import load_extension, note_unavailable_once, unavailable_reason
from rnnx.fused.op import GRU, INDRNN_RELU, INDRNN_TANH, LSTM, RNN_RELU, RNN_TANH, fused_scan_node
from rnnx.recurrence.regularize import Zoneout, ZoneoutDraw
from rnnx.recurrence.scan import scan


class KernelSpec(NamedTuple):
    """What the kernels compute for a cell: its ``kind`` (:data:`rnnx.fused.op.LSTM`, ...) and
    the options the kernel takes (:class:`rnnx.fused.arguments.ScanConfig`)."""

    kind: int
    layer_norm: bool = False
    peephole: bool = False


# Every KernelSpec, built once (a layer asks for its cell's several times a call), by its values.
_SPECS = {
    (kind, layer_norm, peephole): KernelSpec(kind, layer_norm, peephole)
    for kind in (LSTM, GRU, RNN_TANH, RNN_RELU, INDRNN_RELU, INDRNN_TANH)
    for layer_norm in (False, True)
    for peephole in (False, True)
}


def _spec(kind: int, layer_norm: bool = False, peephole: bool = False) -> KernelSpec:
    return _SPECS[kind, layer_norm, peephole]


def _lstm(cell: LSTMStep) -> KernelSpec:
    return _spec(LSTM, bool(cell.layer_norm), bool(cell.peephole))


def _gru(cell: GRUStep) -> KernelSpec:
    return _spec(GRU, bool(cell.layer_norm))


def _elman(cell: ElmanStep) -> KernelSpec:
    return _spec(RNN_TANH if cell.nonlinearity == "tanh" else RNN_RELU, bool(cell.layer_norm))


def _indrnn(cell: IndRNNStep) -> KernelSpec:
    return _spec(INDRNN_TANH if cell.nonlinearity == "tanh" else INDRNN_RELU)


# Keyed on the exact class: a subclass may change the step, so it has no kernel.
_KERNELS: dict[type[CellStep], Callable[[Any], KernelSpec]] = {
    LSTMStep: _lstm,
    GRUStep: _gru,
    ElmanStep: _elman,
    IndRNNStep: _indrnn,
}


def kernel_spec(cell: CellStep) -> KernelSpec | None:
    """What the kernels compute for ``cell``, or ``None``. Only rnnx's own cells (not
    subclasses, which may change the step) are fused."""
    spec = _KERNELS.get(type(cell))
    return None if spec is None else spec(cell)


def fused_kind(cell: CellStep) -> int | None:
    """The kernel kind that computes ``cell``, or ``None`` (:func:`kernel_spec`)."""
    spec = kernel_spec(cell)
    return None if spec is None else spec.kind


# Cells whose fused kernel was measured faster than PyTorch's own CPU kernel (`rnnx bench`,
# docs/speed.md): torch.nn runs GRU and RNN on CPU as a per-step ATen loop, LSTM on oneDNN, except an
# LSTM with proj_size or on a packed batch, which oneDNN cannot run and torch.nn runs as the same
# slow loop (`rnnx bench --suite packed`: fused 0.04-0.28x of its forward+backward). The fused
# call costs about 40 us more to set up, so below this many steps the native loop wins.
_FASTER_THAN_NATIVE_ON_CPU = {GRU, RNN_TANH, RNN_RELU}
MIN_STEPS_FOR_FUSED = 8


# A standard LSTM, which PyTorch runs on oneDNN: the largest batch at which rnnx's fused kernel
# was measured faster, by instruction set and by whether a backward pass follows (rnnx bench and
# rnnx bench --suite inference, forward+backward or forward alone, ratio to torch.nn.LSTM in
# the same run). AVX2 (AMD EPYC): training 0.60-0.96x at every shape of the peer table (batch 1
# to 128); inference 0.63-0.91x up to batch 64, 1.06x at 128. Elsewhere: on AVX-512 (Intel
# Sapphire Rapids) inference was faster at batch 8 (2.11 against 2.78 ms at 500/8/32/64) and
# slower from 64 (22.8 against 19.7 ms at 100/64/256/256); training on an AVX-512 AMD EPYC was
# faster at batch 8 and 1 (0.80 and 0.87x) and slower from 32 (1.30-1.62x).
_LSTM_FUSED_BATCH = {("AVX2", True): 64, ("AVX2", False): 128}
_LSTM_FUSED_BATCH_ELSEWHERE = 8
# Read once: torch.compile cannot trace the query, and the CPU does not change under a process.
CPU_CAPABILITY = torch.backends.cpu.get_cpu_capability()


def fused_faster(
    cell: CellStep,
    device: torch.device,
    steps: int,
    *,
    proj_size: int = 0,
    packed: bool = False,
    inference: bool = False,
    batch: int = 0,
) -> str | None:
    """Why ``backend="auto"`` takes the fused kernel even where PyTorch's can run the call, or
    ``None`` where PyTorch's is as fast. ``inference``: no gradient will be taken (the forward
    alone is timed), with ``batch`` rows."""
    kind = fused_kind(cell)
    faster = kind in _FASTER_THAN_NATIVE_ON_CPU or (kind == LSTM and (proj_size > 0 or packed))
    capability = CPU_CAPABILITY
    limit = _LSTM_FUSED_BATCH.get((capability, inference), _LSTM_FUSED_BATCH_ELSEWHERE)
    standard_lstm = kind == LSTM and batch <= limit
    if device.type != "cpu" or steps < MIN_STEPS_FOR_FUSED or not (faster or standard_lstm):
        return None
    if not faster:
        what = "inference" if inference else "training"
        return (
            f"rnnx's fused kernel runs LSTM {what} at batch {batch} <= {limit} on CPU ({capability}) over "
            f"{steps} >= {MIN_STEPS_FOR_FUSED} steps faster than PyTorch's"
        )
    what = f"{type(cell).__name__.removesuffix('Step')}{' with proj_size' if proj_size else ''}"
    what += " on a packed batch" if packed else ""
    return f"rnnx's fused kernel runs {what} on CPU over {steps} >= {MIN_STEPS_FOR_FUSED} steps faster than PyTorch's"


def compute_dtype(dtype: torch.dtype, device: torch.device) -> torch.dtype:
    """The dtype the fused kernel computes in for inputs of ``dtype`` on ``device``.

    Outside autocast, ``dtype`` itself. Inside an autocast region for ``device``, float32 for
    every dtype autocast casts (float32, bfloat16, float16): the kernel has no reduced-precision
    arithmetic, so it takes the operands autocast left in its dtype in float32, and the module
    casts its results to the dtypes ``torch.nn`` returns there (:mod:`rnnx.modules.precision`).
    Float64, which autocast leaves alone, stays float64.
    """
    if dtype.is_floating_point and dtype != torch.float64 and torch.is_autocast_enabled(device.type):
        return torch.float32
    return dtype


def fused_unsupported(cell: CellStep, *, dtype: torch.dtype, device: torch.device) -> str | None:
    """Why the fused kernel cannot run this configuration (inputs of ``dtype`` on ``device``, in
    the autocast state of the call), or ``None`` when it can."""
    if fused_kind(cell) is None:
        return f"{type(cell).__name__} has no fused kernel"
    if device.type != "cpu":
        return f"the fused kernels run on CPU; got device {device}"
    if compute_dtype(dtype, device) not in (torch.float32, torch.float64):
        return f"the fused kernels run float32 and float64; got {dtype}"
    if load_extension() is None:
        note_unavailable_once()
        return f"the fused kernels could not be built here: {unavailable_reason()}"
    return None


def _zoneout_argument(z: Zoneout) -> tuple[int, int, float]:
    """``(key, threshold, p)`` for the kernel: a training draw's stream key (as a signed 64-bit
    integer) and threshold, which the kernel computes the mask from (threshold ``-1`` for none),
    and the evaluation probability."""
    if isinstance(z, ZoneoutDraw):
        return z.key - 2**64 if z.key >= 2**63 else z.key, z.threshold, 0.0
    if isinstance(z, Tensor):
        raise TypeError("zoneout: the fused kernel computes its masks from a ZoneoutDraw; got a mask tensor")
    return 0, -1, float(z or 0.0)


def kernel_draws(zoneout: Sequence[Zoneout], batch: int) -> list[int]:
    """The kernel's ``draws``: ``[key_h, threshold_h, key_c, threshold_c]``, followed, when a
    training draw is active, by the global sample index of each of the ``batch`` rows."""
    key_h, threshold_h, _ = _zoneout_argument(zoneout[0])
    key_c, threshold_c, _ = _zoneout_argument(zoneout[1]) if len(zoneout) > 1 else (0, -1, 0.0)
    draws = [key_h, threshold_h, key_c, threshold_c]
    drawn = [z for z in zoneout if isinstance(z, ZoneoutDraw)]
    if drawn:
        samples = drawn[0].rows.samples
        if len(samples) != batch or any(z.rows.samples != samples for z in drawn):
            raise ValueError(f"zoneout: the draws must number the batch's {batch} rows alike")
        draws += samples
    return draws


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
    loop and one autograd node (gradients of any order: :mod:`rnnx.fused.recompute`).

    Under autocast every tensor is taken in :func:`compute_dtype` (float32), and so are the
    results; each tensor's gradient flows back in its own dtype."""
    if not batch_sizes or batch_sizes[0] == 0:  # an empty batch: nothing for the kernel to run
        return scan(cell, gi, batch_sizes, state0, w, reverse=reverse, zoneout=zoneout)
    spec = kernel_spec(cell)
    assert spec is not None
    kind = spec.kind
    zoneout = tuple(zoneout) if zoneout is not None else (None,) * len(state0)
    p_h = _zoneout_argument(zoneout[0])[2]
    p_c = _zoneout_argument(zoneout[1])[2] if len(zoneout) > 1 else 0.0
    draws = kernel_draws(zoneout, state0[0].shape[0])
    tensors = ScanTensors(
        gi=gi,
        h0=state0[0],
        c0=state0[1] if kind == LSTM else None,
        w_hh=w.weight_hh,
        b_hh=w.get("bias_hh") if kind == GRU else None,
        ln_hh_w=w.get("ln_hh_weight"),
        ln_hh_b=w.get("ln_hh_bias"),
        ln_c_w=w.get("ln_cell_weight"),
        ln_c_b=w.get("ln_cell_bias"),
        peep=w.get("weight_peephole") if spec.peephole else None,
        mask=w.hidden_mask,
        w_hr=w.get("weight_hr"),
    )
    # The kernel reads each tensor as one dense row-major block and refuses any other layout
    # (a transposed h0, an expanded mask); contiguous() returns a tensor that already is as it is.
    tensors = ScanTensors._make(None if t is None else t.contiguous() for t in tensors)
    if torch.is_autocast_enabled(gi.device.type):  # the operands autocast cast, in compute_dtype
        dtype = compute_dtype(gi.dtype, gi.device)
        tensors = ScanTensors._make(None if t is None else t.to(dtype) for t in tensors)
    config = ScanConfig(
        kind=kind,
        reverse=reverse,
        layer_norm=spec.layer_norm,
        peephole=spec.peephole,
        # Whole-sequence buffers only when a backward pass can follow.
        save=torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors),
        sizes=list(batch_sizes),
        draws=list(draws),
        p_h=p_h,
        p_c=p_c,
    )
    result = ScanResult._make(fused_scan_node(*tensors, *config)[: len(ScanResult._fields)])
    return result.out, ((result.h, result.c) if kind == LSTM else (result.h,))
