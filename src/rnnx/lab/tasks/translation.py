"""The generated translation tasks ``reverse``, ``sort``, ``addition`` and ``dates``: string pairs
with seeded held-out splits, their batches, and the lab tasks built from them.

:func:`generate_pairs` draws *distinct* source strings from a seeded generator and splits them
into train / valid / test, so no held-out source was seen in training. Tokens are characters.

- ``reverse``: ``"cadb" -> "bdac"``; random letters from the first ``num_symbols`` of
  ``a..z``, lengths ``min_length..max_length``.
- ``sort``: ``"cadb" -> "abcd"``; as ``reverse``.
- ``addition``: ``"535+61" -> "596"``; operands uniform in ``[0, 10**max_digits)``.
- ``dates``: a calendar date in one of :data:`DATE_FORMATS` -> ISO 8601 ``"2021-03-12"``;
  years ``1950..2049``. Numeric formats with slashes are **month first** (US: ``03/12/21``
  is 12 March 2021), with dots **day first** (European: ``12.03.2021``); two-digit years
  ``50..99`` are 1950-1999 and ``00..49`` are 2000-2049. Every date is therefore unambiguous.

As lab tasks (:func:`reverse`, :func:`sort`, :func:`addition`, :func:`dates`, registered in
:mod:`rnnx.lab.tasks`): source and target ids padded per split, for an encoder-decoder
(:class:`rnnx.seq2seq.Seq2Seq`), scored by exact match of greedy decoding
(:func:`rnnx.lab.metrics.score_batch`). Trivial baseline: always output the most frequent target
string of the training split (the best a model that ignores its source can do on exact match).
The pairs the task was built from are its ``info["pairs"]`` (a :class:`TranslationData`).

Every lab task takes ``reverse_source``: the model built for it reads each source backwards
(Sutskever et al. 2014; :class:`rnnx.seq2seq.encoder.Encoder`). The data stay as written; the
model carries the option, so it also reverses the sources it is given later.

And ``teacher_forcing``, the probability of feeding the decoder the true previous token at each
training step (1, the default, always does; below 1 is scheduled sampling, Bengio et al. 2015,
:meth:`rnnx.seq2seq.Seq2Seq.forward`). Its draws come from torch's generator, which checkpoints
save, so a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import datetime
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnx._checks import check_bool, check_choice, check_int, check_probability
from rnnx.lab.tasks.base import Split, Task
from rnnx.seq2seq._inputs import check_pairs, pad_ids
from rnnx.seq2seq.vocab import Vocab

Pair = tuple[str, str]
"""A ``(source, target)`` example; each string is a sequence of character tokens."""

NAMES: tuple[str, ...] = ("reverse", "sort", "addition", "dates")
"""The tasks :func:`generate_pairs` knows."""

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

DATE_FORMATS: dict[str, Callable[[datetime.date], str]] = {
    "d_month_yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",  # 12 March 2021
    "d_mon_yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",  # 12 Mar 2021
    "month_d_yyyy": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",  # March 12, 2021
    "mon_d_yyyy": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",  # Mar 12, 2021
    "weekday_month_d_yyyy": lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    "mm/dd/yy": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",  # 03/12/21 (US, month first)
    "mm/dd/yyyy": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",  # 03/12/2021
    "dd.mm.yyyy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",  # 12.03.2021 (European, day first)
    "yyyymmdd": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",  # 20210312
}
"""The source formats of the ``dates`` task, by name, each with its rendering of 12 March 2021."""

FIRST_DATE = datetime.date(1950, 1, 1)
LAST_DATE = datetime.date(2049, 12, 31)


@dataclass
class TranslationBatch:
    """A padded batch of ``(source, target)`` examples, in the form :class:`rnnx.seq2seq.Seq2Seq`
    takes them.

    Attributes:
        src: ``(B, S)`` source ids, ``<pad>`` after each length. src_lengths: ``(B,)``.
        tgt: ``(B, T)`` ``<sos>``, target ids, ``<eos>``, then ``<pad>``. tgt_lengths:
            ``(B,)`` counting ``<sos>`` and ``<eos>``.
    """

    src: Tensor
    src_lengths: Tensor
    tgt: Tensor
    tgt_lengths: Tensor

    def to(self, device: torch.device | str) -> TranslationBatch:
        """The batch with ``src`` and ``tgt`` on ``device`` (lengths stay on the CPU)."""
        return TranslationBatch(self.src.to(device), self.src_lengths, self.tgt.to(device), self.tgt_lengths)


def make_batches(
    pairs: Sequence[Pair] | Sequence[tuple[Sequence[str], Sequence[str]]],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
) -> list[TranslationBatch]:
    """Encode, pad and batch ``(source, target)`` pairs (unknown tokens become ``<unk>``).

    Args:
        pairs: token sequences (a string is a sequence of characters).
        batch_size: examples per batch (the last one may be smaller).
        shuffle: shuffle the examples first, with ``seed``.

    Raises:
        TypeError: ``pairs`` is not a list/tuple of pairs of sources (a str or a list/tuple of
            token strs), naming the position (``pairs[3][1]``).
        ValueError: ``batch_size < 1``, no pairs, or an empty source or target.
    """
    check_int("make_batches", "batch_size", batch_size, minimum=1)
    checked = check_pairs("make_batches", "pairs", pairs)
    order = list(range(len(checked)))
    if shuffle:
        random.Random(seed).shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size):
        chunk = [checked[i] for i in order[start : start + batch_size]]
        src, src_lengths = pad_ids([src_vocab.encode(s, add_eos=False) for s, _ in chunk], pad_id=src_vocab.pad_id)
        tgt, tgt_lengths = pad_ids([tgt_vocab.encode(t, add_sos=True) for _, t in chunk], pad_id=tgt_vocab.pad_id)
        batches.append(TranslationBatch(src, src_lengths, tgt, tgt_lengths))
    return batches


@dataclass
class TranslationData:
    """A generated task's splits of ``(source, target)`` string pairs and their vocabularies
    (built from the training split)."""

    name: str
    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    src_vocab: Vocab
    tgt_vocab: Vocab
    options: dict[str, Any]

    def batches(self, split: str, *, batch_size: int, shuffle: bool = False, seed: int = 0) -> list[TranslationBatch]:
        """:func:`make_batches` of ``split`` (``"train"``, ``"valid"`` or ``"test"``)."""
        check_choice(f"TranslationData {self.name!r}", "split", split, ("train", "valid", "test"))
        pairs: list[Pair] = getattr(self, split)
        return make_batches(pairs, self.src_vocab, self.tgt_vocab, batch_size=batch_size, shuffle=shuffle, seed=seed)


def _letters(owner: str, options: dict[str, Any]) -> tuple[str, int, int]:
    symbols = check_int(owner, "num_symbols", options.pop("num_symbols", 10), minimum=2)
    if symbols > 26:
        raise ValueError(f"{owner}: num_symbols must be <= 26 (letters a-z); got {symbols}")
    low = check_int(owner, "min_length", options.pop("min_length", 5), minimum=1)
    high = check_int(owner, "max_length", options.pop("max_length", 8), minimum=1)
    if high < low:
        raise ValueError(f"{owner}: max_length must be >= min_length={low}; got {high}")
    return "abcdefghijklmnopqrstuvwxyz"[:symbols], low, high


def _sequence_task(
    owner: str, options: dict[str, Any], target: Callable[[str], str]
) -> tuple[Callable[[random.Random], Pair], int, dict[str, Any]]:
    alphabet, low, high = _letters(owner, options)
    space = sum(len(alphabet) ** n for n in range(low, high + 1))

    def draw(rng: random.Random) -> Pair:
        source = "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))
        return source, target(source)

    return draw, space, {"num_symbols": len(alphabet), "min_length": low, "max_length": high}


def _addition_pairs(owner: str, options: dict[str, Any]) -> tuple[Callable[[random.Random], Pair], int, dict[str, Any]]:
    digits = check_int(owner, "max_digits", options.pop("max_digits", 3), minimum=1)
    top = 10**digits

    def draw(rng: random.Random) -> Pair:
        a, b = rng.randrange(top), rng.randrange(top)
        return f"{a}+{b}", str(a + b)

    return draw, top * top, {"max_digits": digits}


def _date_pairs(owner: str, options: dict[str, Any]) -> tuple[Callable[[random.Random], Pair], int, dict[str, Any]]:
    formats = options.pop("formats", tuple(DATE_FORMATS))
    if isinstance(formats, str) or not formats:
        raise ValueError(
            f"{owner}: formats must be a non-empty sequence of names from {tuple(DATE_FORMATS)}; got {formats!r}"
        )
    names = tuple(check_choice(owner, "formats", f, tuple(DATE_FORMATS)) for f in formats)
    days = (LAST_DATE - FIRST_DATE).days + 1

    def draw(rng: random.Random) -> Pair:
        date = FIRST_DATE + datetime.timedelta(days=rng.randrange(days))
        return DATE_FORMATS[rng.choice(names)](date), date.isoformat()

    return draw, days * len(names), {"formats": list(names)}


def generate_pairs(
    name: str,
    *,
    seed: int = 0,
    train_size: int = 10_000,
    valid_size: int = 1_000,
    test_size: int = 1_000,
    **options: Any,
) -> TranslationData:
    """Generate a task's splits of string pairs (see the module docstring for the tasks).

    The same ``name``, ``seed``, sizes and options always give the same splits; their sources
    are pairwise distinct, so valid and test are disjoint from train.

    Args:
        name: one of :data:`NAMES`.
        seed: seeds the generator.
        train_size, valid_size, test_size: examples per split (``>= 1``).
        options: per task: ``num_symbols`` (10), ``min_length`` (5), ``max_length`` (8) for
            ``reverse``/``sort``; ``max_digits`` (3) for ``addition``; ``formats`` (all of
            :data:`DATE_FORMATS`) for ``dates``.

    Raises:
        ValueError: unknown task or option, sizes out of range, or more examples asked for
            than the task has distinct sources.
    """
    owner = f"generate_pairs({name!r})"
    check_choice("generate_pairs", "name", name, NAMES)
    check_int(owner, "seed", seed, minimum=0)
    sizes = [
        check_int(owner, n, v, minimum=1)
        for n, v in (("train_size", train_size), ("valid_size", valid_size), ("test_size", test_size))
    ]
    rest = dict(options)
    if name == "reverse":
        draw, space, used = _sequence_task(owner, rest, lambda s: s[::-1])
    elif name == "sort":
        draw, space, used = _sequence_task(owner, rest, lambda s: "".join(sorted(s)))
    elif name == "addition":
        draw, space, used = _addition_pairs(owner, rest)
    else:
        draw, space, used = _date_pairs(owner, rest)
    if rest:
        raise ValueError(f"{owner}: unknown option(s) {sorted(rest)} for this task")
    total = sum(sizes)
    if total > space // 2:  # rejection sampling needs room to find distinct sources quickly
        raise ValueError(
            f"{owner}: {total} examples asked for, but the task has only {space} distinct sources; "
            f"use at most {space // 2}"
        )
    # The seed string names the tasks' first home; changing it would change every task's data.
    rng = random.Random(f"rnnx.seq2seq.{name}:{seed}")
    seen: set[str] = set()
    pairs: list[Pair] = []
    while len(pairs) < total:
        source, target = draw(rng)
        if source not in seen:
            seen.add(source)
            pairs.append((source, target))
    train, valid, test = pairs[: sizes[0]], pairs[sizes[0] : sizes[0] + sizes[1]], pairs[sizes[0] + sizes[1] :]
    src_vocab = Vocab.build(s for s, _ in train)
    tgt_vocab = Vocab.build(t for _, t in train)
    return TranslationData(name, train, valid, test, src_vocab, tgt_vocab, {"seed": seed, **used})


# -- the lab tasks ---------------------------------------------------------------------------


def _split(pairs: list[Pair], src_vocab: Vocab, tgt_vocab: Vocab) -> Split:
    (batch,) = make_batches(pairs, src_vocab, tgt_vocab, batch_size=len(pairs))
    return Split(batch.src, batch.tgt, batch.src_lengths, {"tgt_lengths": batch.tgt_lengths})


def _task(name: str, reverse_source: bool, teacher_forcing: float, **options: Any) -> Task:
    check_bool(f"task {name!r}", "reverse_source", reverse_source)
    teacher_forcing = check_probability(f"task {name!r}", "teacher_forcing", teacher_forcing)
    data = generate_pairs(name, **options)
    splits = {k: _split(getattr(data, k), data.src_vocab, data.tgt_vocab) for k in ("train", "valid", "test")}
    common, _ = Counter(t for _, t in data.train).most_common(1)[0]
    baseline = sum(t == common for _, t in data.valid) / len(data.valid)
    return Task(
        name,
        "seq2seq",
        "exact_match",
        baseline,
        "exact match of always answering the most frequent training target",
        input_size=len(data.src_vocab),
        output_size=len(data.tgt_vocab),
        seq_len=int(splits["train"].inputs.shape[1]),
        tokens=True,
        per_step=False,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        options={**options, "reverse_source": reverse_source, "teacher_forcing": teacher_forcing},
        info={
            "src_vocab": data.src_vocab,
            "tgt_vocab": data.tgt_vocab,
            "pad_id": data.tgt_vocab.pad_id,
            "reverse_source": reverse_source,
            "teacher_forcing": teacher_forcing,
            "pairs": data,
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
    teacher_forcing: float = 1.0,
) -> Task:
    """Reverse a string of letters (Sutskever et al. 2014's source reversal as a task)."""
    sizes = {"seed": seed, "train_size": train_size, "valid_size": valid_size, "test_size": test_size}
    return _task(
        "reverse",
        reverse_source,
        teacher_forcing,
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
    teacher_forcing: float = 1.0,
) -> Task:
    """Sort the letters of a string (Vinyals et al. 2016)."""
    sizes = {"seed": seed, "train_size": train_size, "valid_size": valid_size, "test_size": test_size}
    return _task(
        "sort",
        reverse_source,
        teacher_forcing,
        **sizes,
        **_given(num_symbols=num_symbols, min_length=min_length, max_length=max_length),
    )


def addition(
    *,
    seed: int = 0,
    train_size: int = 10_000,
    valid_size: int = 1_000,
    test_size: int = 1_000,
    max_digits: int | None = None,
    reverse_source: bool = False,
    teacher_forcing: float = 1.0,
) -> Task:
    """``"123+45"`` -> ``"168"`` (Zaremba & Sutskever 2014)."""
    sizes = {"seed": seed, "train_size": train_size, "valid_size": valid_size, "test_size": test_size}
    return _task("addition", reverse_source, teacher_forcing, **sizes, **_given(max_digits=max_digits))


def dates(
    *,
    seed: int = 0,
    train_size: int = 10_000,
    valid_size: int = 1_000,
    test_size: int = 1_000,
    formats: list[str] | None = None,
    reverse_source: bool = False,
    teacher_forcing: float = 1.0,
) -> Task:
    """A date in one of several human formats -> ISO ``yyyy-mm-dd``."""
    sizes = {"seed": seed, "train_size": train_size, "valid_size": valid_size, "test_size": test_size}
    return _task("dates", reverse_source, teacher_forcing, **sizes, **_given(formats=formats))
