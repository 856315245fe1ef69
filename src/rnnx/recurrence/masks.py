"""Random masks keyed by the global sample index, and the offset that makes an index global.

A per-sample mask element is a pure function of ``(seed, mask stream, sample, step, unit)``;
the definition is in :mod:`rnnx.recurrence.regularize`. This module computes it (with numpy,
as the reference path and the tests do) and holds the one piece of context it needs from the
caller: :func:`sample_offset`, the global index of a batch's first sample.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

GOLDEN_GAMMA = 0x9E3779B97F4A7C15
_MASK64 = 2**64 - 1
_GAMMA = np.uint64(GOLDEN_GAMMA)
_ONE = np.uint64(1)
_LANE_SHIFTS = np.array([0, 16, 32, 48], dtype=np.uint64)

# Mask streams (the ``kind`` of :func:`stream_key`).
ZONEOUT, RECURRENT_DROPOUT, DROPOUT, SAMPLE_DROPOUT = 0, 1, 2, 3

Words = npt.NDArray[np.uint64]

_OFFSET: ContextVar[int] = ContextVar("rnnx_sample_offset", default=0)
# The same value as a plain global, for code that torch.compile traces: Dynamo cannot trace a
# ContextVar, and it guards on a global (a new offset recompiles). Compiled code reads the offset
# of the block entered last, in any thread.
_traced_offset = 0


@contextmanager
def sample_offset(offset: int) -> Iterator[None]:
    """Number the samples of every batch run inside the block from ``offset`` on.

    The random masks of a sample (dropout between layers, zoneout, recurrent dropout) are a
    function of its *global* index: its row in the batch (its original, unsorted position for a
    ``PackedSequence``) plus this offset. Under data parallelism each process runs a shard of
    the global batch; with ``offset`` the index of its first sample in the global batch, every
    sample draws the masks it would draw in one process running the whole batch::

        with rnnx.sample_offset(rank * local_batch):
            loss = criterion(model(x), y)

    The value lives in a :class:`contextvars.ContextVar`: each thread (and asyncio task) sees its
    own, and blocks nest. The default, outside any block, is 0.

    Raises:
        TypeError, ValueError: ``offset`` is not a non-negative integer.
    """
    if isinstance(offset, bool) or not isinstance(offset, int | np.integer):
        raise TypeError(f"rnnx.sample_offset: offset must be an int; got {type(offset).__name__}")
    if offset < 0:
        raise ValueError(f"rnnx.sample_offset: offset must be >= 0; got {offset}")
    global _traced_offset
    token = _OFFSET.set(int(offset))
    outer, _traced_offset = _traced_offset, int(offset)
    try:
        yield
    finally:
        _OFFSET.reset(token)
        _traced_offset = outer


def current_sample_offset() -> int:
    """The offset set by the innermost :func:`sample_offset` block, 0 outside any."""
    if torch.compiler.is_compiling():
        return _traced_offset
    return _OFFSET.get()


def global_samples(batch: int, sorted_indices: Tensor | None = None) -> tuple[int, ...]:
    """The global sample index of each batch row as the rows run: ``offset + original row``.

    Args:
        batch: rows ``B``.
        sorted_indices: a ``PackedSequence``'s permutation (row ``r`` runs the sequence that
            was at position ``sorted_indices[r]`` of the user's batch), or ``None``.
    """
    offset = current_sample_offset()
    if sorted_indices is None:
        return tuple(range(offset, offset + batch))
    return tuple(offset + int(i) for i in sorted_indices.tolist())


def splitmix64(x: Words) -> Words:
    """The splitmix64 output function (Steele, Lea & Flood 2014) on ``uint64`` arrays."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: Words = x ^ (x >> np.uint64(31))
    return out


def mix(key: Words, value: npt.NDArray[np.int64] | Words) -> Words:
    """``splitmix64(key + (value + 1) * golden_gamma)`` modulo 2^64, elementwise."""
    return splitmix64(key + (value.astype(np.uint64) + _ONE) * _GAMMA)


def _mix_int(key: int, value: int) -> int:
    x = (key + (value + 1) * GOLDEN_GAMMA) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def stream_key(seed: int, kind: int, layer: int = 0, direction: int = 0, state: int = 0) -> int:
    """The 64-bit key of one mask stream: ``seed`` mixed with ``kind`` (:data:`ZONEOUT`,
    :data:`RECURRENT_DROPOUT`, :data:`DROPOUT` or :data:`SAMPLE_DROPOUT`), the layer, the
    direction and the state tensor."""
    key = seed
    for value in (kind, layer, direction, state):
        key = _mix_int(key, value)
    return key


def uniforms(
    key: int, samples: Sequence[int] | npt.NDArray[np.int64], steps: npt.NDArray[np.int64], width: int
) -> npt.NDArray[np.uint16]:
    """16-bit uniforms ``(rows, width)``: row ``i`` is sample ``samples[i]`` at step ``steps[i]``.

    ``u[i, j]`` is 16-bit lane ``j % 4`` (lowest bits first) of
    ``mix(mix(mix(key, sample), step), j // 4)``.
    """
    rows = np.asarray(samples, dtype=np.int64)
    row_keys = mix(mix(np.full(rows.shape, key, dtype=np.uint64), rows), steps)
    count = (width + 3) // 4
    words = mix(row_keys[:, None], np.arange(count, dtype=np.int64)[None, :])
    lanes = (words[:, :, None] >> _LANE_SHIFTS) & np.uint64(0xFFFF)
    out: npt.NDArray[np.uint16] = lanes.reshape(rows.shape[0], 4 * count)[:, :width].astype(np.uint16)
    return out


def threshold(p: float) -> int:
    """``round(p * 2^16)``: a unit is hit where its uniform is below it."""
    return round(p * 65536)


@dataclass(frozen=True)
class SampleRows:
    """The rows of one sequence batch in the time-major layout of :mod:`rnnx.recurrence.scan`,
    with the global sample index of each batch row (:func:`global_samples`).

    Row ``off_t + r`` of step ``t`` (``r < batch_sizes[t]``) is sample ``samples[r]`` at step ``t``.
    """

    samples: tuple[int, ...]
    batch_sizes: tuple[int, ...]

    def per_row(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``(sample, step)`` of each of the ``N = sum(batch_sizes)`` rows."""
        sizes = np.asarray(self.batch_sizes, dtype=np.int64)
        steps = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
        within = np.arange(int(sizes.sum()), dtype=np.int64) - starts
        return np.asarray(self.samples, dtype=np.int64)[within], steps

    def hits(self, key: int, limit: int, width: int) -> npt.NDArray[np.bool_]:
        """Where the stream ``key`` hits (uniform below ``limit``), per row and unit: ``(N, width)``."""
        samples, steps = self.per_row()
        hit: npt.NDArray[np.bool_] = uniforms(key, samples, steps, width) < limit
        return hit

    def sequence_hits(self, key: int, limit: int, width: int) -> npt.NDArray[np.bool_]:
        """One draw per sequence (step 0), per batch row and unit: ``(B, width)``."""
        steps = np.zeros(len(self.samples), dtype=np.int64)
        hit: npt.NDArray[np.bool_] = uniforms(key, self.samples, steps, width) < limit
        return hit


def draw_seed() -> int:
    """One 63-bit seed from torch's (CPU) generator, so ``torch.manual_seed`` reproduces it."""
    return int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))


def inverted_dropout(hit: npt.NDArray[np.bool_], limit: int, like: Tensor) -> Tensor:
    """The inverted-dropout multiplier of a hit map drawn with ``limit``: 0 where hit,
    ``2^16 / (2^16 - limit)`` elsewhere (so its expectation is exactly 1), in ``like``'s dtype
    and device."""
    t = limit
    keep = torch.from_numpy(~hit).to(like.device)
    if t >= 65536:
        return torch.zeros(keep.shape, dtype=like.dtype, device=like.device)
    return keep.to(like.dtype) * (65536 / (65536 - t))
