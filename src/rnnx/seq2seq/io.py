"""Save and load a :class:`Seq2Seq`: weights in safetensors, config and vocabularies in JSON.

A saved model is a folder::

    model.safetensors    the state_dict (tied weights stored once)
    config.json          what rebuilds the modules: layers, sizes, attention, bridge, ids
    src_vocab.json       the vocabularies, when the model has them
    tgt_vocab.json

Every file is written atomically (a temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from safetensors.torch import save as to_bytes

from rnnx.seq2seq.attention import Attention
from rnnx.seq2seq.decoder import Decoder
from rnnx.seq2seq.encoder import Encoder
from rnnx.seq2seq.layers import build_layer, describe_layer
from rnnx.seq2seq.model import Seq2Seq
from rnnx.seq2seq.vocab import Vocab, write_atomic

FORMAT = "rnnx.seq2seq.Seq2Seq/1"
WEIGHTS, CONFIG, SRC_VOCAB, TGT_VOCAB = "model.safetensors", "config.json", "src_vocab.json", "tgt_vocab.json"


def _embedding(module: torch.nn.Embedding) -> dict[str, Any]:
    return {
        "num_embeddings": module.num_embeddings,
        "embedding_dim": module.embedding_dim,
        "padding_idx": module.padding_idx,
    }


def model_config(model: Seq2Seq) -> dict[str, Any]:
    """The JSON description that :func:`load` rebuilds ``model`` from.

    Raises:
        TypeError: a part that cannot be rebuilt from a config (a custom recurrent cell, a
            bridge of your own).
    """
    attention = model.decoder.attention
    if type(model.bridge).kind == "":
        raise TypeError(
            f"save: cannot describe a {type(model.bridge).__name__} bridge; "
            f"only 'copy', 'linear' and 'none' are saved by name"
        )
    return {
        "format": FORMAT,
        "encoder": {
            "embedding": _embedding(model.encoder.embedding),
            "rnn": describe_layer("save", model.encoder.rnn),
            "dropout": model.encoder.dropout.p,
        },
        "decoder": {
            "embedding": _embedding(model.decoder.embedding),
            "rnn": describe_layer("save", model.decoder.rnn),
            "attention": None
            if attention is None
            else {
                "kind": attention.kind,
                "query_size": attention.query_size,
                "memory_size": attention.memory_size,
                "attention_size": attention.attention_size or None,
            },
            "input_feeding": model.decoder.input_feeding,
            "tie_embeddings": model.decoder.tie_embeddings,
            "dropout": model.decoder.dropout.p,
        },
        "bridge": type(model.bridge).kind,
        "sos_id": model.sos_id,
        "eos_id": model.eos_id,
    }


def save(model: Seq2Seq, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to the folder ``path`` (created if needed); returns the folder.

    Raises:
        TypeError: ``model`` is not a :class:`Seq2Seq`, or has a part that cannot be rebuilt
            from a config (see :func:`model_config`).
    """
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"save: model must be an rnnx.seq2seq.Seq2Seq; got {type(model).__name__}")
    config = model_config(model)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
    write_atomic(folder / WEIGHTS, to_bytes(tensors, metadata={"format": FORMAT}))
    write_atomic(folder / CONFIG, (json.dumps(config, indent=1) + "\n").encode("utf-8"))
    for name, vocab in ((SRC_VOCAB, model.src_vocab), (TGT_VOCAB, model.tgt_vocab)):
        if vocab is not None:
            vocab.save(folder / name)
        else:
            (folder / name).unlink(missing_ok=True)  # a stale vocabulary must not be loaded with new weights
    return folder


def build_model(config: dict[str, Any], *, src_vocab: Vocab | None = None, tgt_vocab: Vocab | None = None) -> Seq2Seq:
    """A freshly initialised model from :func:`model_config`'s description.

    Raises:
        ValueError: ``config`` is not a saved seq2seq description.
    """
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"load: not a saved seq2seq config (expected format {FORMAT!r})")
    try:
        enc, dec = config["encoder"], config["decoder"]
        encoder = Encoder(
            torch.nn.Embedding(**enc["embedding"]), build_layer("load", enc["rnn"]), dropout=enc["dropout"]
        )
        attention = None if dec["attention"] is None else Attention(**dec["attention"])
        decoder = Decoder(
            torch.nn.Embedding(**dec["embedding"]),
            build_layer("load", dec["rnn"]),
            attention=attention,
            input_feeding=dec["input_feeding"],
            tie_embeddings=dec["tie_embeddings"],
            dropout=dec["dropout"],
        )
        bridge, sos_id, eos_id = config["bridge"], config["sos_id"], config["eos_id"]
    except KeyError as error:
        raise ValueError(f"load: the config lacks the entry {error}") from None
    return Seq2Seq(
        encoder, decoder, bridge=bridge, src_vocab=src_vocab, tgt_vocab=tgt_vocab, sos_id=sos_id, eos_id=eos_id
    )


def load(path: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> Seq2Seq:
    """Rebuild the model saved in the folder ``path`` and load its weights.

    Raises:
        FileNotFoundError: ``path`` lacks ``config.json`` or ``model.safetensors``.
        ValueError: the config is not a saved model, or the weights do not fit it: every
            missing and unexpected key is named, and every shape that differs.
    """
    folder = Path(path)
    for name in (CONFIG, WEIGHTS):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"load: {folder / name} does not exist (expected a folder written by rnnx.seq2seq.save)"
            )
    with open(folder / CONFIG, encoding="utf-8") as handle:
        try:
            config = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"load: {folder / CONFIG} is not valid JSON ({error})") from None
    vocabs = [Vocab.load(folder / name) if (folder / name).is_file() else None for name in (SRC_VOCAB, TGT_VOCAB)]
    model = build_model(config, src_vocab=vocabs[0], tgt_vocab=vocabs[1])
    weights = load_file(folder / WEIGHTS)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"load: the weights in {folder / WEIGHTS} do not fit the config; "
            f"missing keys: {missing or 'none'}; unexpected keys: {unexpected or 'none'}"
        )
    shapes = [
        f"{k}: saved {tuple(weights[k].shape)}, model {tuple(v.shape)}"
        for k, v in expected.items()
        if weights[k].shape != v.shape
    ]
    if shapes:
        raise ValueError(f"load: the weights in {folder / WEIGHTS} have the wrong shape for {'; '.join(shapes)}")
    model.load_state_dict(weights)
    model.eval()
    return model.to(device)
