"""Decoder: one step against a plain computation, the whole-sequence path equal to stepping,
input feeding, tied embeddings, and parts that do not fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnx
from rnnx import seq2seq
from rnnx.seq2seq import Attention, Decoder

B, S, M = 3, 4, 6


def memory_for(decoder: Decoder, lengths: list[int]) -> seq2seq.Memory | None:
    values = torch.randn(B, S, M)
    mask = torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]
    return decoder.prepare_memory(values, mask)


def test_one_step_matches_plain_luong_equations() -> None:
    torch.manual_seed(0)
    decoder = Decoder.build(8, 5, 7, cell="lstm", attention="general", memory_size=M, input_feeding=True).eval()
    memory = memory_for(decoder, [4, 2, 1])
    assert memory is not None
    h0, c0 = torch.randn(1, B, 7), torch.randn(1, B, 7)
    state = decoder.initial_state((h0, c0))
    feed = torch.randn(B, 7)
    state.feed = feed
    tokens = torch.tensor([4, 0, 7])
    logits, new, weights = decoder.step(tokens, state, memory)

    # Plain: x = [E y; h̃_{t-1}], h = LSTM(x), a = softmax over real tokens of h W_a h̄, c = a h̄,
    # h̃ = tanh(W_c [c; h]), logits = W_o h̃ + b_o.
    torch_lstm = decoder.rnn.to_torch()
    x = torch.cat([decoder.embedding.weight[tokens], feed], dim=-1)
    _, (h, c) = torch_lstm(x.unsqueeze(0), (h0, c0))
    scores = (h[0].unsqueeze(1) @ decoder.attention.memory_proj(memory.values).transpose(1, 2)).squeeze(1)
    scores = scores.masked_fill(~memory.mask, float("-inf"))
    a = torch.softmax(scores, -1)
    context = (a.unsqueeze(1) @ memory.values).squeeze(1)
    tilde = torch.tanh(decoder.combine.weight @ torch.cat([context, h[0]], -1).T).T
    torch.testing.assert_close(weights, a)
    torch.testing.assert_close(new.feed, tilde)
    torch.testing.assert_close(new.rnn[0], h)
    torch.testing.assert_close(new.rnn[1], c)
    torch.testing.assert_close(logits, decoder.output(tilde))
    assert torch.all(decoder.embedding.weight[0] == 0)  # the pad token embeds to zeros


@pytest.mark.parametrize(("attention", "input_feeding"), [(None, False), ("dot", False), ("additive", True)])
def test_whole_sequence_equals_stepping(attention: str | None, input_feeding: bool) -> None:
    torch.manual_seed(1)
    decoder = Decoder.build(
        8, 5, 6, cell="gru", num_layers=2, attention=attention, memory_size=6, input_feeding=input_feeding
    ).eval()
    memory = memory_for(decoder, [4, 3, 2])
    start = decoder.initial_state((torch.randn(2, B, 6),))
    tokens = torch.randint(0, 8, (B, 5))
    logits, final, weights = decoder(tokens, start, memory)
    state = start
    for t in range(5):
        step_logits, state, step_weights = decoder.step(tokens[:, t], state, memory)
        torch.testing.assert_close(logits[:, t], step_logits)
        if attention is None:
            assert weights is None
            assert step_weights is None
        else:
            assert weights is not None
            assert step_weights is not None
            torch.testing.assert_close(weights[:, t], step_weights)
    torch.testing.assert_close(final.rnn[0], state.rnn[0])


def test_tied_embeddings_share_the_matrix() -> None:
    decoder = Decoder.build(8, 6, 6, tie_embeddings=True)
    assert not hasattr(decoder, "output")
    names = [n for n, _ in decoder.named_parameters()]
    assert "embedding.weight" in names
    assert "output_bias" in names
    with torch.no_grad():
        decoder.output_bias.normal_()
    tokens = torch.tensor([[4], [5]])
    logits, _, _ = decoder(tokens, decoder.initial_state((torch.zeros(1, 2, 6),)), None)
    h, _ = decoder.rnn(decoder.embedding(tokens).transpose(0, 1))  # (1, 2, 6), no attention: h̃ = h
    torch.testing.assert_close(logits, (h @ decoder.embedding.weight.T + decoder.output_bias).transpose(0, 1))
    logits.sum().backward()
    assert decoder.embedding.weight.grad is not None  # reached through both uses


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (
            lambda: Decoder.build(8, 5, 7, tie_embeddings=True),
            r"Decoder: tie_embeddings needs the rnn's output width \(7\) equal to embedding_dim \(5\)",
        ),
        (lambda: Decoder.build(8, 5, 7, input_feeding=True), r"Decoder: input_feeding=True needs attention"),
        (lambda: Decoder.build(8, 5, 7, attention="general"), r"Decoder.build: attention needs memory_size"),
        (
            lambda: Decoder(nn.Embedding(8, 5, padding_idx=0), rnnx.GRU(5, 7, bidirectional=True)),
            r"Decoder: rnn must be unidirectional",
        ),
        (
            lambda: Decoder(nn.Embedding(8, 5, padding_idx=0), rnnx.GRU(6, 7)),
            r"Decoder: rnn.input_size must be 5 \(embedding_dim\); got 6",
        ),
        (
            lambda: Decoder(
                nn.Embedding(8, 5, padding_idx=0),
                rnnx.GRU(5, 7),
                attention=Attention("general", 7, 4),
                input_feeding=True,
            ),
            r"Decoder: rnn.input_size must be 12 \(embedding_dim 5 \+ output width 7 \(input feeding\)\); got 5",
        ),
        (
            lambda: Decoder(nn.Embedding(8, 5, padding_idx=0), rnnx.GRU(5, 7), attention=Attention("general", 6, 4)),
            r"Decoder: attention.query_size must equal the rnn's output width 7; got 6",
        ),
        (
            lambda: Decoder.build(8, 5, 7, attention="bahdanau", memory_size=4),
            r"Attention: kind must be one of \('dot', 'general', 'additive'\); got 'bahdanau'",
        ),
    ],
)
def test_parts_that_do_not_fit(build: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        build()  # type: ignore[operator]
