"""The old import paths of what left :mod:`rnnx.seq2seq` for the lab, kept for one release with a
``DeprecationWarning``; they will be removed in rnnx 0.3.

``rnnx.seq2seq`` keeps the model library (vocabularies, encoder, decoder, attention, bridges,
search, the model and its loss, ``translate``, ``save``/``load``). The generated tasks, their
batches, the metrics and training are the lab's, one stack:

=======================================  ====================================================
old                                      new
=======================================  ====================================================
``rnnx.seq2seq.get_task``                ``rnnx.lab.tasks.translation.generate_pairs``
``rnnx.seq2seq.Task``                    ``rnnx.lab.tasks.translation.TranslationData``
``rnnx.seq2seq.Batch``                   ``rnnx.lab.tasks.translation.TranslationBatch``
``rnnx.seq2seq.make_batches``            ``rnnx.lab.tasks.translation.make_batches``
``rnnx.seq2seq.tasks.TASKS``             ``rnnx.lab.tasks.translation.NAMES``
``rnnx.seq2seq.evaluate``                ``rnnx.lab.metrics.translation_scores``
``rnnx.seq2seq.metrics.score_batch``     ``rnnx.lab.metrics.score_batch``
``rnnx.seq2seq.train``, ``TrainConfig``  ``rnnx.lab.train.train``, ``rnnx.lab.config.TrainConfig``
``rnnx.seq2seq.training.sequence_loss``  ``rnnx.seq2seq.sequence_loss`` (not deprecated there)
=======================================  ====================================================

The old ``train(model, pairs, TrainConfig(steps=...))`` has no counterpart of the same shape: the
lab's ``train`` takes a task by name and an epoch budget (``max_steps=`` caps the steps) and
trains a model of your own with ``model=``. It is kept here, as it was, until rnnx 0.3.

This is the one module of :mod:`rnnx.seq2seq` that imports from the lab, a package above it
(``tests/test_architecture.py`` lists it in ``DEPRECATED``), and only when an old name is used:
``rnnx.seq2seq``'s ``__getattr__`` and the old modules ``rnnx.seq2seq.tasks``, ``.metrics`` and
``.training`` look the names up here, so importing ``rnnx.seq2seq`` neither warns nor imports
the lab.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import torch

from rnnx._checks import check_int, check_probability
from rnnx.seq2seq.model import Seq2Seq, sequence_loss

REMOVED_IN = "rnnx 0.3"
_TRANSLATION = "rnnx.lab.tasks.translation"
_LEGACY = "this one is the old API of pairs and steps, kept as it was"

_TASKS = {
    "Pair": f"{_TRANSLATION}.Pair",
    "TASKS": f"{_TRANSLATION}.NAMES",
    "MONTHS": f"{_TRANSLATION}.MONTHS",
    "WEEKDAYS": f"{_TRANSLATION}.WEEKDAYS",
    "DATE_FORMATS": f"{_TRANSLATION}.DATE_FORMATS",
    "FIRST_DATE": f"{_TRANSLATION}.FIRST_DATE",
    "LAST_DATE": f"{_TRANSLATION}.LAST_DATE",
    "Batch": f"{_TRANSLATION}.TranslationBatch",
    "make_batches": f"{_TRANSLATION}.make_batches",
    "Task": f"{_TRANSLATION}.TranslationData",
    "get_task": f"{_TRANSLATION}.generate_pairs",
    "Vocab": "rnnx.seq2seq.Vocab",
}
_METRICS = {"score_batch": "rnnx.lab.metrics.score_batch", "evaluate": "rnnx.lab.metrics.translation_scores"}
_TRAINING = {
    "sequence_loss": "rnnx.seq2seq.sequence_loss",
    "TrainConfig": "rnnx.seq2seq._moved.TrainConfig",
    "train": "rnnx.seq2seq._moved.train",
}

MOVED: dict[str, dict[str, str]] = {
    "rnnx.seq2seq": {
        "Batch": _TASKS["Batch"],
        "Task": _TASKS["Task"],
        "get_task": _TASKS["get_task"],
        "make_batches": _TASKS["make_batches"],
        "evaluate": _METRICS["evaluate"],
        "TrainConfig": _TRAINING["TrainConfig"],
        "train": _TRAINING["train"],
    },
    "rnnx.seq2seq.tasks": _TASKS,
    "rnnx.seq2seq.metrics": _METRICS,
    "rnnx.seq2seq.training": _TRAINING,
}
"""Old module -> old name -> the full name of the object it gives now."""

MODULES = {
    "rnnx.seq2seq.tasks": f"its names moved to {_TRANSLATION}",
    "rnnx.seq2seq.metrics": "its names moved to rnnx.lab.metrics",
    "rnnx.seq2seq.training": "train with rnnx.lab.train.train and rnnx.lab.config.TrainConfig; "
    "sequence_loss is rnnx.seq2seq.sequence_loss",
}
"""The old modules (now deprecated shims) and where their names went."""

_REPLACEMENT = {
    "rnnx.seq2seq._moved.TrainConfig": f"rnnx.lab.config.TrainConfig with rnnx.lab.train.train ({_LEGACY})",
    "rnnx.seq2seq._moved.train": f"rnnx.lab.train.train(TrainConfig(task=...), model=model) ({_LEGACY})",
}


_PASSED = {*MOVED, "importlib"}  # importlib: import_module("rnnx.seq2seq.tasks")


def _caller_level() -> int:
    """The ``stacklevel`` that names the line using the old path: the first frame outside the old
    modules and ``importlib``. ``warnings`` does not count the frames of the import machinery
    (``importlib._bootstrap``); nor does this."""
    level = 1
    frame: FrameType | None = sys._getframe(2)  # the caller of the function that warns
    while frame is not None:
        file = frame.f_code.co_filename
        if not ("importlib" in file and "_bootstrap" in file):
            level += 1
            if frame.f_globals.get("__name__") not in _PASSED:
                return level
        frame = frame.f_back
    return level


def warn_module(module: str) -> None:
    """Warn that the old module ``module`` was imported."""
    message = f"{module} is deprecated and will be removed in {REMOVED_IN}; {MODULES[module]}"
    warnings.warn(message, DeprecationWarning, stacklevel=_caller_level())


def attribute(module: str, name: str) -> Any:
    """The object the old name ``module.name`` gives, with a ``DeprecationWarning`` naming its new
    path (``rnnx.seq2seq.tasks`` itself is the old module, which warns when imported).

    Raises:
        AttributeError: ``module`` never had ``name``.
    """
    if f"{module}.{name}" in MODULES:
        return importlib.import_module(f"{module}.{name}")  # the old module itself, which warns when imported
    target = MOVED.get(module, {}).get(name)
    if target is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    where = _REPLACEMENT.get(target, target)
    warnings.warn(
        f"{module}.{name} is deprecated and will be removed in {REMOVED_IN}; use {where}",
        DeprecationWarning,
        stacklevel=_caller_level(),
    )
    home, _, attr = target.rpartition(".")
    return getattr(importlib.import_module(home), attr)


# -- the old training API, until rnnx 0.3 ----------------------------------------------------


@dataclass
class TrainConfig:
    """Deprecated (removed in rnnx 0.3): options of the old :func:`train`; the lab's
    :class:`rnnx.lab.config.TrainConfig` replaces it.

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


def train(
    model: Seq2Seq,
    pairs: Sequence[tuple[str, str]],
    config: TrainConfig,
    *,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Deprecated (removed in rnnx 0.3): train ``model`` on ``(source, target)`` pairs with its
    vocabularies, as ``rnnx.seq2seq.train`` did; the lab's :func:`rnnx.lab.train.train` replaces it.

    Each epoch reshuffles the pairs (seeded by ``config.seed`` and the epoch). The model is
    left in training mode. ``callback(step, loss)`` is called after every step (1-based).

    Returns:
        The loss of every step.

    Raises:
        ValueError: a model without vocabularies, or options out of range.
    """
    from rnnx.lab.tasks.translation import make_batches  # the lab only when an old name is used

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
