"""Reading the input forms a recurrent layer accepts, and checking them.

A layer accepts a padded batch ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``), one
unbatched sequence ``(T, I)``, or a :class:`~torch.nn.utils.rnn.PackedSequence`.

Each error is of the type ``torch.nn`` raises for the same mistake and begins with its words,
rnnx's explanation following: a shape that does not fit is an
:class:`~rnnx.errors.InputError` (a ``ValueError`` that is also the ``RuntimeError`` of
``torch.nn``), a wrong number of input dimensions a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from rnnx._checks import check_tensor
from rnnx.backends.call import SequenceBatch
from rnnx.errors import InputError, NotATensorError, StateRankError, StateStructureError


def read_input(owner: str, input: object, *, input_size: int, batch_first: bool) -> SequenceBatch:
    """Check ``input`` and bring it to a :class:`SequenceBatch`.

    Raises:
        TypeError: ``input`` is neither a floating-point tensor nor a ``PackedSequence``.
        ValueError: a tensor ``input`` that is not 2-D or 3-D.
        InputError: wrong feature size, no time steps, or a ``PackedSequence`` whose data is
            not 2-D or whose batch sizes do not describe its data.
    """
    if isinstance(input, PackedSequence):
        return _read_packed(owner, input, input_size=input_size)
    x = check_tensor(owner, "input", input)
    if x.dim() not in (2, 3):
        raise ValueError(
            f"{owner}: Expected input to be 2D or 3D, got {x.dim()}D tensor instead: input must be 3-D "
            f"{'(B, T, I)' if batch_first else '(T, B, I)'} or 2-D unbatched (T, I); got shape {tuple(x.shape)}"
        )
    check_features(owner, "input", x, input_size)
    is_batched = x.dim() == 3
    if not is_batched:
        x = x.unsqueeze(0 if batch_first else 1)
    time_dim, batch_dim = (1, 0) if batch_first else (0, 1)
    if x.shape[time_dim] == 0:
        shape = tuple(x.shape) if is_batched else tuple(x.squeeze(batch_dim).shape)
        raise InputError(
            f"{owner}: Expected sequence length to be larger than 0 in RNN: input has no time steps (shape {shape})"
        )
    return SequenceBatch(x, None, None, None, x.shape[batch_dim], is_batched)


def check_features(owner: str, name: str, x: Tensor, input_size: int) -> None:
    """Check that the last dimension of a layer's input ``x`` holds ``input_size`` features.

    Raises:
        InputError: it does not.
    """
    if x.shape[-1] != input_size:
        raise InputError(
            f"{owner}: input.size(-1) must be equal to input_size. Expected {input_size}, got {x.shape[-1]}: "
            f"{name} must have input_size={input_size} features in its last dimension; got shape {tuple(x.shape)}"
        )


def check_cell_features(owner: str, x: Tensor, input_size: int) -> None:
    """Check that the last dimension of a cell's input ``x`` holds ``input_size`` features.

    Raises:
        InputError: it does not.
    """
    if x.shape[-1] != input_size:
        raise InputError(
            f"{owner}: input has inconsistent input_size: got {x.shape[-1]} expected {input_size}: input must "
            f"have input_size={input_size} features in its last dimension; got shape {tuple(x.shape)}"
        )


def check_cell_state(
    owner: str, arg: str, t: Tensor, *, index: int, batch: int, hidden_size: int, batched: bool, names: int
) -> None:
    """Check one state tensor of a cell: ``(batch, hidden_size)``, or ``(hidden_size,)`` for
    unbatched input; ``index`` is its place in the state (``hidden0``, ``hidden1`` in
    ``torch.nn``'s words), ``names`` how many tensors the state has.

    Raises:
        ValueError: ``t`` is neither 1-D nor 2-D (as ``torch.nn``).
        StateRankError: ``t`` has the other of the two (an :class:`InputError`).
        InputError: ``t`` has another batch or hidden size.
    """
    expected = (batch, hidden_size) if batched else (hidden_size,)
    meaning = "(batch, hidden_size)" if batched else "(hidden_size,) for unbatched input"
    if t.dim() not in (1, 2):
        which = "hidden" if names == 1 else f"hx[{index}]"
        raise ValueError(
            f"{owner}: Expected {which} to be 1D or 2D, got {t.dim()}D instead: "
            f"{arg} must have shape {meaning} = {expected}; got {tuple(t.shape)}"
        )
    if t.dim() != len(expected):
        raise StateRankError(f"{owner}: {arg} must have shape {meaning} = {expected}; got {tuple(t.shape)}")
    if batched and t.shape[0] != batch:
        raise InputError(
            f"{owner}: Input batch size {batch} doesn't match hidden{index} batch size {t.shape[0]}: "
            f"{arg} must have shape {meaning} = {expected}; got {tuple(t.shape)}"
        )
    if t.shape[-1] != hidden_size:
        raise InputError(
            f"{owner}: hidden{index} has inconsistent hidden_size: got {t.shape[-1]}, expected {hidden_size}: "
            f"{arg} must have shape {meaning} = {expected}; got {tuple(t.shape)}"
        )


def check_layer_state(
    owner: str, arg: str, t: Tensor, expected: tuple[int, ...], *, index: int | None, batched: bool
) -> None:
    """Check one state tensor of a layer: ``expected`` is ``(L*D, B, size)`` (``(L*D, size)``
    for unbatched input); ``index`` is its place in an LSTM's ``(h0, c0)``, ``None`` for the
    only state of an RNN or GRU.

    Raises:
        InputError: ``t`` has another number of dimensions or another shape.
    """
    meaning = "(num_layers * num_directions, batch, size)" if batched else "(num_layers * num_directions, size)"
    if t.dim() != len(expected):
        kind = "batched 3-D" if batched else "unbatched 2-D"
        raise InputError(
            f"{owner}: For {kind} input, hx should also be {len(expected)}-D but got {t.dim()}-D tensor: "
            f"{arg} must be {meaning} = {expected}; got shape {tuple(t.shape)}"
        )
    if tuple(t.shape) != expected:
        which = "hidden" if index is None else f"hidden[{index}]"
        raise InputError(
            f"{owner}: Expected {which} size {expected}, got {list(t.shape)}: "
            f"{arg} must have shape {meaning} = {expected}"
        )


def _read_packed(owner: str, seq: PackedSequence, *, input_size: int) -> SequenceBatch:
    data = check_tensor(owner, "input.data", seq.data)
    if data.dim() != 2:
        raise InputError(
            f"{owner}: input must have 2 dimensions, got {data.dim()}: a PackedSequence's data must be 2-D "
            f"(sum of lengths, I); got shape {tuple(data.shape)}"
        )
    check_features(owner, "input.data", data, input_size)
    sizes = seq.batch_sizes
    if sizes.dim() != 1 or sizes.numel() == 0 or sizes.is_floating_point():
        raise InputError(
            f"{owner}: input.batch_sizes must be a non-empty 1-D integer tensor; got "
            f"{sizes.dtype} of shape {tuple(sizes.shape)}"
        )
    counts = sizes.tolist()
    if counts[-1] < 1 or any(a < b for a, b in pairwise(counts)):
        raise InputError(
            f"{owner}: input.batch_sizes must be positive and non-increasing; got {counts}. "
            "Build packed input with torch.nn.utils.rnn.pack_padded_sequence or pack_sequence."
        )
    if sum(counts) != data.shape[0]:
        raise InputError(
            f"{owner}: input.batch_sizes sum to {sum(counts)} but input.data has "
            f"{data.shape[0]} rows; were the lengths given to pack_padded_sequence longer "
            "than the padded sequences?"
        )
    batch = counts[0]
    for name in ("sorted_indices", "unsorted_indices"):
        index = getattr(seq, name)
        if index is not None and tuple(index.shape) != (batch,):
            raise InputError(
                f"{owner}: input.{name} must have shape ({batch},) to match batch_sizes[0]; got {tuple(index.shape)}"
            )
    return SequenceBatch(data, sizes, seq.sorted_indices, seq.unsorted_indices, batch, True)


def unpack_state(owner: str, hx: object, names: Sequence[str]) -> tuple[object, ...]:
    """Split a user's ``hx`` into one object per state tensor named in ``names``.

    A one-tensor state (``("h0",)``) must be given as a tensor; a larger one as a tuple or
    list of that many tensors. The tensors themselves are checked by the caller.

    The modules call this first, before they look at the input, as ``torch.nn`` does.

    Raises:
        NotATensorError: a one-tensor state that is not a tensor (a ``TypeError`` that is the
            ``AttributeError`` of ``torch.nn``).
        StateStructureError: a larger state that is not a tuple or list of that many (a
            ``TypeError`` that is also ``torch.nn``'s ``IndexError`` or ``RuntimeError``).
    """
    if len(names) == 1:
        if not isinstance(hx, Tensor):
            raise NotATensorError(f"{owner}: hx must be a Tensor {names[0]}; got {type(hx).__name__}")
        return (hx,)
    if not isinstance(hx, tuple | list) or len(hx) != len(names):
        got = type(hx).__name__ + (f" of length {len(hx)}" if isinstance(hx, tuple | list) else "")
        raise StateStructureError(
            f"{owner}: hx must be a tuple ({', '.join(names)}) of {len(names)} tensors; got {got}"
        )
    return tuple(hx)
