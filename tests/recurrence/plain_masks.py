"""The documented per-sample masks (rnnx.recurrence.regularize), written out in plain Python
integers: the oracle for every backend's masks."""

from __future__ import annotations

import torch

GAMMA = 0x9E3779B97F4A7C15
ZONEOUT, RECURRENT_DROPOUT, DROPOUT, SAMPLE_DROPOUT = 0, 1, 2, 3


def splitmix64(x: int) -> int:
    """splitmix64's output function (Steele, Lea & Flood 2014)."""
    m = 2**64 - 1
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


def mix(key: int, value: int) -> int:
    return splitmix64((key + (value + 1) * GAMMA) % 2**64)


def draw_seed() -> int:
    """The one seed a forward call draws from torch's generator."""
    return int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))


def stream_key(seed: int, kind: int, layer: int, direction: int = 0, state: int = 0) -> int:
    return mix(mix(mix(mix(seed, kind), layer), direction), state)


def uniform(key: int, sample: int, step: int, unit: int) -> int:
    """The 16-bit uniform of one unit: lane unit % 4 of mix(mix(mix(key, sample), step), unit // 4)."""
    word = mix(mix(mix(key, sample), step), unit // 4)
    return (word >> (16 * (unit % 4))) & 0xFFFF


def hit(key: int, sample: int, step: int, unit: int, p: float) -> bool:
    return uniform(key, sample, step, unit) < round(p * 65536)


def zoneout_keep(
    seed: int, p: float, layer: int, direction: int, state: int, steps: int, samples: list[int], size: int
) -> torch.Tensor:
    """Padded ``(T, B, size)`` keep-mask of one state tensor (True keeps the previous value)."""
    key = stream_key(seed, ZONEOUT, layer, direction, state)
    return torch.tensor(
        [[[hit(key, s, t, j, p) for j in range(size)] for s in samples] for t in range(steps)], dtype=torch.bool
    ).view(steps, len(samples), size)


def _scale(p: float) -> float:
    return 65536 / (65536 - round(p * 65536))


def recurrent_multiplier(
    seed: int, p: float, layer: int, direction: int, samples: list[int], width: int
) -> torch.Tensor:
    """``(B, width)``: 0 where hit at step 0, else the inverted-dropout scale."""
    key = stream_key(seed, RECURRENT_DROPOUT, layer, direction)
    keep = torch.tensor([[not hit(key, s, 0, j, p) for j in range(width)] for s in samples], dtype=torch.float64)
    return keep.view(len(samples), width) * _scale(p)


def dropout_multiplier(seed: int, p: float, layer: int, steps: int, samples: list[int], width: int) -> torch.Tensor:
    """Padded ``(T, B, width)`` multiplier of the dropout after layer ``layer``."""
    key = stream_key(seed, DROPOUT, layer)
    keep = torch.tensor(
        [[[not hit(key, s, t, j, p) for j in range(width)] for s in samples] for t in range(steps)],
        dtype=torch.float64,
    )
    return keep.view(steps, len(samples), width) * _scale(p)
