"""Small seeded models and batches shared by the seq2seq tests."""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor

from rnnx import seq2seq
from rnnx.lab.config import TrainConfig
from rnnx.lab.tasks.translation import TranslationBatch, TranslationData, generate_pairs
from rnnx.lab.train import train

SRC_V, TGT_V = 9, 8


def tiny_model(
    *,
    cell: str = "gru",
    attention: str | None = "general",
    bidirectional: bool = False,
    bridge: str = "linear",
    input_feeding: bool = False,
    seed: int = 0,
    eos_bias: float = 0.0,
    **options: Any,
) -> seq2seq.Seq2Seq:
    """A seeded model with small random weights, in eval mode. ``eos_bias`` raises the
    ``<eos>`` logit so random models end their outputs at varied lengths."""
    torch.manual_seed(seed)
    encoder = seq2seq.Encoder.build(SRC_V, 5, 6, cell=cell, bidirectional=bidirectional, **options)
    decoder = seq2seq.Decoder.build(
        TGT_V,
        5,
        7,
        cell=cell,
        attention=attention,
        memory_size=encoder.output_size,
        input_feeding=input_feeding,
        **options,
    )
    model = seq2seq.Seq2Seq(encoder, decoder, bridge=bridge).eval()
    if eos_bias:
        with torch.no_grad():
            decoder.output.bias[seq2seq.EOS_ID] += eos_bias
    return model


def source_batch(lengths: list[int], *, vocab: int = SRC_V, seed: int = 1) -> tuple[Tensor, Tensor]:
    """``(B, max(lengths))`` random ids in ``[4, vocab)`` padded with 0, and the lengths."""
    g = torch.Generator().manual_seed(seed)
    src = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for row, n in enumerate(lengths):
        src[row, :n] = torch.randint(4, vocab, (n,), generator=g)
    return src, torch.tensor(lengths)


def target_batch(lengths: list[int], *, vocab: int = TGT_V, seed: int = 2) -> Tensor:
    """``(B, max+2)``: ``<sos>``, ``n`` random ids, ``<eos>``, pads."""
    g = torch.Generator().manual_seed(seed)
    tgt = torch.zeros(len(lengths), max(lengths) + 2, dtype=torch.long)
    for row, n in enumerate(lengths):
        tgt[row, 0] = seq2seq.SOS_ID
        tgt[row, 1 : n + 1] = torch.randint(4, vocab, (n,), generator=g)
        tgt[row, n + 1] = seq2seq.EOS_ID
    return tgt


TRAINED = {
    # Attention with input feeding over a bidirectional encoder: the most moving parts.
    "attention": {"attention": "general", "input_feeding": True, "bidirectional": True, "bridge": "linear"},
    # The fixed context vector: LSTM, no attention, the encoder state copied.
    "context": {"cell": "lstm", "attention": None, "bridge": "copy"},
}


REVERSE = {"seed": 0, "train_size": 2000, "valid_size": 50, "test_size": 60, "min_length": 2, "max_length": 7}


@functools.cache
def reverse_task() -> TranslationData:
    return generate_pairs("reverse", **REVERSE)


@functools.cache
def trained_model(kind: str) -> seq2seq.Seq2Seq:
    """A tiny model trained (by the lab) for a few steps on short reversals: not accurate, but its
    outputs end at different lengths for different sources, which random weights rarely do."""
    task = reverse_task()
    torch.manual_seed(0)
    config = seq2seq.Seq2SeqConfig(embedding_dim=8, hidden_size=12, **TRAINED[kind])
    model = seq2seq.Seq2Seq.from_config(config, task.src_vocab, task.tgt_vocab)
    run = TrainConfig(
        task="reverse", task_options=REVERSE, model="gru", hidden_size=12, batch_size=32, lr=1e-2, schedule="constant"
    )
    train(run, model=model, max_steps=60)  # the held-out batch's outputs then end at 4 or more lengths
    return model.eval()


def held_out_batch(size: int = 6) -> TranslationBatch:
    return reverse_task().batches("test", batch_size=size)[0]
