"""Regularisers that work on any cell, and the random masks they draw.

Every mask is drawn here, in one fixed order, so that every backend (reference, native,
fused) draws the same masks for the same ``torch.manual_seed``:

1. weight drop, once per forward call, for every layer and direction in parameter order;
2. then, per layer and direction as the layer runs: the recurrent dropout mask, then the
   zoneout masks of each state tensor;
3. dropout between layers, after each layer but the last.

The recurrent dropout mask (one per sequence) comes from float32 uniforms compared with ``p``
(faster than ``bernoulli_``, and the same masks whatever the model's dtype). Zoneout draws a mask
per element *and step*, ``T * B * H`` per state, where drawing dominated the cost of the fused
path; so each 64-bit random word gives four 16-bit uniforms ``u`` (lowest bits first, see
:func:`bernoulli16`) and a unit is kept where ``u < round(p * 2^16)``. ``p`` is thus applied to
1/65536 (FlashAttention quantises its dropout probability to 1/256), at a third of the time of
float uniforms.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnx.cells.base import State

Zoneout = Tensor | float | None
"""Per state tensor: a boolean keep-mask ``(N, size)`` in training, the probability ``p`` in
evaluation, or ``None`` for no zoneout."""


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


def bernoulli16(rows: int, size: int, p: float, *, device: torch.device) -> Tensor:
    """A bool mask ``(rows, size)``, each element True with probability ``round(p * 2^16) / 2^16``.

    The ``k``-th element reads bits ``16 * (k % 4)`` to ``16 * (k % 4) + 15`` of random 64-bit word
    ``k // 4`` as a signed 16-bit integer ``s``; ``u = s + 2^15`` is uniform on ``0 .. 2^16 - 1``
    (the lane with its top bit flipped), and the element is True where ``u < round(p * 2^16)``.
    """
    count = rows * size
    threshold = round(p * 65536)
    if threshold >= 65536:
        return torch.ones(rows, size, dtype=torch.bool, device=device)
    words = torch.randint(-(2**63), 2**63 - 1, ((count + 3) // 4,), dtype=torch.int64, device=device)
    # On a little-endian machine (every platform torch supports), the int16 view lists each word's
    # 16-bit lanes lowest first, as s; u < t reads s < t - 2^15, one comparison per element.
    lanes = words.view(torch.int16)[:count].view(rows, size)
    return lanes < threshold - 32768


def zoneout_masks(
    probabilities: Sequence[float], rows: int, sizes: Sequence[int], like: Tensor, *, training: bool
) -> tuple[Zoneout, ...]:
    """Zoneout (Krueger et al., "Zoneout: Regularizing RNNs by Randomly Preserving Hidden
    Activations", ICLR 2017) for each state tensor: in training a keep-mask ``(rows, size)``
    drawn per element and per step by :func:`bernoulli16` (True keeps the previous value); in
    evaluation ``p`` itself."""
    masks: list[Zoneout] = []
    for p, size in zip(probabilities, sizes, strict=True):
        if p == 0:
            masks.append(None)
        elif training:
            masks.append(bernoulli16(rows, size, p, device=like.device))
        else:
            masks.append(p)
    return tuple(masks)


def split_zoneout(zoneout: Sequence[Zoneout], batch_sizes: Sequence[int]) -> list[tuple[Zoneout, ...]]:
    """Per time step, each state tensor's zoneout (masks split into the step's rows)."""
    per_state = [
        torch.split(z, list(batch_sizes)) if isinstance(z, Tensor) else [z] * len(batch_sizes) for z in zoneout
    ]
    return list(zip(*per_state, strict=True))


def apply_zoneout(previous: State, candidate: State, keep: Sequence[Zoneout]) -> State:
    """``h_t = m * h_{t-1} + (1 - m) * h~_t`` for each state tensor, with ``m`` the keep-mask in
    training (a selection, so a kept unit keeps its value exactly) or ``p`` in evaluation
    (the expectation of the mask)."""
    return tuple(
        new if m is None else torch.where(m, old, new) if isinstance(m, Tensor) else new + m * (old - new)
        for old, new, m in zip(previous, candidate, keep, strict=True)
    )
