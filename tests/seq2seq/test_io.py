"""save/load: identical outputs after a round trip, keys that do not fit reported by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import rnnx
from rnnx import seq2seq
from tests.seq2seq.common import source_batch, target_batch

VOCABS = (seq2seq.Vocab(list("abcde")), seq2seq.Vocab(list("wxyz")))


def build(**config: object) -> seq2seq.Seq2Seq:
    torch.manual_seed(0)
    return seq2seq.Seq2Seq.from_config(seq2seq.Seq2SeqConfig(embedding_dim=6, hidden_size=6, **config), *VOCABS).eval()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "config",
    [
        {"cell": "gru", "attention": "general", "input_feeding": True, "tie_embeddings": False},
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
    loaded = seq2seq.load(folder)
    assert loaded.src_vocab == VOCABS[0]
    assert loaded.tgt_vocab == VOCABS[1]
    assert repr(loaded) == repr(model)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    src, lengths = source_batch([3, 1], vocab=len(VOCABS[0]))
    tgt = target_batch([2, 3], vocab=len(VOCABS[1]))
    torch.testing.assert_close(loaded(src, lengths, tgt).logits, model(src, lengths, tgt).logits, rtol=0, atol=0)
    if config.get("tie_embeddings"):
        assert loaded.decoder.embedding.weight is not None
        assert "decoder.output.weight" not in load_file(folder / "model.safetensors")


def test_missing_and_unexpected_keys_are_named(tmp_path: Path) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    weights = load_file(folder / "model.safetensors")
    weights["decoder.extra.weight"] = torch.zeros(2)
    del weights["decoder.combine.weight"]
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(
        ValueError, match=r"missing keys: \['decoder.combine.weight'\]; unexpected keys: \['decoder.extra.weight'\]"
    ):
        seq2seq.load(folder)


def test_shape_mismatch_is_named(tmp_path: Path) -> None:
    folder = seq2seq.save(build(), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["decoder"]["attention"]["kind"] = "additive"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"missing keys: \[.*'decoder.attention.v'.*\]; unexpected keys: none"):
        seq2seq.load(folder)
    folder = seq2seq.save(build(), tmp_path / "n")
    weights = load_file(folder / "model.safetensors")
    weights["decoder.output.bias"] = torch.zeros(3)
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"wrong shape for decoder.output.bias: saved \(3,\), model \(8,\)"):
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
        FileNotFoundError, match=r"config.json does not exist \(expected a folder written by rnnx.seq2seq.save\)"
    ):
        seq2seq.load(tmp_path / "nowhere")
    (folder / "config.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match=r"load: not a saved seq2seq config"):
        seq2seq.load(folder)


def test_custom_cell_cannot_be_described() -> None:
    layer = rnnx.Recurrent(rnnx.cells.GRUStep(), 4, 6)
    encoder = seq2seq.Encoder(nn.Embedding(9, 4, padding_idx=0), layer)
    decoder = seq2seq.Decoder.build(8, 4, 6)
    with pytest.raises(
        TypeError, match=r"save: cannot describe a RecurrentLayer layer for saving; only RNN, LSTM, GRU, IndRNN"
    ):
        seq2seq.save(seq2seq.Seq2Seq(encoder, decoder), "unused")
