"""Deprecated, removed in rnnx 0.3: the generated tasks and their batches are the lab's,
:mod:`rnnx.lab.tasks.translation` (``get_task`` is ``generate_pairs``, ``Task`` is ``TranslationData``,
``Batch`` is ``TranslationBatch``, ``TASKS`` is ``NAMES``). Every old name still works, with a
``DeprecationWarning`` (see :mod:`rnnx.seq2seq._moved`)."""

from __future__ import annotations

from typing import Any

from rnnx.seq2seq._moved import attribute, warn_module

warn_module(__name__)


def __getattr__(name: str) -> Any:
    return attribute(__name__, name)
