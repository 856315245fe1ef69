"""The seq2seq tasks of :mod:`rnnx.seq2seq.tasks` (``reverse``, ``sort``, ``addition``, ``dates``)
as lab tasks: source and target ids padded per split, scored by exact match of greedy decoding.

Trivial baseline: always output the most frequent target string of the training split (the
best a model that ignores its source can do on exact match).

Every task takes ``reverse_source``: the model built for it reads each source backwards
(Sutskever et al. 2014; :class:`rnnx.seq2seq.encoder.Encoder`). The data stay as written; the
model carries the option, so it also reverses the sources it is given later.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rnnx.lab.tasks.base import Split, Task

SIZES = {"seed": 0, "train_size": 10_000, "valid_size": 1_000, "test_size": 1_000}


def _split(pairs: list[tuple[str, str]], src_vocab: Any, tgt_vocab: Any) -> Split:
    from rnnx.seq2seq.tasks import make_batches

    (batch,) = make_batches(pairs, src_vocab, tgt_vocab, batch_size=len(pairs))
    return Split(batch.src, batch.tgt, batch.src_lengths, {"tgt_lengths": batch.tgt_lengths})


def _task(name: str, reverse_source: bool, **options: Any) -> Task:
    from rnnx._checks import check_bool
    from rnnx.seq2seq.tasks import get_task as get_seq2seq_task

    check_bool(f"task {name!r}", "reverse_source", reverse_source)

    source = get_seq2seq_task(name, **options)
    splits = {k: _split(getattr(source, k), source.src_vocab, source.tgt_vocab) for k in ("train", "valid", "test")}
    common, _ = Counter(t for _, t in source.train).most_common(1)[0]
    baseline = sum(t == common for _, t in source.valid) / len(source.valid)
    return Task(
        name,
        "seq2seq",
        "exact_match",
        baseline,
        "exact match of always answering the most frequent training target",
        input_size=len(source.src_vocab),
        output_size=len(source.tgt_vocab),
        seq_len=int(splits["train"].inputs.shape[1]),
        tokens=True,
        per_step=False,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        options={**options, "reverse_source": reverse_source},
        info={
            "src_vocab": source.src_vocab,
            "tgt_vocab": source.tgt_vocab,
            "pad_id": source.tgt_vocab.pad_id,
            "reverse_source": reverse_source,
        },
    )


def _given(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


def reverse(
    *,
    seed: int = 0,
    train_size: int = 10_000,
    valid_size: int = 1_000,
    test_size: int = 1_000,
    num_symbols: int | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    reverse_source: bool = False,
) -> Task:
    """Reverse a string of letters (Sutskever et al. 2014's source reversal as a task)."""
    sizes = {"seed": seed, "train_size": train_size, "valid_size": valid_size, "test_size": test_size}
    return _task(
        "reverse",
        reverse_source,
        **sizes,
        **_given(num_symbols=num_symbols, min_length=min_length, max_length=max_length),
    )


def sort(
    *,
    seed: int = 0,
    train_size: int = 10_000,
    valid_size: int = 1_000,
    test_size: int = 1_000,
    num_symbols: int | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    reverse_source: bool = False,
) -> Task:
    """Sort the letters of a string (Vinyals et al. 2016)."""
    sizes = {"seed": seed, "train_size": train_size, "valid_size": valid_size, "test_size": test_size}
    return _task(
        "sort", reverse_source, **sizes, **_given(num_symbols=num_symbols, min_length=min_length, max_length=max_length)
    )


def addition(
    *,
    seed: int = 0,
    train_size: int = 10_000,
    valid_size: int = 1_000,
    test_size: int = 1_000,
    max_digits: int | None = None,
    reverse_source: bool = False,
) -> Task:
    """``"123+45"`` -> ``"168"`` (Zaremba & Sutskever 2014)."""
    sizes = {"seed": seed, "train_size": train_size, "valid_size": valid_size, "test_size": test_size}
    return _task("addition", reverse_source, **sizes, **_given(max_digits=max_digits))


def dates(
    *,
    seed: int = 0,
    train_size: int = 10_000,
    valid_size: int = 1_000,
    test_size: int = 1_000,
    formats: list[str] | None = None,
    reverse_source: bool = False,
) -> Task:
    """A date in one of several human formats -> ISO ``yyyy-mm-dd``."""
    sizes = {"seed": seed, "train_size": train_size, "valid_size": valid_size, "test_size": test_size}
    return _task("dates", reverse_source, **sizes, **_given(formats=formats))
