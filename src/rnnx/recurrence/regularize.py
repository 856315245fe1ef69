"""Regularisers that work on any cell, and the random masks they draw.

Every mask is drawn here, in one fixed order, so that every backend (reference, native,
fused) draws the same masks for the same ``torch.manual_seed``:

1. weight drop, once per forward call, for every layer and direction in parameter order;
2. then, per layer and direction as the layer runs: the recurrent dropout mask, then the
   zoneout masks of each state tensor;
3. dropout between layers, after each layer but the last.

The recurrent dropout mask (one per sequence) comes from float32 uniforms compared with ``p``
(faster than ``bernoulli_``, and the same masks whatever the model's dtype). Zoneout needs a mask
per element *and step*, ``T * B * H`` per state, where drawing them from torch's generator
dominated the cost of the fused path. So a zoneout mask is a :class:`ZoneoutDraw`: one 63-bit
seed from torch's generator, and a counter-based hash of it (splitmix64, Steele, Lea & Flood
2014) gives every element a 16-bit uniform ``u``; a unit is kept where ``u < round(p * 2^16)``
(``p`` thus acts to 1/65536; FlashAttention quantises its dropout probability to 1/256). As
FlashAttention and cuDNN do for dropout, the fused kernel computes the mask where it needs it, in
the forward and again in the backward pass, and never stores it; the reference path builds the
same mask with numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnx.cells.base import State

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_LANE_SHIFTS = np.array([0, 16, 32, 48], dtype=np.uint64)


def splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 output function on ``uint64`` values (arithmetic modulo 2^64)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: npt.NDArray[np.uint64] = x ^ (x >> np.uint64(31))
    return out


@dataclass(frozen=True)
class ZoneoutDraw:
    """A training keep-mask ``(rows, size)``, described by a seed instead of stored.

    Element ``k = row * size + j`` reads 16-bit lane ``k % 4`` (lowest bits first) of the word
    ``splitmix64(seed + (k // 4 + 1) * 0x9E3779B97F4A7C15)`` as an unsigned ``u``, and is kept
    (True: the unit keeps its previous value) where ``u < threshold``.
    """

    seed: int  # 0 <= seed < 2^63
    threshold: int  # round(p * 2^16)
    rows: int
    size: int
    device: torch.device

    @classmethod
    def draw(cls, p: float, rows: int, size: int, *, device: torch.device) -> ZoneoutDraw:
        """One seed from torch's (CPU) generator, so ``torch.manual_seed`` reproduces the mask."""
        seed = int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))
        return cls(seed, round(p * 65536), rows, size, device)

    def mask(self) -> Tensor:
        """The bool keep-mask ``(rows, size)`` on :attr:`device`."""
        count = self.rows * self.size
        counters = np.arange(1, (count + 3) // 4 + 1, dtype=np.uint64) * _GOLDEN_GAMMA + np.uint64(self.seed)
        lanes = (splitmix64(counters)[:, None] >> _LANE_SHIFTS) & np.uint64(0xFFFF)
        keep = lanes.reshape(-1)[:count] < self.threshold
        return torch.from_numpy(keep.reshape(self.rows, self.size)).to(self.device)


Zoneout = ZoneoutDraw | Tensor | float | None
"""Per state tensor: in training a :class:`ZoneoutDraw` (or the bool keep-mask ``(N, size)`` it
stands for), the probability ``p`` in evaluation, or ``None`` for no zoneout."""


def materialise(z: Zoneout) -> Tensor | float | None:
    """The keep-mask of a :class:`ZoneoutDraw`; anything else unchanged."""
    return z.mask() if isinstance(z, ZoneoutDraw) else z


def drop_weight(weight: Tensor, p: float, *, training: bool) -> Tensor:
    """DropConnect on a recurrent weight (Wan et al. 2013; AWD-LSTM, Merity, Keskar &
    Socher 2017): inverted dropout on its entries, identity in evaluation."""
    return F.dropout(weight, p, training=True) if training and p > 0 else weight


def recurrent_dropout_mask(p: float, batch: int, width: int, like: Tensor, *, training: bool) -> Tensor | None:
    """Variational dropout mask on ``h`` where it enters the recurrent weights (Gal &
    Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent Neural
    Networks", NeurIPS 2016): one inverted-dropout mask ``(B, width)`` per sequence, reused at
    every step. ``None`` when inactive (``p == 0`` or evaluation)."""
    if not training or p == 0:
        return None
    keep = torch.rand(batch, width, device=like.device) >= p
    return keep.to(like.dtype) / (1 - p)


def zoneout_masks(
    probabilities: Sequence[float], rows: int, sizes: Sequence[int], like: Tensor, *, training: bool
) -> tuple[Zoneout, ...]:
    """Zoneout (Krueger et al., "Zoneout: Regularizing RNNs by Randomly Preserving Hidden
    Activations", ICLR 2017) for each state tensor: in training a :class:`ZoneoutDraw` of a
    keep-mask ``(rows, size)``, per element and per step (True keeps the previous value); in
    evaluation ``p`` itself."""
    masks: list[Zoneout] = []
    for p, size in zip(probabilities, sizes, strict=True):
        if p == 0:
            masks.append(None)
        elif training:
            masks.append(ZoneoutDraw.draw(p, rows, size, device=like.device))
        else:
            masks.append(p)
    return tuple(masks)


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
