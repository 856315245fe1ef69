"""A small training loop: AdamW, gradient clipping, cross-entropy that never counts pads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnx._checks import check_int, check_probability
from rnnx.seq2seq.model import Seq2Seq
from rnnx.seq2seq.tasks import Pair, make_batches


@dataclass
class TrainConfig:
    """Options of :func:`train`.

    Attributes:
        steps: optimiser steps. batch_size: examples per step.
        lr, weight_decay: AdamW's (Loshchilov & Hutter 2019).
        clip: largest global gradient norm (Pascanu et al. 2013); 0 disables clipping.
        teacher_forcing: ratio passed to :meth:`Seq2Seq.forward` (scheduled sampling below 1).
        seed: seeds the batch order and ``torch.manual_seed``.
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    clip: float = 1.0
    teacher_forcing: float = 1.0
    seed: int = 0


def sequence_loss(logits: Tensor, gold: Tensor, *, pad_id: int) -> Tensor:
    """Mean cross-entropy over the non-pad gold tokens.

    Args:
        logits: ``(B, T, V)``. gold: ``(B, T)`` ids; positions equal to ``pad_id`` are
            ignored (``ignore_index``), so padding never contributes to the loss or its gradient.
    """
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=pad_id)


def train(
    model: Seq2Seq,
    pairs: Sequence[Pair],
    config: TrainConfig,
    *,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` on ``(source, target)`` pairs with its vocabularies.

    Each epoch reshuffles the pairs (seeded by ``config.seed`` and the epoch). The model is
    left in training mode.

    Args:
        callback: called as ``callback(step, loss)`` after every step (1-based).

    Returns:
        The loss of every step.

    Raises:
        ValueError: a model without vocabularies, or options out of range.
    """
    if model.src_vocab is None or model.tgt_vocab is None:
        raise ValueError("train: the model needs src_vocab and tgt_vocab to encode the pairs")
    check_int("train", "steps", config.steps, minimum=1)
    check_int("train", "batch_size", config.batch_size, minimum=1)
    check_probability("train", "teacher_forcing", config.teacher_forcing)
    if not config.clip >= 0:
        raise ValueError(f"train: clip must be >= 0; got {config.clip}")
    torch.manual_seed(config.seed)
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    model.train()
    losses: list[float] = []
    epoch = 0
    while len(losses) < config.steps:
        batches = make_batches(
            pairs,
            model.src_vocab,
            model.tgt_vocab,
            batch_size=config.batch_size,
            shuffle=True,
            seed=config.seed * 100_003 + epoch,
        )
        for batch in batches:
            tgt = batch.tgt.to(device)
            out = model(batch.src.to(device), batch.src_lengths, tgt, teacher_forcing=config.teacher_forcing)
            loss = sequence_loss(out.logits, tgt[:, 1:], pad_id=model.pad_id)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            losses.append(float(loss.detach()))
            if callback is not None:
                callback(len(losses), losses[-1])
            if len(losses) == config.steps:
                break
        epoch += 1
    return losses
