"""Deprecated, removed in rnnx 0.3: training is the lab's, :func:`rnnx.lab.train.train` with
:class:`rnnx.lab.config.TrainConfig` (``model=`` trains a :class:`~rnnx.seq2seq.Seq2Seq` of your
own); ``sequence_loss`` is :func:`rnnx.seq2seq.sequence_loss`. The old ``TrainConfig`` and
``train`` still work, with a ``DeprecationWarning`` (see :mod:`rnnx.seq2seq._moved`)."""

from __future__ import annotations

from typing import Any

from rnnx.seq2seq._moved import attribute, warn_module

warn_module(__name__)


def __getattr__(name: str) -> Any:
    return attribute(__name__, name)
