"""Seq2Seq.forward: teacher forcing, scheduled sampling against a plain loop, pads never in the
loss, and parts or inputs that do not fit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rnnx
from rnnx import seq2seq
from tests.seq2seq.common import SRC_V, TGT_V, source_batch, target_batch, tiny_model


def manual_decode(
    model: seq2seq.Seq2Seq, src: torch.Tensor, lengths: torch.Tensor, tgt: torch.Tensor, ratio: float
) -> torch.Tensor:
    """Step by step: feed the gold token where a fresh uniform draw is below ``ratio``, else
    the previous step's argmax (Bengio et al. 2015)."""
    encoded = model.encoder(src, lengths)
    state = model.decoder.initial_state(model.bridge(encoded.state))
    memory = model.decoder.prepare_memory(encoded.outputs, encoded.mask)
    token, logits = tgt[:, 0], []
    for t in range(tgt.shape[1] - 1):
        step, state, _ = model.decoder.step(token, state, memory)
        logits.append(step)
        if t + 2 < tgt.shape[1]:
            gold = torch.rand(tgt.shape[0]) < ratio
            token = torch.where(gold, tgt[:, t + 1], step.argmax(-1))
    return torch.stack(logits, 1)


@pytest.mark.parametrize("ratio", [1.0, 0.5, 0.0])
def test_teacher_forcing_and_scheduled_sampling_match_a_plain_loop(ratio: float) -> None:
    model = tiny_model(attention="additive", input_feeding=True)
    src, lengths = source_batch([4, 2, 5])
    tgt = target_batch([3, 5, 1])
    torch.manual_seed(7)
    out = model(src, lengths, tgt, teacher_forcing=ratio)
    torch.manual_seed(7)
    expected = manual_decode(model, src, lengths, tgt, ratio)
    assert out.logits.shape == (3, tgt.shape[1] - 1, TGT_V)
    torch.testing.assert_close(out.logits, expected)
    assert out.attention is not None
    assert out.attention.shape == (3, tgt.shape[1] - 1, 5)
    assert torch.all(out.attention[1, :, 2:] == 0)  # the second source has 2 tokens


def test_scheduled_sampling_differs_from_teacher_forcing() -> None:
    model = tiny_model()
    src, lengths = source_batch([4, 2, 5])
    tgt = target_batch([5, 5, 5])
    forced = model(src, lengths, tgt).logits
    free = model(src, lengths, tgt, teacher_forcing=0.0).logits
    torch.testing.assert_close(forced[:, 0], free[:, 0])  # the first input is <sos> either way
    assert not torch.allclose(forced, free)


def test_pads_never_reach_the_loss() -> None:
    model = tiny_model().train()
    src, lengths = source_batch([4, 2, 5])
    tgt = target_batch([3, 5, 1])
    logits = model(src, lengths, tgt).logits.detach().requires_grad_(True)
    gold = tgt[:, 1:]
    loss = seq2seq.sequence_loss(logits, gold, pad_id=seq2seq.PAD_ID)
    # Oracle: the mean of -log p(gold) over the real (non-pad) target positions only.
    terms = [
        -F.log_softmax(logits[b, t], -1)[gold[b, t]] for b in range(3) for t in range(gold.shape[1]) if gold[b, t] != 0
    ]
    assert len(terms) == 4 + 6 + 2
    torch.testing.assert_close(loss, torch.stack(terms).mean())
    loss.backward()
    assert logits.grad is not None
    assert torch.all(logits.grad[gold == 0] == 0)
    assert torch.all(logits.grad[gold != 0].abs().sum(-1) > 0)


def test_outputs_at_real_steps_ignore_target_padding() -> None:
    model = tiny_model()
    src, lengths = source_batch([4, 2, 5])
    tgt = target_batch([3, 5, 1])
    longer = torch.cat([tgt, torch.zeros(3, 4, dtype=torch.long)], 1)  # more trailing pads
    a = model(src, lengths, tgt).logits
    b = model(src, lengths, longer).logits
    torch.testing.assert_close(b[:, : a.shape[1]], a)


def test_from_config_builds_the_named_parts() -> None:
    src_vocab, tgt_vocab = seq2seq.Vocab(list("abcde")), seq2seq.Vocab(list("xyz"))
    config = seq2seq.Seq2SeqConfig(
        cell="lstm", embedding_dim=6, hidden_size=5, num_layers=2, bidirectional=True, attention="dot", bridge="copy"
    )
    model = seq2seq.Seq2Seq.from_config(config, src_vocab, tgt_vocab)
    assert isinstance(model.encoder.rnn, rnnx.LSTM)
    assert model.encoder.rnn.bidirectional
    assert model.decoder.rnn.hidden_size == 10  # twice the encoder's, so "copy" fits
    assert model.decoder.attention is not None
    assert model.decoder.attention.kind == "dot"
    assert isinstance(model.bridge, seq2seq.CopyBridge)
    assert model.src_vocab == src_vocab


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (
            lambda m, s, n, t: m(s, n, t[:, 1:]),
            ValueError,
            r"Seq2Seq: every tgt sequence must start with <sos> \(id 1\)",
        ),
        (
            lambda m, s, n, t: m(s, n, t[:, :1]),
            ValueError,
            r"Seq2Seq: tgt must have at least 2 steps \(<sos> and one token\); got 1",
        ),
        (lambda m, s, n, t: m(s, n, t[:2]), ValueError, r"Seq2Seq: tgt must have the batch size of src \(3\); got 2"),
        (
            lambda m, s, n, t: m(s, n, t, teacher_forcing=1.5),
            ValueError,
            r"Seq2Seq: teacher_forcing must be in \[0, 1\]; got 1.5",
        ),
        (
            lambda m, s, n, t: m(s, n, t + 10),
            ValueError,
            r"Seq2Seq: tgt holds token id 1[0-9], outside the vocabulary of size 8",
        ),
        (
            lambda m, s, n, t: m(s, n[:2], t),
            ValueError,
            r"Encoder: src_lengths must have one length per sequence, shape \(3,\)",
        ),
        (
            lambda m, s, n, t: m(s.float(), n, t),
            TypeError,
            r"Seq2Seq: src must hold integer token ids; got dtype torch.float32",
        ),
    ],
)
def test_bad_inputs(call: object, error: type[Exception], pattern: str) -> None:
    model = tiny_model()
    src, lengths = source_batch([4, 2, 5])
    with pytest.raises(error, match=pattern):
        call(model, src, lengths, target_batch([3, 5, 1]))  # type: ignore[operator]


def test_parts_that_do_not_fit() -> None:
    encoder = seq2seq.Encoder.build(SRC_V, 5, 6, bidirectional=True)
    decoder = seq2seq.Decoder.build(TGT_V, 5, 7, attention="general", memory_size=6)
    with pytest.raises(
        ValueError,
        match=r"Seq2Seq: the decoder's attention.memory_size must equal the encoder's output width 12; got 6",
    ):
        seq2seq.Seq2Seq(encoder, decoder)
    decoder = seq2seq.Decoder.build(TGT_V, 5, 7, attention="general", memory_size=12)
    with pytest.raises(ValueError, match=r"Seq2Seq: bridge='copy' needs the encoder's final state to fit"):
        seq2seq.Seq2Seq(encoder, decoder, bridge="copy")
    with pytest.raises(ValueError, match=r"Seq2Seq: bridge must be one of \('copy', 'linear', 'none'\); got 'avg'"):
        seq2seq.Seq2Seq(encoder, decoder, bridge="avg")
    with pytest.raises(ValueError, match=r"Seq2Seq: tgt_vocab has 6 tokens but its embedding has 8 rows"):
        seq2seq.Seq2Seq(encoder, decoder, bridge="linear", tgt_vocab=seq2seq.Vocab(["a", "b"]))
