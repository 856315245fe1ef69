"""What every task is: seeded splits of tensors, a metric, a trivial baseline and batches.

A task holds whole splits in memory (every built-in task is small), so an epoch's order is a
permutation drawn from ``(seed, epoch)`` alone: a resumed run sees exactly the batches an
uninterrupted run would have seen, whatever the random state of the process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnx.seq2seq.model import sequence_loss

KINDS = ("regression", "classification", "language_model", "seq2seq")
METRICS = ("mse", "accuracy", "cross_entropy", "bits_per_char", "exact_match")
LOWER_IS_BETTER = {"mse": True, "accuracy": False, "cross_entropy": True, "bits_per_char": True, "exact_match": False}


@dataclass(frozen=True)
class Split:
    """One split of a task.

    ``inputs`` is ``(N, T, F)`` floats or ``(N, T)`` token ids; ``targets`` is ``(N, O)`` floats
    (regression), ``(N,)`` class ids (one label per sequence) or ``(N, T)`` token ids (one label
    per step); ``lengths`` is ``(N,)`` for variable-length sequences, else ``None``.
    """

    inputs: Tensor
    targets: Tensor
    lengths: Tensor | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def take(self, index: Tensor) -> Batch:
        """The rows ``index`` of this split as a :class:`Batch`."""
        lengths = None if self.lengths is None else self.lengths[index]
        return Batch(self.inputs[index], self.targets[index], lengths, {k: v[index] for k, v in self.extra.items()})


@dataclass(frozen=True)
class Batch:
    """A batch, batch first: ``inputs`` ``(B, T, F)`` or ``(B, T)``, ``targets`` as in :class:`Split`."""

    inputs: Tensor
    targets: Tensor
    lengths: Tensor | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> Batch:
        lengths = None if self.lengths is None else self.lengths.to(device)
        extra = {k: v.to(device) for k, v in self.extra.items()}
        return Batch(self.inputs.to(device), self.targets.to(device), lengths, extra)


@dataclass(frozen=True)
class Task:
    """A learning problem: data, what a model must output, and how it is scored.

    Attributes:
        name: registry name (``"adding"``, ...).
        kind: one of ``"regression"``, ``"classification"``, ``"language_model"``, ``"seq2seq"``.
        metric: ``"mse"``, ``"accuracy"``, ``"cross_entropy"`` (nats per step),
            ``"bits_per_char"`` or ``"exact_match"``; ``lower_is_better`` says which way is good.
        baseline: the metric of a trivial model that ignores what must be learnt, computed from the
            data or from the task's parameters; ``baseline_note`` says which model.
        input_size: features per step, or the vocabulary size when ``tokens``.
        output_size: regression outputs per sequence, or the number of classes.
        seq_len: steps per input sequence (the longest one for variable lengths).
        tokens: inputs are token ids ``(N, T)`` rather than features ``(N, T, F)``.
        per_step: one prediction per step (``(N, T)`` targets) rather than one per sequence.
        options: the resolved options the task was built with (enough to rebuild it).
        vocab: the symbols of a token task, when they are characters or words.
    """

    name: str
    kind: str
    metric: str
    baseline: float
    baseline_note: str
    input_size: int
    output_size: int
    seq_len: int
    tokens: bool
    per_step: bool
    train: Split
    valid: Split
    test: Split
    options: dict[str, Any]
    vocab: tuple[str, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def lower_is_better(self) -> bool:
        return LOWER_IS_BETTER[self.metric]

    @property
    def halfway(self) -> float:
        """The metric value that halves the baseline's distance to a perfect score: ``baseline / 2``
        for losses (perfect is 0), ``1 - (1 - baseline) / 2`` for accuracies (perfect is 1)."""
        return self.baseline / 2 if self.lower_is_better else 1.0 - (1.0 - self.baseline) / 2

    def better(self, a: float, b: float) -> bool:
        """Whether metric value ``a`` is strictly better than ``b``."""
        return a < b if self.lower_is_better else a > b

    def split(self, name: str) -> Split:
        if name not in ("train", "valid", "test"):
            raise ValueError(f"Task.split: name must be one of ('train', 'valid', 'test'); got {name!r}")
        split: Split = getattr(self, name)
        return split

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> Iterator[Batch]:
        """Batches of ``split``, ``batch_size`` rows each (the last one may be smaller unless
        ``drop_last``).

        With ``shuffle``, the order is a permutation drawn from ``(seed, epoch)`` only. With
        ``world_size > 1``, each global batch is cut into ``world_size`` equal shards and this
        process gets shard ``rank`` (``batch_size`` must then be a multiple of ``world_size``).
        """
        data = self.split(split)
        n = len(data)
        if shuffle:
            generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        if world_size > 1 and batch_size % world_size:
            raise ValueError(f"Task.batches: batch_size {batch_size} must be a multiple of world_size {world_size}")
        shard = batch_size // world_size
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            if drop_last and len(index) < batch_size:
                return
            if world_size > 1:
                index = index[rank * shard : (rank + 1) * shard]
            if len(index):
                yield data.take(index)

    def forward(self, model: nn.Module, batch: Batch) -> Tensor:
        """The model's training output on ``batch``: ``model(inputs, lengths)``, or for seq2seq the
        logits ``(B, T-1, V)`` of ``model(src, src_lengths, tgt, teacher_forcing=...)`` with the
        task's ``teacher_forcing`` (1: always the true previous token)."""
        if self.kind == "seq2seq":
            ratio = float(self.info.get("teacher_forcing", 1.0))
            logits: Tensor = model(batch.inputs, batch.lengths, batch.targets, teacher_forcing=ratio).logits
            return logits
        out: Tensor = model(batch.inputs, batch.lengths)
        return out

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        """The training loss of ``output`` on ``batch``: MSE for regression, cross-entropy otherwise
        (mean over the batch, and over the steps for per-step tasks; over the non-pad target
        tokens after ``<sos>`` for seq2seq)."""
        if self.kind == "regression":
            return F.mse_loss(output, batch.targets)
        if self.kind == "seq2seq":
            return sequence_loss(output, batch.targets[:, 1 : output.shape[1] + 1], pad_id=self.info["pad_id"])
        return F.cross_entropy(output.reshape(-1, output.shape[-1]), batch.targets.reshape(-1))

    def score(self, model: nn.Module, batch: Batch) -> tuple[float, int]:
        """``(total, count)`` of the metric of ``model`` on ``batch`` (see :meth:`metric_sums`); a
        seq2seq model decodes greedily, free-running, and counts exact matches."""
        if self.kind != "seq2seq":
            return self.metric_sums(self.forward(model, batch), batch)
        from rnnx.lab.metrics import score_batch  # which imports the translation tasks, built on this module

        reference, lengths = batch.targets[:, 1:], batch.extra["tgt_lengths"] - 1  # without <sos>
        seq2seq: Any = model  # an rnnx.seq2seq.Seq2Seq
        out = seq2seq.generate(batch.inputs, batch.lengths, max_len=int(lengths.max()))
        exact, _, _ = score_batch(out.tokens[:, 0], out.lengths[:, 0], reference, lengths)
        return float(exact), len(reference)

    def metric_sums(self, output: Tensor, batch: Batch) -> tuple[float, int]:
        """``(total, count)`` of the metric over ``batch``; the metric is ``sum(total) / sum(count)``
        over all batches, so uneven last batches weigh exactly as they should."""
        if self.metric == "mse":
            return float(((output - batch.targets) ** 2).sum()), batch.targets.numel()
        if self.metric == "accuracy":
            return float((output.argmax(-1) == batch.targets).sum()), batch.targets.numel()
        nats = F.cross_entropy(output.reshape(-1, output.shape[-1]), batch.targets.reshape(-1), reduction="sum")
        scale = 1 / math.log(2) if self.metric == "bits_per_char" else 1.0
        return float(nats) * scale, batch.targets.numel()


def train_mean_mse(train_targets: Tensor, valid_targets: Tensor) -> float:
    """MSE on ``valid_targets`` of always predicting the mean of ``train_targets`` (per output)."""
    mean = train_targets.double().mean(0, keepdim=True)
    return float(((valid_targets.double() - mean) ** 2).mean())


def majority_accuracy(train_targets: Tensor, valid_targets: Tensor) -> float:
    """Accuracy on ``valid_targets`` of always predicting the most frequent class of ``train_targets``."""
    majority = int(torch.bincount(train_targets.flatten()).argmax())
    return float((valid_targets == majority).double().mean())


def split_sizes(owner: str, n: int, fractions: tuple[float, float]) -> tuple[int, int, int]:
    """Train/valid/test sizes of ``n`` items with the given valid and test fractions; each split
    gets at least one item or the data is too small."""
    valid = max(1, round(n * fractions[0]))
    test = max(1, round(n * fractions[1]))
    train = n - valid - test
    if train < 1:
        raise ValueError(f"{owner}: too little data to split into train/valid/test; got {n} examples")
    return train, valid, test
