"""Checks for token batches and the conversions between a layer's state and a tuple."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnx.modules.layer import RecurrentLayer

State = tuple[Tensor, ...]
"""A recurrent layer's state as a tuple: ``(h,)``, or ``(h, c)`` for LSTM; each ``(L*D, B, size)``."""


def check_tokens(owner: str, name: str, tokens: object, *, vocab_size: int) -> Tensor:
    """Return ``tokens`` if it is a 2-D ``(B, T)`` integer tensor with ids in ``[0, vocab_size)``,
    ``B >= 1`` and ``T >= 1``."""
    if not isinstance(tokens, Tensor):
        raise TypeError(f"{owner}: {name} must be a torch.Tensor of token ids; got {type(tokens).__name__}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise TypeError(f"{owner}: {name} must hold integer token ids; got dtype {tokens.dtype}")
    if tokens.dim() != 2:
        raise ValueError(f"{owner}: {name} must be 2-D (batch, time); got shape {tuple(tokens.shape)}")
    if tokens.shape[0] == 0 or tokens.shape[1] == 0:
        raise ValueError(f"{owner}: {name} must not be empty; got shape {tuple(tokens.shape)}")
    low, high = int(tokens.min()), int(tokens.max())
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"{owner}: {name} holds token id {bad}, outside the vocabulary of size {vocab_size}")
    return tokens


def check_lengths(owner: str, name: str, lengths: object, *, batch: int, steps: int, tokens: str) -> Tensor:
    """Return ``lengths`` as a CPU int64 tensor if it has one length per sequence of the
    ``(batch, steps)`` tensor named ``tokens``, each in ``[1, steps]``."""
    if isinstance(lengths, Sequence) and not isinstance(lengths, str):
        lengths = torch.tensor(list(lengths))
    if not isinstance(lengths, Tensor):
        raise TypeError(f"{owner}: {name} must be a tensor or list of ints; got {type(lengths).__name__}")
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise TypeError(f"{owner}: {name} must hold integers; got dtype {lengths.dtype}")
    if tuple(lengths.shape) != (batch,):
        raise ValueError(
            f"{owner}: {name} must have one length per sequence, shape ({batch},) for {tokens} of shape "
            f"({batch}, {steps}); got shape {tuple(lengths.shape)}"
        )
    lengths = lengths.detach().to("cpu", torch.int64)
    if int(lengths.min()) < 1:
        index = int(torch.argmin(lengths))
        raise ValueError(
            f"{owner}: {name} must be >= 1 (empty sequences cannot be encoded); "
            f"got {int(lengths[index])} at index {index}"
        )
    if int(lengths.max()) > steps:
        index = int(torch.argmax(lengths))
        raise ValueError(
            f"{owner}: {name} must be <= {steps}, the time steps of {tokens}; "
            f"got {int(lengths[index])} at index {index}"
        )
    return lengths


Source = str | Sequence[str]
"""One source or target: a string (its characters are the tokens) or a list/tuple of token strings."""


def check_source(owner: str, where: str, value: object) -> Source:
    """Return ``value`` if it is a :data:`Source`: a ``str``, or a list or tuple of ``str``.

    Raises:
        TypeError: anything else (``None``, a number, a tensor, a token that is not a string),
            naming ``where`` (``sources[2]``, ``sources[2][0]``).
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, list | tuple):
        raise TypeError(f"{owner}: {where} must be a str or a list/tuple of token strs; got {type(value).__name__}")
    for index, token in enumerate(value):
        if not isinstance(token, str):
            raise TypeError(f"{owner}: {where}[{index}] must be a token str; got {type(token).__name__}")
    return value


def check_pairs(owner: str, name: str, pairs: object) -> list[tuple[Source, Source]]:
    """Return ``pairs`` as a list if it is a list or tuple of ``(source, target)`` pairs of
    non-empty :data:`Source` values.

    Raises:
        TypeError: ``pairs`` is not a list/tuple, an item is not a pair, or a side is not a
            source, naming the position (``pairs[3][1]``).
        ValueError: no pairs, or an empty source or target.
    """
    if not isinstance(pairs, list | tuple):
        raise TypeError(
            f"{owner}: {name} must be a list or tuple of (source, target) pairs; got {type(pairs).__name__}"
        )
    if not pairs:
        raise ValueError(f"{owner}: {name} must not be empty")
    out: list[tuple[Source, Source]] = []
    for index, pair in enumerate(pairs):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            got = (
                f"{type(pair).__name__} of length {len(pair)}"
                if isinstance(pair, list | tuple)
                else type(pair).__name__
            )
            raise TypeError(f"{owner}: {name}[{index}] must be a (source, target) pair; got {got}")
        source = check_source(owner, f"{name}[{index}][0]", pair[0])
        target = check_source(owner, f"{name}[{index}][1]", pair[1])
        if len(source) == 0 or len(target) == 0:
            raise ValueError(f"{owner}: {name}[{index}] has an empty {'source' if len(source) == 0 else 'target'}")
        out.append((source, target))
    return out


def pad_ids(sequences: Sequence[Sequence[int]], *, pad_id: int) -> tuple[Tensor, Tensor]:
    """Stack id lists into ``(B, T_max)`` padded with ``pad_id``, and their lengths ``(B,)``.

    Raises:
        ValueError: no sequences, or an empty one.
    """
    if not sequences:
        raise ValueError("pad_ids: need at least one sequence; got none")
    lengths = [len(s) for s in sequences]
    if min(lengths) == 0:
        raise ValueError(f"pad_ids: sequences must not be empty; sequence {lengths.index(0)} is")
    out = torch.full((len(sequences), max(lengths)), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = torch.tensor(list(sequence), dtype=torch.long)
    return out, torch.tensor(lengths, dtype=torch.long)


def is_lstm_like(rnn: RecurrentLayer) -> bool:
    return len(rnn.cell.state_names) > 1


def to_tuple(state: Any) -> State:
    """A layer's returned state as a tuple."""
    return tuple(state) if isinstance(state, tuple) else (state,)


def to_layer(rnn: RecurrentLayer, state: State) -> Any:
    """A tuple state in the form ``rnn`` takes: one tensor, or a tuple for LSTM."""
    return state if is_lstm_like(rnn) else state[0]


def state_shapes(rnn: RecurrentLayer) -> list[tuple[int, int]]:
    """``(L*D, size)`` of each state tensor of ``rnn`` (batch left out)."""
    rows = rnn.num_layers * rnn.num_directions
    return [(rows, size) for size in rnn.cell.state_sizes(rnn.hidden_size, rnn.proj_size)]


def output_size(rnn: RecurrentLayer) -> int:
    """The width of ``rnn``'s outputs per step: ``D * (proj_size or hidden_size)``."""
    return rnn.num_directions * (rnn.proj_size or rnn.hidden_size)
