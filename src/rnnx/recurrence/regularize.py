"""Regularisers that work on any cell, and the random masks they draw.

Which masks, and in which order from torch's generator, so that every backend (reference,
native, fused) draws the same masks for the same ``torch.manual_seed``:

1. weight drop, once per forward call, for every layer and direction in parameter order:
   DropConnect on ``W_hh`` with :func:`torch.nn.functional.dropout`, one mask per call;
2. then one 63-bit ``seed`` per forward call (only when a per-sample mask is active).

Every per-sample mask is a counter-based function of that seed, so it costs no state, can be
recomputed anywhere (the fused kernel computes its zoneout masks in the forward and again in
the backward pass and stores none, as FlashAttention and cuDNN do for dropout), and does not
depend on which rank, which row or which batch a sample sits in. With ``mix(k, v) =
splitmix64(k + (v + 1) * 0x9E3779B97F4A7C15)`` modulo 2^64 (splitmix64: Steele, Lea & Flood
2014):

- the *stream* key of a mask is ``mix(mix(mix(mix(seed, kind), layer), direction), state)``,
  with ``kind`` 0 for zoneout, 1 for recurrent dropout, 2 for dropout between layers, 3 for
  :func:`sample_dropout` (:class:`rnnx.SampleDropout`, its own seed per call), and ``state`` the
  state tensor (0 for ``h``, 1 for ``c``; 0 for the dropouts);
- sample ``s`` at time step ``t`` (the step's index in the sequence, whatever the direction)
  has row key ``mix(mix(key, s), t)``; unit ``j`` reads 16-bit lane ``j % 4`` (lowest bits
  first) of ``mix(row_key, j // 4)`` as an unsigned uniform ``u``;
- a unit is *hit* where ``u < round(p * 2^16)``, so ``p`` acts to 1/65536 (FlashAttention
  quantises its dropout probability to 1/256).

``s`` is the sample's *global* index: its position in the batch (its original, unsorted
position for a ``PackedSequence``) plus the offset set by :func:`rnnx.sample_offset`, which a
data-parallel process sets to the index of its shard's first sample. Since every process seeds
identically (the lab does), a run of ``N`` processes draws exactly the masks of one process on
the global batch. The masks:

- zoneout (Krueger et al. 2017): per element and step, a hit unit keeps its previous value;
- recurrent dropout (Gal & Ghahramani 2016): per sequence (``t = 0``), layer and direction, a
  hit unit of ``h`` entering ``W_hh`` is zeroed, the others scaled by ``2^16 / (2^16 - round(p
  * 2^16))``;
- dropout between layers: per element and step of layer ``k``'s output (both directions
  concatenated, ``direction = 0``), inverted dropout with the same scale. On the native
  backend a stacked layer in training with dropout runs layer by layer with this dropout in
  between, so every backend draws the same masks (not torch.nn's).

The reference path computes the masks with numpy (:mod:`rnnx.recurrence.masks`); the fused
kernel computes zoneout's itself from the stream key and each row's global sample index
(``zoneout_keep`` in ``rnnx/fused/csrc/cell_math.h``). A single-step cell module numbers its
rows as a batch of one step (``t = 0``) with a fresh seed per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnx.cells.base import State
from rnnx.recurrence.masks import (
    DROPOUT,
    RECURRENT_DROPOUT,
    SAMPLE_DROPOUT,
    ZONEOUT,
    SampleRows,
    draw_seed,
    global_samples,
    inverted_dropout,
    stream_key,
    threshold,
    uniforms,
)


@dataclass(frozen=True)
class ZoneoutDraw:
    """A training keep-mask ``(N, size)`` in the time-major row layout of ``rows``, described by
    its stream key instead of stored: element ``(i, j)`` is kept (True: the unit keeps its
    previous value) where the uniform of row ``i``'s sample and step at unit ``j`` is below
    ``threshold`` (see the module docstring)."""

    key: int  # the stream key, 0 <= key < 2^64
    threshold: int  # round(p * 2^16)
    rows: SampleRows
    size: int
    device: torch.device

    def mask(self) -> Tensor:
        """The bool keep-mask ``(N, size)`` on :attr:`device`."""
        keep = self.rows.hits(self.key, self.threshold, self.size)
        return torch.from_numpy(keep).to(self.device)


Zoneout = ZoneoutDraw | Tensor | float | None
"""Per state tensor: in training a :class:`ZoneoutDraw` (or the bool keep-mask ``(N, size)`` it
stands for), the probability ``p`` in evaluation, or ``None`` for no zoneout."""


def materialise(z: Zoneout) -> Tensor | float | None:
    """The keep-mask of a :class:`ZoneoutDraw`; anything else unchanged."""
    return z.mask() if isinstance(z, ZoneoutDraw) else z


@dataclass(frozen=True)
class CallMasks:
    """The per-sample masks of one forward call in training: one seed and the batch's rows.

    Build it with :meth:`draw`, once per forward call, after weight drop has drawn its masks.
    """

    seed: int
    rows: SampleRows

    @classmethod
    def draw(cls, samples: Sequence[int], batch_sizes: Sequence[int]) -> CallMasks:
        """A fresh seed from torch's generator, for a batch whose row ``r`` is global sample
        ``samples[r]`` and whose step ``t`` runs the first ``batch_sizes[t]`` rows."""
        return cls(draw_seed(), SampleRows(tuple(samples), tuple(batch_sizes)))

    def zoneout(
        self, probabilities: Sequence[float], sizes: Sequence[int], *, layer: int, direction: int, device: torch.device
    ) -> tuple[Zoneout, ...]:
        """Each state tensor's :class:`ZoneoutDraw` (``None`` where ``p == 0``)."""
        return tuple(
            None
            if p == 0
            else ZoneoutDraw(self._key(ZONEOUT, layer, direction, k), threshold(p), self.rows, size, device)
            for k, (p, size) in enumerate(zip(probabilities, sizes, strict=True))
        )

    def recurrent_dropout(self, p: float, width: int, like: Tensor, *, layer: int, direction: int) -> Tensor:
        """The inverted-dropout multiplier ``(B, width)`` on ``h`` entering ``W_hh``."""
        limit = threshold(p)
        hit = self.rows.sequence_hits(self._key(RECURRENT_DROPOUT, layer, direction), limit, width)
        return inverted_dropout(hit, limit, like)

    def dropout(self, x: Tensor, p: float, *, layer: int) -> Tensor:
        """``x`` ``(N, W)``, layer ``layer``'s output rows, with inverted dropout applied."""
        limit = threshold(p)
        hit = self.rows.hits(self._key(DROPOUT, layer), limit, x.shape[-1])
        return x * inverted_dropout(hit, limit, x)

    def _key(self, kind: int, layer: int, direction: int = 0, state: int = 0) -> int:
        return stream_key(self.seed, kind, layer, direction, state)


def call_masks(active: bool, samples: Sequence[int] | None, batch: int, batch_sizes: Sequence[int]) -> CallMasks | None:
    """:meth:`CallMasks.draw` where a per-sample mask is ``active``, else ``None`` (and no draw).
    ``samples`` defaults to :func:`rnnx.recurrence.masks.global_samples` of ``batch`` rows."""
    if not active:
        return None
    return CallMasks.draw(global_samples(batch) if samples is None else samples, batch_sizes)


def sample_dropout(x: Tensor, p: float, *, training: bool) -> Tensor:
    """Inverted dropout on a batch-first ``x`` ``(B, *)`` (for example ``(B, T, H)``) with the
    keyed masks of this module: a fresh seed per call, stream ``kind = 3``; row ``b`` is global
    sample ``offset + b``, at step ``t`` for ``(B, T, *)`` (``t = 0`` for ``(B, F)``), and the
    units are the remaining dimensions flattened. Identity in evaluation or at ``p == 0``."""
    if not training or p == 0 or x.numel() == 0:
        return x
    batch = x.shape[0]
    steps = x.shape[1] if x.dim() > 2 else 1
    width = x[0, 0].numel() if x.dim() > 2 else x[0].numel()
    samples = np.repeat(np.asarray(global_samples(batch), dtype=np.int64), steps)
    step_of = np.tile(np.arange(steps, dtype=np.int64), batch)
    limit = threshold(p)
    hit = uniforms(stream_key(draw_seed(), SAMPLE_DROPOUT), samples, step_of, width) < limit
    return x * inverted_dropout(hit, limit, x).view(x.shape)


def drop_weight(weight: Tensor, p: float, *, training: bool) -> Tensor:
    """DropConnect on a recurrent weight (Wan et al. 2013; AWD-LSTM, Merity, Keskar &
    Socher 2017): inverted dropout on its entries, identity in evaluation."""
    return F.dropout(weight, p, training=True) if training and p > 0 else weight


def recurrent_dropout_mask(p: float, batch: int, width: int, like: Tensor, *, training: bool) -> Tensor | None:
    """Variational dropout mask on ``h`` where it enters the recurrent weights (Gal &
    Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent Neural
    Networks", NeurIPS 2016): one inverted-dropout mask ``(B, width)`` per sequence, reused at
    every step, keyed by a fresh seed and the rows' global sample indices (layer and direction
    0: for a single-step cell). ``None`` when inactive (``p == 0`` or evaluation)."""
    if not training or p == 0:
        return None
    masks = CallMasks.draw(global_samples(batch), (batch,))
    return masks.recurrent_dropout(p, width, like, layer=0, direction=0)


def zoneout_masks(
    probabilities: Sequence[float], rows: int, sizes: Sequence[int], like: Tensor, *, training: bool
) -> tuple[Zoneout, ...]:
    """Zoneout (Krueger et al., "Zoneout: Regularizing RNNs by Randomly Preserving Hidden
    Activations", ICLR 2017) for one step of ``rows`` sequences (a single-step cell), each state
    tensor: in training a :class:`ZoneoutDraw` of a keep-mask ``(rows, size)`` from a fresh
    seed (True keeps the previous value); in evaluation ``p`` itself."""
    if not training:
        return eval_zoneout(probabilities)
    if not any(probabilities):
        return tuple(None for _ in probabilities)
    masks = CallMasks.draw(global_samples(rows), (rows,))
    return masks.zoneout(probabilities, sizes, layer=0, direction=0, device=like.device)


def eval_zoneout(probabilities: Sequence[float]) -> tuple[Zoneout, ...]:
    """Zoneout in evaluation: ``p`` per state tensor (``None`` where 0)."""
    return tuple(None if p == 0 else p for p in probabilities)


def split_zoneout(zoneout: Sequence[Zoneout], batch_sizes: Sequence[int]) -> list[tuple[Zoneout, ...]]:
    """Per time step, each state tensor's zoneout (masks split into the step's rows)."""
    materialised = [materialise(z) for z in zoneout]
    per_state = [
        torch.split(z, list(batch_sizes)) if isinstance(z, Tensor) else [z] * len(batch_sizes) for z in materialised
    ]
    return list(zip(*per_state, strict=True))


def apply_zoneout(previous: State, candidate: State, keep: Sequence[Zoneout]) -> State:
    """``h_t = m * h_{t-1} + (1 - m) * h~_t`` for each state tensor, with ``m`` the keep-mask in
    training (a selection, so a kept unit keeps its value exactly) or ``p`` in evaluation
    (the expectation of the mask)."""
    return tuple(
        new if m is None else torch.where(m, old, new) if isinstance(m, Tensor) else new + m * (old - new)
        for old, new, m in zip(previous, candidate, map(materialise, keep), strict=True)
    )
