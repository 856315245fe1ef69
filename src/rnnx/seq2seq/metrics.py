"""Deprecated, removed in rnnx 0.3: the metrics are the lab's, :mod:`rnnx.lab.metrics`
(``evaluate`` is ``translation_scores``; ``score_batch`` keeps its name). Every old name still
works, with a ``DeprecationWarning`` (see :mod:`rnnx.seq2seq._moved`)."""

from __future__ import annotations

from typing import Any

from rnnx.seq2seq._moved import attribute, warn_module

warn_module(__name__)


def __getattr__(name: str) -> Any:
    return attribute(__name__, name)
