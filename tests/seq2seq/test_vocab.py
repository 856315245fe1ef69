"""Vocab: fixed special ids, deterministic build, encode/decode round trips, JSON files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from rnnx.seq2seq import EOS_ID, PAD_ID, SOS_ID, UNK_ID, Vocab


def test_specials_have_fixed_ids() -> None:
    vocab = Vocab(["x", "y"])
    assert vocab.tokens[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert (PAD_ID, SOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert (vocab.index("x"), vocab.index("y"), len(vocab)) == (4, 5, 6)


def test_build_orders_by_count_then_token_and_applies_min_freq_and_max_size() -> None:
    data = [["b", "a", "c"], ["a", "b", "d"], ["a"]]  # a:3 b:2 c:1 d:1
    assert Vocab.build(data).tokens[4:] == ["a", "b", "c", "d"]
    assert Vocab.build(data, min_freq=2).tokens[4:] == ["a", "b"]
    assert Vocab.build(data, max_size=3).tokens[4:] == ["a", "b", "c"]
    assert Vocab.build(["hello"]).tokens[4:] == ["l", "e", "h", "o"]  # strings count characters


def test_encode_decode_round_trip_and_unknown_tokens() -> None:
    vocab = Vocab(["a", "b", "c"])
    ids = vocab.encode(["a", "c", "z"], add_sos=True)
    assert ids == [SOS_ID, 4, 6, UNK_ID, EOS_ID]
    assert vocab.decode(ids) == ["a", "c", "<unk>"]
    assert vocab.decode(vocab.encode("cab")) == list("cab")
    assert vocab.encode("ab", add_eos=False) == [4, 5]


def test_decode_stops_at_eos_and_drops_pads() -> None:
    vocab = Vocab(["a", "b"])
    assert vocab.decode([SOS_ID, 4, PAD_ID, 5, EOS_ID, 4, 4, PAD_ID]) == ["a", "b"]
    assert vocab.decode([4, EOS_ID, 5], strip=False) == ["a", "<eos>", "b"]


def test_json_save_load_round_trip(tmp_path: Path) -> None:
    vocab = Vocab.build(["März", "2021"])
    path = tmp_path / "v.json"
    vocab.save(path)
    assert Vocab.load(path) == vocab
    assert json.loads(path.read_text(encoding="utf-8"))["tokens"] == vocab.tokens[4:]
    assert [p.name for p in tmp_path.iterdir()] == ["v.json"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("tokens", "error", "pattern"),
    [
        (["a", "a"], ValueError, r"Vocab: token 'a' is a duplicate; each ordinary token must appear once"),
        (["<eos>"], ValueError, r"Vocab: token '<eos>' is a special token"),
        (["a", ""], TypeError, r"Vocab: every token must be a non-empty str; got ''"),
        ([3], TypeError, r"Vocab: every token must be a non-empty str; got 3"),
    ],
)
def test_bad_tokens(tokens: list[object], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        Vocab(tokens)  # type: ignore[arg-type]


def test_bad_ids_and_files(tmp_path: Path) -> None:
    vocab = Vocab(["a"])
    with pytest.raises(ValueError, match=r"Vocab: token id must be in \[0, 5\); got 5"):
        vocab.decode([4, 5])
    with pytest.raises(ValueError, match=r"min_freq must be >= 1; got 0"):
        Vocab.build(["a"], min_freq=0)
    bad = tmp_path / "bad.json"
    bad.write_text('{"tokens": ["a"]}')
    with pytest.raises(ValueError, match=r"Vocab: not a saved vocabulary"):
        Vocab.load(bad)
    bad.write_text("{")
    with pytest.raises(ValueError, match=r"bad.json: not valid JSON"):
        Vocab.load(bad)
    with pytest.raises(FileNotFoundError, match=r"missing.json: no such file"):
        Vocab.load(tmp_path / "missing.json")


def test_fingerprint_identifies_the_token_order(tmp_path: Path) -> None:
    vocab = Vocab(["a", "b", "c"])
    assert vocab.fingerprint == Vocab(["a", "b", "c"]).fingerprint
    assert len(vocab.fingerprint) == 64
    assert vocab.fingerprint != Vocab(["b", "a", "c"]).fingerprint
    assert vocab.fingerprint != Vocab(["a", "b"]).fingerprint
    assert Vocab(["ab", "c"]).fingerprint != Vocab(["a", "bc"]).fingerprint  # tokens, not their concatenation
    path = tmp_path / "v.json"
    vocab.save(path)
    assert Vocab.load(path, fingerprint=vocab.fingerprint) == vocab
    Vocab(["b", "a", "c"]).save(path)
    with pytest.raises(ValueError, match=r"v.json: the tokens differ from those the model was saved with"):
        Vocab.load(path, fingerprint=vocab.fingerprint)


def test_pickle_rebuilds_through_the_checks() -> None:
    vocab = Vocab(["a", "b"])
    copy = pickle.loads(pickle.dumps(vocab))
    assert copy == vocab
    assert copy.index("b") == 5
    bad = Vocab.__new__(Vocab)
    with pytest.raises(ValueError, match=r"token 'a' is a duplicate"):
        bad.__setstate__({"tokens": ["a", "a"]})
    with pytest.raises(ValueError, match=r"a pickled vocabulary must hold a list of tokens"):
        bad.__setstate__({"tokens": "ab"})
    old = Vocab.__new__(Vocab)  # pickled before Vocab had __getstate__: the attribute dict
    old.__setstate__({"_itos": ["<pad>", "<sos>", "<eos>", "<unk>", "a"], "_stoi": {}})
    assert old == Vocab(["a"])
    assert old.index("a") == 4
