"""Reading the input forms a recurrent layer accepts, and checking them.

A layer accepts a padded batch ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``), one
unbatched sequence ``(T, I)``, or a :class:`~torch.nn.utils.rnn.PackedSequence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from rnnx._checks import check_tensor


@dataclass
class SequenceBatch:
    """A checked input, with what is needed to run it and to shape the result.

    Attributes:
        data: the input tensor (batched now, even if the user's was not), or packed data.
        batch_sizes: the packed batch sizes (CPU int64), or ``None`` for a padded input.
        sorted_indices, unsorted_indices: the packing permutation, or ``None``.
        batch: number of sequences.
        is_batched: ``False`` for an unbatched ``(T, I)`` input.
    """

    data: Tensor
    batch_sizes: Tensor | None
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None
    batch: int
    is_batched: bool

    @property
    def packed(self) -> bool:
        return self.batch_sizes is not None

    def steps(self, batch_first: bool) -> int:
        """Number of time steps ``T``."""
        if self.batch_sizes is not None:
            return int(self.batch_sizes.shape[0])
        return int(self.data.shape[1 if batch_first else 0])


def read_input(owner: str, input: object, *, input_size: int, batch_first: bool) -> SequenceBatch:
    """Check ``input`` and bring it to a :class:`SequenceBatch`.

    Raises:
        TypeError: ``input`` is neither a floating-point tensor nor a ``PackedSequence``.
        ValueError: wrong number of dimensions, wrong feature size, no time steps, or a
            ``PackedSequence`` whose batch sizes do not describe its data.
    """
    if isinstance(input, PackedSequence):
        return _read_packed(owner, input, input_size=input_size)
    x = check_tensor(owner, "input", input)
    if x.dim() not in (2, 3):
        raise ValueError(
            f"{owner}: input must be 3-D {'(B, T, I)' if batch_first else '(T, B, I)'} or "
            f"2-D unbatched (T, I); got a {x.dim()}-D tensor of shape {tuple(x.shape)}"
        )
    check_features(owner, "input", x, input_size)
    is_batched = x.dim() == 3
    if not is_batched:
        x = x.unsqueeze(0 if batch_first else 1)
    time_dim, batch_dim = (1, 0) if batch_first else (0, 1)
    if x.shape[time_dim] == 0:
        shape = tuple(x.shape) if is_batched else tuple(x.squeeze(batch_dim).shape)
        raise ValueError(f"{owner}: input has no time steps (shape {shape})")
    return SequenceBatch(x, None, None, None, x.shape[batch_dim], is_batched)


def check_features(owner: str, name: str, x: Tensor, input_size: int) -> None:
    """Check that the last dimension of ``x`` holds ``input_size`` features."""
    if x.shape[-1] != input_size:
        raise ValueError(
            f"{owner}: {name} must have input_size={input_size} features in its last "
            f"dimension; got shape {tuple(x.shape)}"
        )


def _read_packed(owner: str, seq: PackedSequence, *, input_size: int) -> SequenceBatch:
    data = check_tensor(owner, "input.data", seq.data)
    if data.dim() != 2:
        raise ValueError(
            f"{owner}: a PackedSequence's data must be 2-D (sum of lengths, I); got shape {tuple(data.shape)}"
        )
    check_features(owner, "input.data", data, input_size)
    sizes = seq.batch_sizes
    if sizes.dim() != 1 or sizes.numel() == 0 or sizes.is_floating_point():
        raise ValueError(
            f"{owner}: input.batch_sizes must be a non-empty 1-D integer tensor; got "
            f"{sizes.dtype} of shape {tuple(sizes.shape)}"
        )
    counts = sizes.tolist()
    if counts[-1] < 1 or any(a < b for a, b in pairwise(counts)):
        raise ValueError(
            f"{owner}: input.batch_sizes must be positive and non-increasing; got {counts}. "
            "Build packed input with torch.nn.utils.rnn.pack_padded_sequence or pack_sequence."
        )
    if sum(counts) != data.shape[0]:
        raise ValueError(
            f"{owner}: input.batch_sizes sum to {sum(counts)} but input.data has "
            f"{data.shape[0]} rows; were the lengths given to pack_padded_sequence longer "
            "than the padded sequences?"
        )
    batch = counts[0]
    for name in ("sorted_indices", "unsorted_indices"):
        index = getattr(seq, name)
        if index is not None and tuple(index.shape) != (batch,):
            raise ValueError(
                f"{owner}: input.{name} must have shape ({batch},) to match batch_sizes[0]; got {tuple(index.shape)}"
            )
    return SequenceBatch(data, sizes, seq.sorted_indices, seq.unsorted_indices, batch, True)


def unpack_state(owner: str, hx: object, names: Sequence[str]) -> tuple[object, ...]:
    """Split a user's ``hx`` into one object per state tensor named in ``names``.

    A one-tensor state (``("h0",)``) must be given as a tensor; a larger one as a tuple or
    list of that many tensors. The tensors themselves are checked by the caller.

    Raises:
        TypeError: ``hx`` has the wrong structure.
    """
    if len(names) == 1:
        if not isinstance(hx, Tensor):
            raise TypeError(f"{owner}: hx must be a Tensor {names[0]}; got {type(hx).__name__}")
        return (hx,)
    if not isinstance(hx, tuple | list) or len(hx) != len(names):
        got = type(hx).__name__ + (f" of length {len(hx)}" if isinstance(hx, tuple | list) else "")
        raise TypeError(f"{owner}: hx must be a tuple ({', '.join(names)}) of {len(names)} tensors; got {got}")
    return tuple(hx)
