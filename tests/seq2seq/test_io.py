"""save/load: identical outputs after a round trip; every damaged, edited or mismatched file is
refused with one line that names it and what is wrong; folders saved before checksums load."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import rnnx
from rnnx import seq2seq
from rnnx._files import FileFormatError
from tests.seq2seq.common import source_batch, target_batch

VOCABS = (seq2seq.Vocab(list("abcde")), seq2seq.Vocab(list("wxyz")))


def build(**config: object) -> seq2seq.Seq2Seq:
    torch.manual_seed(0)
    return seq2seq.Seq2Seq.from_config(seq2seq.Seq2SeqConfig(embedding_dim=6, hidden_size=6, **config), *VOCABS).eval()  # type: ignore[arg-type]


def read_config(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


def write_config(folder: Path, config: object) -> None:
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def make_legacy(folder: Path) -> None:
    """The folder as rnnx saved it before checksums: no fingerprints in the config, no config
    digest in the weights' metadata."""
    config = read_config(folder)
    for key in ("weights_sha256", "src_vocab_fingerprint", "tgt_vocab_fingerprint"):
        del config[key]
    write_config(folder, config)
    save_file(load_file(folder / "model.safetensors"), folder / "model.safetensors", metadata={"format": "x"})


def rewrite_weights(folder: Path, weights: dict[str, torch.Tensor]) -> None:
    """Replace the weights and record their new checksum, as a consistent but mismatched folder."""
    save_file(weights, folder / "model.safetensors")
    config = read_config(folder)
    config["weights_sha256"] = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    write_config(folder, config)


def assert_same_model(a: seq2seq.Seq2Seq, b: seq2seq.Seq2Seq) -> None:
    src, lengths = source_batch([3, 1], vocab=len(VOCABS[0]))
    tgt = target_batch([2, 3], vocab=len(VOCABS[1]))
    torch.testing.assert_close(a(src, lengths, tgt).logits, b(src, lengths, tgt).logits, rtol=0, atol=0)


@pytest.mark.parametrize(
    "config",
    [
        {"cell": "gru", "attention": "general", "input_feeding": True, "tie_embeddings": False, "reverse_source": True},
        {
            "cell": "lstm",
            "attention": None,
            "bidirectional": True,
            "bridge": "linear",
            "layer_options": {"layer_norm": True, "peephole": True},
        },
        {"cell": "rnn", "attention": "additive", "tie_embeddings": True, "num_layers": 2, "bridge": "none"},
    ],
)
def test_round_trip_gives_the_same_model(tmp_path: Path, config: dict[str, object]) -> None:
    model = build(**config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))  # not the freshly initialised weights a load would rebuild
    folder = seq2seq.save(model, tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.safetensors",
        "src_vocab.json",
        "tgt_vocab.json",
    ]
    saved = read_config(folder)
    assert saved["weights_sha256"] == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert saved["src_vocab_fingerprint"] == VOCABS[0].fingerprint
    assert saved["tgt_vocab_fingerprint"] == VOCABS[1].fingerprint
    loaded = seq2seq.load(folder)
    assert loaded.src_vocab == VOCABS[0]
    assert loaded.tgt_vocab == VOCABS[1]
    assert repr(loaded) == repr(model)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert_same_model(loaded, model)
    if config.get("tie_embeddings"):
        assert loaded.decoder.embedding.weight is not None
        assert "decoder.output.weight" not in load_file(folder / "model.safetensors")


def test_folder_saved_before_checksums_still_loads(tmp_path: Path) -> None:
    model = build()
    folder = seq2seq.save(model, tmp_path / "m")
    make_legacy(folder)
    loaded = seq2seq.load(folder)
    assert loaded.src_vocab == VOCABS[0]
    assert_same_model(loaded, model)


def test_folder_saved_before_reverse_source_reads_forwards(tmp_path: Path) -> None:
    model = build()
    folder = seq2seq.save(model, tmp_path / "m")
    make_legacy(folder)
    config = read_config(folder)
    del config["encoder"]["reverse_source"]  # folders written before the option have no such key
    write_config(folder, config)
    loaded = seq2seq.load(folder)
    assert loaded.encoder.reverse_source is False
    assert_same_model(loaded, model)


def test_missing_and_unexpected_keys_are_named(tmp_path: Path) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    weights = load_file(folder / "model.safetensors")
    weights["decoder.extra.weight"] = torch.zeros(2)
    del weights["decoder.combine.weight"]
    rewrite_weights(folder, weights)
    with pytest.raises(
        FileFormatError,
        match=r"model.safetensors: the weights do not fit .*config.json; "
        r"missing keys: \['decoder.combine.weight'\]; unexpected keys: \['decoder.extra.weight'\]",
    ):
        seq2seq.load(folder)


def test_shape_and_dtype_mismatch_are_named(tmp_path: Path) -> None:
    folder = seq2seq.save(build(), tmp_path / "n")
    weights = load_file(folder / "model.safetensors")
    weights["decoder.output.bias"] = torch.zeros(3)
    rewrite_weights(folder, weights)
    with pytest.raises(FileFormatError, match=r"wrong shape for decoder.output.bias: saved \(3,\), model \(8,\)"):
        seq2seq.load(folder)
    weights["decoder.output.bias"] = torch.zeros(8, dtype=torch.int32)
    rewrite_weights(folder, weights)
    with pytest.raises(FileFormatError, match=r"must be floating point; got decoder.output.bias: torch.int32"):
        seq2seq.load(folder)


def test_config_that_no_longer_fits_the_weights_is_named(tmp_path: Path) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    make_legacy(folder)  # no digest: the weights' keys are what finds the edit
    config = read_config(folder)
    config["decoder"]["attention"]["kind"] = "additive"
    write_config(folder, config)
    with pytest.raises(FileFormatError, match=r"missing keys: \[.*'decoder.attention.v'.*\]; unexpected keys: none"):
        seq2seq.load(folder)


def test_sizes_are_checked_against_the_weights_before_anything_is_allocated(tmp_path: Path) -> None:
    folder = seq2seq.save(build(attention=None, bridge="linear"), tmp_path / "m")
    make_legacy(folder)
    config = read_config(folder)
    config["encoder"]["rnn"]["hidden_size"] = 10**5  # weight_hh_l0 alone would take 120 GB
    write_config(folder, config)
    with pytest.raises(FileFormatError, match=r"model.safetensors: the weights have the wrong shape for encoder.rnn"):
        seq2seq.load(folder)


def test_layer_count_is_bounded_by_the_weights_before_anything_is_built(tmp_path: Path) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    make_legacy(folder)
    config = read_config(folder)
    config["decoder"]["rnn"]["num_layers"] = 10**9  # a billion layers would take hours to build, even on meta
    write_config(folder, config)
    with pytest.raises(
        FileFormatError, match=r"config.json: decoder.rnn.num_layers is 1000000000, but model.safetensors holds only"
    ):
        seq2seq.load(folder)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda c: c.update(sos_id=c["eos_id"], eos_id=c["sos_id"]), r"config.json: edited since the model was saved"),
        (lambda c: c["encoder"]["rnn"].update(backend="reference"), r"config.json: edited since the model was saved"),
        (lambda c: c.update(format="other"), r"config.json: format: expected 'rnnx.seq2seq.Seq2Seq/1'"),
        (lambda c: c.pop("bridge"), r"config.json: bridge: missing"),
        (lambda c: c["decoder"].pop("rnn"), r"config.json: decoder.rnn: missing"),
        (lambda c: c["encoder"]["rnn"].pop("hidden_size"), r"config.json: encoder.rnn.hidden_size: missing"),
        (lambda c: c.update(extra=1), r"config.json: extra: unexpected key"),
        (
            lambda c: c["decoder"]["rnn"].update(hidden_size="6"),
            r"decoder.rnn.hidden_size: expected an integer >= 1; got '6'",
        ),
        (
            lambda c: c["decoder"]["rnn"].update(hidden_size=True),
            r"decoder.rnn.hidden_size: expected an integer >= 1; got True",
        ),
        (
            lambda c: c["decoder"]["rnn"].update(hidden_size=6.0),
            r"decoder.rnn.hidden_size: expected an integer >= 1; got 6.0",
        ),
        (
            lambda c: c["decoder"]["rnn"].update(num_layers=0),
            r"decoder.rnn.num_layers: expected an integer >= 1; got 0",
        ),
        (lambda c: c["decoder"]["rnn"].update(cell="tcn"), r"decoder.rnn.cell: expected one of 'rnn', 'lstm'"),
        (lambda c: c["decoder"]["rnn"].update(zoneout=[]), r"decoder.rnn.zoneout: expected a non-empty list"),
        (
            lambda c: c["decoder"]["rnn"].update(dropout=None),
            r"decoder.rnn.dropout: expected a number in \[0, 1\]; got None",
        ),
        (lambda c: c["decoder"].update(attention=[]), r"decoder.attention: expected a JSON object; got list"),
        (
            lambda c: c["decoder"]["embedding"].update(padding_idx=99),
            r"decoder.embedding.padding_idx: expected an id in \[0, 8\)",
        ),
        (
            lambda c: c["encoder"]["embedding"].update(padding_idx=None),
            r"encoder.embedding.padding_idx: expected an id",
        ),
        (
            lambda c: c["encoder"].update(reverse_source="yes"),
            r"encoder.reverse_source: expected true or false; got 'yes'",
        ),
        (lambda c: c.update(sos_id=-1), r"config.json: sos_id: expected an integer >= 0; got -1"),
        (lambda c: c.update(weights_sha256="abc"), r"weights_sha256: expected 64 hex digits \(a SHA-256\); got 'abc'"),
        (lambda c: c.update(weights_sha256=None), r"weights_sha256: expected 64 hex digits \(a SHA-256\); got None"),
        (lambda c: c.update(src_vocab_fingerprint=3), r"src_vocab_fingerprint: expected 64 hex digits"),
        (lambda c: c.update(src_vocab_fingerprint="0" * 64), r"config.json: edited since the model was saved"),
    ],
)
def test_edited_config_is_named(tmp_path: Path, edit: Callable[[dict[str, Any]], object], pattern: str) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    config = read_config(folder)
    edit(config)
    write_config(folder, config)
    with pytest.raises(FileFormatError, match=pattern) as info:
        seq2seq.load(folder)
    assert str(info.value).startswith(str(folder / "config.json"))
    assert "\n" not in str(info.value)


def test_values_the_constructors_refuse_are_named(tmp_path: Path) -> None:
    folder = seq2seq.save(build(attention="general"), tmp_path / "m")
    make_legacy(folder)
    config = read_config(folder)
    config["decoder"]["attention"]["kind"] = "dot"  # fits the schema, but dot needs query_size == memory_size
    config["decoder"]["attention"]["memory_size"] = 5
    write_config(folder, config)
    with pytest.raises(FileFormatError, match=r"config.json: does not describe a model \(.*memory_size"):
        seq2seq.load(folder)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"config.json: the file is empty"),
        (b"{", r"config.json: not valid JSON"),
        (b"\xff\xfe", r"config.json: not a text file"),
        (b"[1, 2]", r"config.json: expected a JSON object; got list"),
    ],
)
def test_damaged_config_is_named(tmp_path: Path, content: bytes, pattern: str) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    (folder / "config.json").write_bytes(content)
    with pytest.raises(FileFormatError, match=pattern):
        seq2seq.load(folder)


@pytest.mark.parametrize(
    ("damage", "pattern"),
    [
        (lambda data: b"", r"model.safetensors: the file is empty"),
        (lambda data: data[: len(data) // 2], r"model.safetensors: the checksum does not match"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), r"model.safetensors: the checksum does not match"),
        (lambda data: b"\x00" * 64, r"model.safetensors: the checksum does not match"),
    ],
)
def test_damaged_weights_are_named(tmp_path: Path, damage: Callable[[bytes], bytes], pattern: str) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(FileFormatError, match=pattern):
        seq2seq.load(folder)


@pytest.mark.parametrize("cut", [0, 7, 8, 40, -3])
def test_damaged_weights_without_a_checksum_are_named(tmp_path: Path, cut: int) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    make_legacy(folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:cut])
    pattern = r"the file is empty" if cut == 0 else r"not a valid safetensors file"
    with pytest.raises(FileFormatError, match=rf"model.safetensors: {pattern}"):
        seq2seq.load(folder)


def test_reordered_vocabulary_is_refused(tmp_path: Path) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    saved = json.loads((folder / "src_vocab.json").read_text(encoding="utf-8"))
    saved["tokens"][0], saved["tokens"][1] = saved["tokens"][1], saved["tokens"][0]
    (folder / "src_vocab.json").write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(FileFormatError, match=r"src_vocab.json: the tokens differ from those the model was saved with"):
        seq2seq.load(folder)
    seq2seq.Vocab(list("edcba")).save(folder / "tgt_vocab.json")  # another model's vocabulary
    seq2seq.Vocab(list("abcde")).save(folder / "src_vocab.json")
    with pytest.raises(FileFormatError, match=r"tgt_vocab.json: the tokens differ"):
        seq2seq.load(folder)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"the file is empty"),
        (b'{"format": "rnnx.seq2seq.Vocab/1", "tokens": [', r"not valid JSON"),
        (b'{"tokens": ["a"]}', r"Vocab: not a saved vocabulary"),
        (b'{"format": "rnnx.seq2seq.Vocab/1", "tokens": "abcde"}', r"Vocab: not a saved vocabulary"),
        (b'{"format": "rnnx.seq2seq.Vocab/1", "tokens": ["a", 3]}', r"every token must be a non-empty str; got 3"),
        (b'{"format": "rnnx.seq2seq.Vocab/1", "tokens": ["a", "a"]}', r"token 'a' is a duplicate"),
        (b"[]", r"expected a JSON object; got list"),
    ],
)
def test_damaged_vocabulary_is_named(tmp_path: Path, content: bytes, pattern: str) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    (folder / "src_vocab.json").write_bytes(content)
    with pytest.raises(FileFormatError, match=pattern) as info:
        seq2seq.load(folder)
    assert str(info.value).startswith(str(folder / "src_vocab.json"))


def test_vocabulary_files_must_match_what_the_config_records(tmp_path: Path) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    (folder / "tgt_vocab.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"tgt_vocab.json: no such file \(.*config.json records a vocabulary"):
        seq2seq.load(folder)
    model = build()
    seq2seq.save(seq2seq.Seq2Seq(model.encoder, model.decoder, bridge="copy"), folder)
    VOCABS[0].save(folder / "src_vocab.json")  # a stray file the model was not saved with
    with pytest.raises(FileFormatError, match=r"src_vocab.json: not part of this model"):
        seq2seq.load(folder)
    folder = seq2seq.save(build(), tmp_path / "legacy")
    make_legacy(folder)
    seq2seq.Vocab(list("abc")).save(folder / "src_vocab.json")
    with pytest.raises(
        FileFormatError,
        match=r"src_vocab.json: 7 tokens, but .*config.json describes the encoder.s embedding with 9 rows",
    ):
        seq2seq.load(folder)


def test_model_without_vocabularies_and_bad_folders(tmp_path: Path) -> None:
    model = build()
    bare = seq2seq.Seq2Seq(model.encoder, model.decoder, bridge="copy")
    folder = seq2seq.save(model, tmp_path / "m")
    seq2seq.save(bare, folder)  # overwriting removes the old vocabularies
    loaded = seq2seq.load(folder)
    assert loaded.src_vocab is None
    assert loaded.tgt_vocab is None
    with pytest.raises(
        FileNotFoundError, match=r"nowhere/config.json: no such file \(expected a folder written by rnnx.seq2seq.save\)"
    ):
        seq2seq.load(tmp_path / "nowhere")
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"m/model.safetensors: no such file"):
        seq2seq.load(folder)


def test_save_writes_no_temporary_files_and_leaves_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    seq2seq.save(build(), folder)
    seq2seq.save(build(), folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.safetensors",
        "notes.txt",
        "src_vocab.json",
        "tgt_vocab.json",
    ]
    assert (folder / "notes.txt").read_text() == "mine"


def test_build_model_names_the_bad_key() -> None:
    with pytest.raises(ValueError, match=r"format: expected 'rnnx.seq2seq.Seq2Seq/1'"):
        seq2seq.io.build_model({"format": "other"})
    with pytest.raises(ValueError, match=r"the config: expected a JSON object; got list"):
        seq2seq.io.build_model([])


def test_custom_cell_cannot_be_described() -> None:
    layer = rnnx.Recurrent(rnnx.cells.GRUStep(), 4, 6)
    encoder = seq2seq.Encoder(nn.Embedding(9, 4, padding_idx=0), layer)
    decoder = seq2seq.Decoder.build(8, 4, 6)
    with pytest.raises(
        TypeError, match=r"save: cannot describe a RecurrentLayer layer for saving; only RNN, LSTM, GRU, IndRNN"
    ):
        seq2seq.save(seq2seq.Seq2Seq(encoder, decoder), "unused")
