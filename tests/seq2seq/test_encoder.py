"""Encoder: packing is invisible (each sequence gets the state it would get alone), pads give
zero outputs, and bad batches are refused with the argument named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnx
from rnnx import seq2seq
from tests.seq2seq.common import source_batch


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_batch_equals_each_sequence_alone(cell: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    encoder = seq2seq.Encoder.build(9, 4, 5, cell=cell, num_layers=2, bidirectional=bidirectional).eval()
    src, lengths = source_batch([3, 6, 1, 4])
    out = encoder(src, lengths)
    d = 2 if bidirectional else 1
    assert out.outputs.shape == (4, 6, d * 5)
    assert out.mask.tolist() == [[i < n for i in range(6)] for n in [3, 6, 1, 4]]
    for row, n in enumerate([3, 6, 1, 4]):
        # Oracle: the layer on the unpadded sequence, no packing involved.
        x = encoder.embedding(src[row : row + 1, :n]).transpose(0, 1)  # (n, 1, E)
        alone, state = encoder.rnn(x)
        state = state if isinstance(state, tuple) else (state,)
        torch.testing.assert_close(out.outputs[row, :n], alone[:, 0])
        assert torch.count_nonzero(out.outputs[row, n:]) == 0
        for ours, theirs in zip(out.state, state, strict=True):
            torch.testing.assert_close(ours[:, row], theirs[:, 0])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_reverse_source_reads_each_sequence_backwards(cell: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    encoder = seq2seq.Encoder.build(9, 4, 5, cell=cell, bidirectional=bidirectional, reverse_source=True).eval()
    assert "reverse_source=True" in repr(encoder)
    src, lengths = source_batch([3, 6, 1, 4])
    out = encoder(src, lengths)
    for row, n in enumerate([3, 6, 1, 4]):
        # Oracle: the layer on the unpadded sequence reversed by hand (Sutskever et al. 2014).
        x = encoder.embedding(src[row, :n].flip(0)[None]).transpose(0, 1)  # (n, 1, E)
        alone, state = encoder.rnn(x)
        state = state if isinstance(state, tuple) else (state,)
        # outputs stay in source order: position s holds what was read at token s
        torch.testing.assert_close(out.outputs[row, :n], alone[:, 0].flip(0))
        assert torch.count_nonzero(out.outputs[row, n:]) == 0
        for ours, theirs in zip(out.state, state, strict=True):
            torch.testing.assert_close(ours[:, row], theirs[:, 0])
    forward = seq2seq.Encoder(encoder.embedding, encoder.rnn)  # the same weights, read forwards
    assert not torch.allclose(forward(src, lengths).state[0], out.state[0])


def test_reverse_source_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"Encoder: reverse_source must be a bool; got int 1"):
        seq2seq.Encoder.build(9, 4, 5, reverse_source=1)  # type: ignore[arg-type]


def test_injected_layer_with_variants() -> None:
    torch.manual_seed(0)
    layer = rnnx.LSTM(4, 6, num_layers=2, layer_norm=True, peephole=True, proj_size=3)
    encoder = seq2seq.Encoder(nn.Embedding(9, 4, padding_idx=0), layer)
    out = encoder(*source_batch([2, 5]))
    assert encoder.output_size == 3
    assert [tuple(s.shape) for s in out.state] == [(2, 2, 3), (2, 2, 6)]


@pytest.mark.parametrize(
    ("src", "lengths", "error", "pattern"),
    [
        (
            torch.tensor([[4, 5, 0]]),
            [0],
            ValueError,
            r"Encoder: src_lengths must be >= 1 \(empty sequences cannot be encoded\); got 0 at index 0",
        ),
        (
            torch.tensor([[4, 5, 0], [4, 0, 0]]),
            [2],
            ValueError,
            r"Encoder: src_lengths must have one length per sequence, shape \(2,\) for src of shape \(2, 3\); got shape \(1,\)",
        ),
        (
            torch.tensor([[4, 5, 0]]),
            [4],
            ValueError,
            r"Encoder: src_lengths must be <= 3, the time steps of src; got 4 at index 0",
        ),
        (
            torch.tensor([[4, 9, 0]]),
            [2],
            ValueError,
            r"Encoder: src holds token id 9, outside the vocabulary of size 9",
        ),
        (
            torch.tensor([[4, -1, 0]]),
            [2],
            ValueError,
            r"Encoder: src holds token id -1, outside the vocabulary of size 9",
        ),
        (torch.zeros(1, 0, dtype=torch.long), [1], ValueError, r"Encoder: src must not be empty; got shape \(1, 0\)"),
        (torch.tensor([4, 5]), [2], ValueError, r"Encoder: src must be 2-D \(batch, time\); got shape \(2,\)"),
        (
            torch.tensor([[4.0, 5.0]]),
            [2],
            TypeError,
            r"Encoder: src must hold integer token ids; got dtype torch.float32",
        ),
        (
            torch.tensor([[4, 5]]),
            torch.tensor([2.0]),
            TypeError,
            r"Encoder: src_lengths must hold integers; got dtype torch.float32",
        ),
    ],
)
def test_bad_batches(src: torch.Tensor, lengths: object, error: type[Exception], pattern: str) -> None:
    encoder = seq2seq.Encoder.build(9, 4, 5)
    with pytest.raises(error, match=pattern):
        encoder(src, lengths)  # type: ignore[arg-type]


def test_bad_parts() -> None:
    with pytest.raises(ValueError, match=r"Encoder: embedding must have padding_idx set"):
        seq2seq.Encoder(nn.Embedding(9, 4), rnnx.GRU(4, 5))
    with pytest.raises(ValueError, match=r"Encoder: rnn.input_size must equal embedding_dim=4; got 3"):
        seq2seq.Encoder(nn.Embedding(9, 4, padding_idx=0), rnnx.GRU(3, 5))
    with pytest.raises(TypeError, match=r"Encoder: rnn must be an rnnx recurrent layer \(e.g. rnnx.GRU\); got GRU"):
        seq2seq.Encoder(nn.Embedding(9, 4, padding_idx=0), nn.GRU(4, 5))  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"Encoder.build: cell must be one of \('rnn', 'lstm', 'gru', 'indrnn'\); got 'tcn'"
    ):
        seq2seq.Encoder.build(9, 4, 5, cell="tcn")
