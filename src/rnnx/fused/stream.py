"""The streaming step kernel's Python side: a whole stack's weights packed for ``csrc/stream.cpp``.

:class:`StackKernel` holds one :class:`rnnx.Stream`'s compiled step: per layer the weights
transposed (so each product is a run of vectorised ``axpy`` over contiguous rows) and the biases
folded the way the cells fold them (``b_hh`` into the input part except for GRU, whose ``b_hn``
sits inside ``r * (...)``; the layer norm's shift with them), and the state ``h (L, B, P)``,
``c (L, B, H)`` it updates in place. It runs evaluation only: no autograd, no training masks;
zoneout acts as its expectation, ``s = s~ + p (s_prev - s~)``.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from types import ModuleType

import torch
from torch import Tensor

from rnnx.cells import CellStep, DirectionWeights
from rnnx.fused.build import STREAM
from rnnx.fused.function import fused_kind, kernel_spec
from rnnx.fused.op import GRU, INDRNN_RELU, LSTM


def _total(*tensors: Tensor | None) -> Tensor | None:
    present = [t for t in tensors if t is not None]
    if not present:
        return None
    out = present[0]
    for t in present[1:]:
        out = out + t
    return out


def pack_layer(cell: CellStep, w: DirectionWeights) -> list[Tensor]:
    """One layer's tensors in the kernel's slot order (an empty tensor for an absent one):
    ``W_ih^T (I, G*H)``, ``W_hh^T (P, G*H)`` (IndRNN: ``u (H,)``), the input-side bias, LN_ih's
    gain, the recurrent-side bias, LN_hh's gain, LN_cell's gain and shift, the peepholes
    ``(3, H)``, ``W_hr^T (H, P)``."""
    spec = kernel_spec(cell)
    kind, layer_norm, peephole = spec if spec is not None else (None, False, False)
    b_ih, b_hh = w.get("bias_ih"), w.get("bias_hh")
    ln_ih_b = w.get("ln_ih_bias") if layer_norm else None
    ln_hh_b = w.get("ln_hh_bias") if layer_norm else None
    if kind == GRU:
        gi_bias, gh_bias = _total(ln_ih_b, b_ih), _total(ln_hh_b, b_hh)
    else:
        gi_bias, gh_bias = _total(ln_ih_b, b_ih, b_hh), ln_hh_b
    w_hh = w.weight_hh if kind is not None and kind >= INDRNN_RELU else w.weight_hh.t()
    w_hr = w.get("weight_hr")
    peep = w.get("weight_peephole") if peephole else None
    slots = [
        w.weight_ih.t(),
        w_hh,
        gi_bias,
        w.get("ln_ih_weight") if layer_norm else None,
        gh_bias,
        w.get("ln_hh_weight") if layer_norm else None,
        w.get("ln_cell_weight") if layer_norm and kind == LSTM else None,
        w.get("ln_cell_bias") if layer_norm and kind == LSTM else None,
        peep,
        None if w_hr is None else w_hr.t(),
    ]
    empty = w.weight_ih.new_empty(0)
    with torch.no_grad():
        return [empty if t is None else t.detach().contiguous().clone() for t in slots]


def _kernel(cell: CellStep) -> tuple[ModuleType, int]:
    """The compiled extension and ``cell``'s kind in it.

    Raises:
        RuntimeError: the kernel cannot be built here. TypeError: ``cell`` has no kernel.
    """
    module = STREAM.load()
    if module is None:
        raise RuntimeError(f"{STREAM.what} are unavailable: {STREAM.error}")
    kind = fused_kind(cell)
    if kind is None:
        raise TypeError(f"{type(cell).__name__} has no streaming kernel")
    return module, kind


def evaluation_zoneout(zoneout: Sequence[float]) -> tuple[float, float]:
    """A module's ``zoneout`` as the kernel's ``(p_h, p_c)`` (``p_c`` 0 for a one-state cell)."""
    return zoneout[0], zoneout[1] if len(zoneout) > 1 else 0.0


class StackKernel:
    """The compiled step of a stack of ``len(layers)`` layers of ``cell`` for ``batch`` streams.

    Args:
        cell: the layers' cell (rnnx's own: :func:`rnnx.fused.function.fused_kind` knows it).
        layers: each layer's weights.
        zoneout: each layer's evaluation zoneout ``(p_h, p_c)``.
        h, c: the state ``(L, B, P)`` and ``(L, B, H)`` (``c`` empty but for LSTM), contiguous,
            updated in place by each step.
        sources: the parameters the weights come from; a step returns ``None`` once any
            changed (in place, or its storage replaced), and the caller packs again.

    Attributes:
        stack: the compiled stack; ``stack.step(x (B, I))`` advances the state in place and
            returns the last layer's new ``h (B, P)``, or ``None`` if the sources changed.

    Raises:
        RuntimeError: the kernel cannot be built here (the message says why), or the tensors do
            not fit each other.
    """

    def __init__(
        self,
        cell: CellStep,
        layers: Sequence[DirectionWeights],
        zoneout: Sequence[tuple[float, float]],
        h: Tensor,
        c: Tensor,
        sources: Sequence[Tensor],
    ) -> None:
        module, kind = _kernel(cell)
        self.stack = module.Stack(
            kind,
            [pack_layer(cell, w) for w in layers],
            [p for p, _ in zoneout],
            [p for _, p in zoneout],
            h,
            c,
            list(sources),
        )


SEQUENCE_MAX_BATCH = 1
"""The largest batch at which ``backend="auto"`` runs inference through the step kernel.

Measured with ``rnnx bench --suite inference`` and at T=300, I=32 (AMD EPYC, AVX2, 2 threads):
at batch 1 a step is a few microseconds and the step kernel takes 0.64-0.90x of the fastest
other path (oneDNN's LSTM, the fused kernel) for LSTM, GRU and the layer-norm LSTM at H=64, 128
and 256; from batch 2 the fused kernel, which tiles rows in registers, is as fast or faster
(at H=256 the step kernel's per-step BLAS call takes twice its time)."""


def sequence_faster(
    cell: CellStep,
    *,
    device: torch.device,
    dtype: torch.dtype,
    batch: int,
    bidirectional: bool,
    packed: bool,
    training: bool,
) -> str | None:
    """Why ``backend="auto"`` runs this call through the step kernel (:func:`infer_sequence`), or
    ``None``: only for inference (no gradient recorded, evaluation mode, no autocast) of a
    unidirectional layer on a padded CPU batch of at most :data:`SEQUENCE_MAX_BATCH` rows (a
    single sequence, as a server answering one request at a time runs)."""
    if torch.is_grad_enabled() or training or packed or bidirectional or device.type != "cpu":
        return None
    if torch.compiler.is_compiling():  # no custom op wraps the step kernel: torch.compile keeps the fused one
        return None
    if batch > SEQUENCE_MAX_BATCH or dtype not in (torch.float32, torch.float64) or fused_kind(cell) is None:
        return None
    if torch.is_autocast_enabled("cpu") or STREAM.load() is None:
        return None
    return (
        f"inference on a batch of {batch}: rnnx's streaming step kernel runs a single sequence faster "
        "than the whole-sequence kernels"
    )


_Packed = tuple[list[list[Tensor]], list[tuple[int, int]]]
_PACKED: weakref.WeakKeyDictionary[object, _Packed] = weakref.WeakKeyDictionary()


def infer_sequence(
    owner: object,
    cell: CellStep,
    layers: Sequence[DirectionWeights],
    zoneout: tuple[float, float],
    sources: Sequence[Tensor],
    x: Tensor,
    state: tuple[Tensor, ...],
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """A unidirectional stack over a whole padded sequence, without autograd.

    The packed weights are kept for ``owner`` (the module) and packed again whenever one of
    ``sources`` changed since (in place, or its storage replaced), so they are never stale.

    Args:
        x: ``(T, B, I)`` time-major and contiguous.
        state: ``(h0,)`` or ``(h0, c0)``, each ``(L, B, size)``.

    Returns:
        ``(output (T, B, P), (h_n,) or (h_n, c_n))``.
    """
    module, kind = _kernel(cell)
    stamp = [(t._version, t.data_ptr()) for t in sources]
    cached = _PACKED.get(owner)
    packed = cached[0] if cached is not None and cached[1] == stamp else [pack_layer(cell, w) for w in layers]
    _PACKED[owner] = (packed, stamp)
    h = state[0].contiguous().clone()
    c = state[1].contiguous().clone() if len(state) > 1 else h.new_empty(0)
    p_h, p_c = [zoneout[0]] * len(layers), [zoneout[1]] * len(layers)
    out = module.Stack(kind, packed, p_h, p_c, h, c, list(sources)).sequence(x)
    return out, (h, c) if len(state) > 1 else (h,)
