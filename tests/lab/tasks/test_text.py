"""chars: windows, vocabulary, the unigram baseline and bad files."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from rnnx.lab.tasks import get_task
from rnnx.lab.tasks.text import default_text_path


def test_windows_decode_back_to_the_text(tmp_path: Path) -> None:
    text = "the quick brown fox jumps over the lazy dog. " * 20
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    task = get_task("chars", path=str(path), seq_len=10)
    assert task.vocab == tuple(sorted(set(text)))
    assert task.input_size == task.output_size == len(task.vocab)
    decode = lambda ids: "".join(task.vocab[i] for i in ids.tolist())  # noqa: E731
    x, y = task.train.inputs, task.train.targets
    assert x.shape == y.shape == (len(x), 10)
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    assert torch.equal(x[1:, 0], y[:-1, -1])  # windows overlap by one: each character predicted once
    train_text = text[: math.floor(len(text) * 0.8)]
    assert "".join(decode(r) for r in x) + decode(y[-1])[-1] == train_text[: 10 * len(x) + 1]


def test_unigram_baseline_in_bits(tmp_path: Path) -> None:
    text = "aab" * 50 + "abc" * 10
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    task = get_task("chars", path=str(path), seq_len=5)
    counts = Counter("".join(task.vocab[i] for i in task.train.targets.flatten().tolist()))
    total = sum(counts.values()) + len(task.vocab)
    valid = "".join(task.vocab[i] for i in task.valid.targets.flatten().tolist())
    oracle = -sum(math.log2((counts[c] + 1) / total) for c in valid) / len(valid)
    assert task.baseline == pytest.approx(oracle, rel=1e-12)
    assert (task.metric, task.kind, task.per_step, task.tokens) == ("bits_per_char", "language_model", True, True)


def test_bundled_text() -> None:
    path = default_text_path()
    assert path.is_file()
    assert path.read_text(encoding="utf-8").startswith("In Congress, July 4, 1776.")
    task = get_task("chars")
    assert task.options["path"] is None
    assert 3.5 < task.baseline < 5.0


def test_bad_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"chars: text file '.*empty.txt' is empty"):
        get_task("chars", path=str(empty))
    with pytest.raises(FileNotFoundError, match=r"chars: text file '.*nope.txt' does not exist"):
        get_task("chars", path=str(tmp_path / "nope.txt"))
    short = tmp_path / "short.txt"
    short.write_text("abcdefghij" * 3, encoding="utf-8")
    with pytest.raises(ValueError, match="is too short for seq_len=64: 30 characters"):
        get_task("chars", path=str(short))
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe" * 100)
    with pytest.raises(ValueError, match="is not UTF-8"):
        get_task("chars", path=str(binary))
