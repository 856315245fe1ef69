"""Bridges for every encoder/decoder combination: cells, directions, layer counts, sizes."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnx import seq2seq
from rnnx.seq2seq.layers import make_layer

CELLS = ["rnn", "gru", "lstm"]
B = 3


def state_of(rnn: torch.nn.Module, batch: int) -> tuple[torch.Tensor, ...]:
    sizes = rnn.cell.state_sizes(rnn.hidden_size, rnn.proj_size)
    return tuple(torch.randn(rnn.num_layers * rnn.num_directions, batch, s) for s in sizes)


COMBINATIONS = list(itertools.product(CELLS, CELLS, [False, True], [1, 2], [1, 3]))


@pytest.mark.parametrize(("enc_cell", "dec_cell", "bidirectional", "enc_layers", "dec_layers"), COMBINATIONS)
def test_linear_and_none_fit_every_combination(
    enc_cell: str, dec_cell: str, bidirectional: bool, enc_layers: int, dec_layers: int
) -> None:
    torch.manual_seed(0)
    enc = make_layer("test", enc_cell, 4, 5, num_layers=enc_layers, bidirectional=bidirectional)
    dec = make_layer("test", dec_cell, 4, 7, num_layers=dec_layers)
    expected = [(dec_layers, B, 7)] * (2 if dec_cell == "lstm" else 1)
    for kind in ("linear", "none"):
        bridge = seq2seq.make_bridge(kind, enc, dec)
        out = bridge(state_of(enc, B))
        assert [tuple(s.shape) for s in out] == expected
        # The decoder layer accepts it as its initial state.
        dec(torch.randn(2, B, 4), out if dec_cell == "lstm" else out[0])
        if kind == "none":
            assert all(torch.count_nonzero(s) == 0 for s in out)


def test_linear_bridge_values_and_lstm_projection() -> None:
    torch.manual_seed(0)
    enc = make_layer("test", "lstm", 4, 5, num_layers=2, bidirectional=True, proj_size=3)
    dec = make_layer("test", "lstm", 4, 6, num_layers=1)
    bridge = seq2seq.make_bridge("linear", enc, dec)
    h, c = state_of(enc, B)  # h (4, B, 3), c (4, B, 5)
    out_h, out_c = bridge((h, c))
    # Oracle: per sequence, concatenate layer 0 fwd, layer 0 bwd, layer 1 fwd, layer 1 bwd.
    flat_h = torch.cat([h[0], h[1], h[2], h[3]], dim=-1)
    flat_c = torch.cat([c[0], c[1], c[2], c[3]], dim=-1)
    torch.testing.assert_close(out_h[0], torch.tanh(bridge.maps[0](flat_h)))
    torch.testing.assert_close(out_c[0], bridge.maps[1](flat_c))


@pytest.mark.parametrize("cell", CELLS)
def test_copy_concatenates_directions(cell: str) -> None:
    enc = make_layer("test", cell, 4, 5, num_layers=2, bidirectional=True)
    dec = make_layer("test", cell, 4, 10, num_layers=2)
    state = state_of(enc, B)
    out = seq2seq.make_bridge("copy", enc, dec)(state)
    for ours, theirs in zip(out, state, strict=True):
        expected = torch.stack([torch.cat([theirs[2 * k], theirs[2 * k + 1]], -1) for k in range(2)])
        assert torch.equal(ours, expected)


def test_copy_is_the_context_vector_itself() -> None:
    enc = make_layer("test", "gru", 4, 5)
    dec = make_layer("test", "gru", 4, 5)
    state = state_of(enc, B)
    assert torch.equal(seq2seq.make_bridge("copy", enc, dec)(state)[0], state[0])


@pytest.mark.parametrize(
    ("enc", "dec"),
    [
        (("gru", 5, 1, False), ("gru", 6, 1)),  # widths differ
        (("gru", 5, 2, False), ("gru", 5, 1)),  # layer counts differ
        (("gru", 5, 1, True), ("gru", 5, 1)),  # bidirectional needs 2 * 5
        (("lstm", 5, 1, False), ("gru", 5, 1)),  # (h, c) vs (h)
    ],
)
def test_copy_refuses_states_that_differ(enc: tuple[str, int, int, bool], dec: tuple[str, int, int]) -> None:
    e = make_layer("test", enc[0], 4, enc[1], num_layers=enc[2], bidirectional=enc[3])
    d = make_layer("test", dec[0], 4, dec[1], num_layers=dec[2])
    with pytest.raises(
        ValueError, match=r"Seq2Seq: bridge='copy' needs the encoder's final state to fit .* use bridge='linear'"
    ):
        seq2seq.make_bridge("copy", e, d)


def test_unknown_bridge() -> None:
    e = make_layer("test", "gru", 4, 5)
    with pytest.raises(ValueError, match=r"Seq2Seq: bridge must be one of \('copy', 'linear', 'none'\); got 'mean'"):
        seq2seq.make_bridge("mean", e, e)
