"""The generated translation pairs: correct targets, determinism by seed, held-out splits disjoint
from training, documented date conventions, batching."""

from __future__ import annotations

import datetime

import pytest
import torch

from rnnx.lab.tasks.translation import DATE_FORMATS, NAMES, WEEKDAYS, generate_pairs, make_batches
from rnnx.seq2seq import EOS_ID, PAD_ID, SOS_ID, Vocab


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_by_seed_and_splits_disjoint(name: str) -> None:
    a = generate_pairs(name, seed=3, train_size=300, valid_size=50, test_size=50)
    b = generate_pairs(name, seed=3, train_size=300, valid_size=50, test_size=50)
    c = generate_pairs(name, seed=4, train_size=300, valid_size=50, test_size=50)
    assert a.train == b.train
    assert a.valid == b.valid
    assert a.test == b.test
    assert a.train != c.train
    assert (len(a.train), len(a.valid), len(a.test)) == (300, 50, 50)
    sources = [{s for s, _ in split} for split in (a.train, a.valid, a.test)]
    assert sum(len(s) for s in sources) == 400  # all distinct, so held-out never seen in training
    for source, target in a.train + a.test:
        assert all(ch in a.src_vocab for ch in source)
        assert all(ch in a.tgt_vocab for ch in target)


def test_reverse_sort_addition_targets() -> None:
    rev = generate_pairs("reverse", train_size=30, valid_size=5, test_size=5, num_symbols=4, min_length=2, max_length=3)
    for s, t in rev.train:
        assert t == s[::-1]
        assert 2 <= len(s) <= 3
        assert set(s) <= set("abcd")
    for s, t in generate_pairs("sort", train_size=50, valid_size=5, test_size=5).train:
        assert t == "".join(sorted(s))
    add = generate_pairs("addition", train_size=200, valid_size=5, test_size=5, max_digits=3)
    for s, t in add.train:
        x, y = s.split("+")
        assert int(t) == int(x) + int(y)
        assert max(len(x), len(y)) <= 3


def test_date_formats_render_the_documented_conventions() -> None:
    day = datetime.date(2021, 3, 12)  # a Friday
    rendered = {name: fmt(day) for name, fmt in DATE_FORMATS.items()}
    assert rendered == {
        "d_month_yyyy": "12 March 2021",
        "d_mon_yyyy": "12 Mar 2021",
        "month_d_yyyy": "March 12, 2021",
        "mon_d_yyyy": "Mar 12, 2021",
        "weekday_month_d_yyyy": "Friday, March 12, 2021",
        "mm/dd/yy": "03/12/21",
        "mm/dd/yyyy": "03/12/2021",
        "dd.mm.yyyy": "12.03.2021",
        "yyyymmdd": "20210312",
    }


def test_dates_targets_parse_back_to_the_source_date() -> None:
    task = generate_pairs("dates", seed=1, train_size=400, valid_size=10, test_size=10)
    for source, target in task.train:
        date = datetime.date.fromisoformat(target)
        assert datetime.date(1950, 1, 1) <= date <= datetime.date(2049, 12, 31)
        # Oracle: strptime with each format's documented reading; two-digit years 50-99 are 19xx.
        if "/" in source and len(source) == 8:
            parsed = datetime.datetime.strptime(source, "%m/%d/%y").date()
            if parsed.year >= 2050:
                parsed = parsed.replace(year=parsed.year - 100)
        elif "/" in source:
            parsed = datetime.datetime.strptime(source, "%m/%d/%Y").date()
        elif "." in source:
            parsed = datetime.datetime.strptime(source, "%d.%m.%Y").date()
        elif source.isdigit():
            parsed = datetime.datetime.strptime(source, "%Y%m%d").date()
        else:
            words = source.replace(",", "").split()
            if words[0] in WEEKDAYS:
                assert words[0] == WEEKDAYS[date.weekday()]
                words = words[1:]
            text = " ".join(words)
            for pattern in ("%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y"):
                try:
                    parsed = datetime.datetime.strptime(text, pattern).date()
                    break
                except ValueError:
                    continue
        assert parsed == date, source
    only = generate_pairs("dates", train_size=20, valid_size=5, test_size=5, formats=["dd.mm.yyyy"])
    assert all(s.count(".") == 2 for s, _ in only.train)


def test_batches_pad_and_report_lengths() -> None:
    task = generate_pairs("reverse", train_size=20, valid_size=5, test_size=5)
    batch = make_batches([("abc", "cba"), ("a", "a")], task.src_vocab, task.tgt_vocab, batch_size=4)[0]
    v = task.src_vocab
    assert batch.src.tolist() == [[v.index("a"), v.index("b"), v.index("c")], [v.index("a"), PAD_ID, PAD_ID]]
    assert batch.src_lengths.tolist() == [3, 1]
    w = task.tgt_vocab
    assert batch.tgt.tolist() == [
        [SOS_ID, w.index("c"), w.index("b"), w.index("a"), EOS_ID],
        [SOS_ID, w.index("a"), EOS_ID, PAD_ID, PAD_ID],
    ]
    assert batch.tgt_lengths.tolist() == [5, 3]
    shuffled = task.batches("train", batch_size=6, shuffle=True, seed=1)
    assert [b.src.shape[0] for b in shuffled] == [6, 6, 6, 2]
    again = task.batches("train", batch_size=6, shuffle=True, seed=1)
    assert all(torch.equal(x.src, y.src) for x, y in zip(shuffled, again, strict=True))


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (
            lambda: generate_pairs("copy"),
            r"generate_pairs: name must be one of \('reverse', 'sort', 'addition', 'dates'\); got 'copy'",
        ),
        (
            lambda: generate_pairs("reverse", width=3),
            r"generate_pairs\('reverse'\): unknown option\(s\) \['width'\] for this task",
        ),
        (lambda: generate_pairs("reverse", min_length=4, max_length=3), r"max_length must be >= min_length=4; got 3"),
        (lambda: generate_pairs("reverse", num_symbols=27), r"num_symbols must be <= 26 \(letters a-z\); got 27"),
        (
            lambda: generate_pairs("addition", max_digits=1, train_size=60, valid_size=1, test_size=1),
            r"62 examples asked for, but the task has only 100 distinct sources; use at most 50",
        ),
        (lambda: generate_pairs("dates", formats=["iso"]), r"formats must be one of \("),
        (lambda: generate_pairs("reverse", train_size=0), r"train_size must be >= 1; got 0"),
        (
            lambda: make_batches([("", "a")], *_vocabs(), batch_size=2),
            r"make_batches: pairs\[0\] has an empty source",
        ),
        (lambda: make_batches([], *_vocabs(), batch_size=2), r"make_batches: pairs must not be empty"),
    ],
)
def test_bad_arguments(call: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("pairs", "pattern"),
    [
        ("ab", r"make_batches: pairs must be a list or tuple of \(source, target\) pairs; got str"),
        ([("a", "b"), None], r"make_batches: pairs\[1\] must be a \(source, target\) pair; got NoneType"),
        ([("a", "b", "c")], r"make_batches: pairs\[0\] must be a \(source, target\) pair; got tuple of length 3"),
        ([("a", None)], r"make_batches: pairs\[0\]\[1\] must be a str or a list/tuple of token strs; got NoneType"),
        ([(["a", 3], "b")], r"make_batches: pairs\[0\]\[0\]\[1\] must be a token str; got int"),
    ],
)
def test_bad_pairs_are_named(pairs: object, pattern: str) -> None:
    with pytest.raises(TypeError, match=pattern):
        make_batches(pairs, *_vocabs(), batch_size=2)  # type: ignore[arg-type]


def _vocabs() -> tuple[Vocab, Vocab]:
    task = generate_pairs("reverse", train_size=20, valid_size=5, test_size=5)
    return task.src_vocab, task.tgt_vocab
