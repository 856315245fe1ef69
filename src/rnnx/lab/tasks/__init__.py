"""The task registry: ``get_task(name, **options)`` builds a :class:`Task` by name.

=========  ==============  ================  ==========================================
name       kind            metric            options
=========  ==============  ================  ==========================================
sine       regression      mse               seq_len, horizon, noise, *_size, seed
adding     regression      mse               seq_len, train/valid/test_size, seed
copy       classification  cross_entropy     seq_len, train/valid/test_size, seed
digits     classification  accuracy          mode (pixel|row), permute, seed
chars      language_model  bits_per_char     path, seq_len
csv        regression      mse               path, column, window, horizon
reverse    seq2seq         exact_match       num_symbols, min_length, max_length, *_size, seed
sort       seq2seq         exact_match       num_symbols, min_length, max_length, *_size, seed
addition   seq2seq         exact_match       max_digits, *_size, seed
dates      seq2seq         exact_match       formats, *_size, seed
=========  ==============  ================  ==========================================

The seq2seq tasks are generated string pairs (:mod:`rnnx.lab.tasks.translation`); their models
are encoder-decoders (:class:`rnnx.seq2seq.Seq2Seq`), scored by greedy decoding.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from rnnx.lab.tasks.base import KINDS, METRICS, Batch, Split, Task
from rnnx.lab.tasks.digits import digits
from rnnx.lab.tasks.series import csv
from rnnx.lab.tasks.synthetic import adding, copy, sine
from rnnx.lab.tasks.text import chars
from rnnx.lab.tasks.translation import addition, dates, reverse, sort

TASKS: dict[str, Callable[..., Task]] = {
    "sine": sine,
    "adding": adding,
    "copy": copy,
    "digits": digits,
    "chars": chars,
    "csv": csv,
    "reverse": reverse,
    "sort": sort,
    "addition": addition,
    "dates": dates,
}


def task_options(name: str) -> tuple[str, ...]:
    """The options task ``name`` accepts."""
    factory = _factory(name)
    return tuple(inspect.signature(factory).parameters)


def _factory(name: str) -> Callable[..., Task]:
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def get_task(name: str, **options: Any) -> Task:
    """Build the task registered as ``name`` with ``options`` (see the table above).

    Raises:
        ValueError: for an unknown task, an option the task does not take, or a bad value.
        FileNotFoundError: for a data file that does not exist.
    """
    factory = _factory(name)
    accepted = task_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"task {name!r} does not take {', '.join(unknown)}; it takes {', '.join(accepted)}")
    return factory(**options)


__all__ = ["KINDS", "METRICS", "TASKS", "Batch", "Split", "Task", "get_task", "task_options"]
