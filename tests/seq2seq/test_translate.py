"""translate: a str is one source, a list or tuple of sources is a batch; anything
else is a TypeError naming its position; rnnx translate reads a saved folder and answers a
damaged one with one line and exit code 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from rnnx import seq2seq
from rnnx.cli import main
from tests.seq2seq.common import trained_model


def test_a_str_is_one_source() -> None:
    model = trained_model("attention")
    one = seq2seq.translate(model, "abcd")
    assert isinstance(one, list)
    assert all(isinstance(token, str) for token in one)
    assert one == seq2seq.translate(model, ["abcd"])[0]
    batch = seq2seq.translate(model, ("abcd", "ba", ["a", "b", "c"]))
    assert len(batch) == 3
    assert batch[0] == one
    assert batch[2] == seq2seq.translate(model, ["abc"])[0]  # a token list reads like the str of its tokens
    assert seq2seq.translate(model, [list("abcd")] * 3, batch_size=2) == [one] * 3


def test_tokens_outside_the_vocabulary_become_unknown() -> None:
    model = trained_model("context")
    assert model.src_vocab is not None
    assert model.tgt_vocab is not None
    assert "€" not in model.src_vocab
    assert "\x00" not in model.src_vocab
    out = seq2seq.translate(model, "ab€\x00c")
    assert out == seq2seq.translate(model, "ab\x00€c")  # both read as a b <unk> <unk> c
    assert all(token in model.tgt_vocab for token in out)


@pytest.mark.parametrize(
    ("sources", "error", "pattern"),
    [
        (["ab", None], TypeError, r"translate: sources\[1\] must be a str or a list/tuple of token strs; got NoneType"),
        ([3], TypeError, r"translate: sources\[0\] must be a str or a list/tuple of token strs; got int"),
        ([["a", None]], TypeError, r"translate: sources\[0\]\[1\] must be a token str; got NoneType"),
        ([b"ab"], TypeError, r"sources\[0\] must be a str or a list/tuple of token strs; got bytes"),
        (None, TypeError, r"translate: sources must be a str \(one source\) or a list/tuple of sources; got NoneType"),
        (torch.tensor([[4, 5]]), TypeError, r"translate: sources must be a str .* got Tensor"),
        ((s for s in ["ab"]), TypeError, r"got generator"),
        ("", ValueError, r"translate: sources\[0\] is empty"),
        (["ab", ""], ValueError, r"translate: sources\[1\] is empty"),
        ([], ValueError, r"translate: sources must not be empty"),
    ],
)
def test_bad_sources_are_named(sources: object, error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        seq2seq.translate(trained_model("context"), sources)  # type: ignore[call-overload]


def test_cli_translates_a_saved_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = trained_model("context")
    folder = seq2seq.save(model, tmp_path / "m")
    assert main(["translate", str(folder), "abcd", "ba"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["".join(t) for t in seq2seq.translate(model, ["abcd", "ba"])]


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("model.safetensors", b"", r"model.safetensors: the file is empty"),
        ("model.safetensors", b"\x08" + b"\x00" * 7 + b"{}", r"model.safetensors: the checksum does not match"),
        ("src_vocab.json", b'{"format": "rnnx.seq2seq.Vocab/1", "tokens": 1}', r"src_vocab.json: Vocab: not a saved"),
        ("config.json", b'{"format": "rnnx.seq2seq.Seq2Seq/1"}', r"config.json: encoder: missing"),
    ],
)
def test_cli_answers_a_damaged_folder_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, pattern: str
) -> None:
    folder = seq2seq.save(trained_model("context"), tmp_path / "m")
    (folder / name).write_bytes(content)
    assert main(["translate", str(folder), "abc"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"rnnx translate: error: {folder / name}")
    assert re.search(pattern, lines[0])
