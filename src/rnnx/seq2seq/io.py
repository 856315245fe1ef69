"""Save and load a :class:`Seq2Seq`: weights in safetensors, config and vocabularies in JSON.

A saved model is a folder::

    model.safetensors    the state_dict (tied weights stored once)
    config.json          what rebuilds the modules (layers, sizes, attention, bridge, ids), the
                         SHA-256 of model.safetensors and the fingerprint of each vocabulary
    src_vocab.json       the vocabularies, when the model has them
    tgt_vocab.json

The files vouch for each other: config.json records the SHA-256 of model.safetensors and the
fingerprint (SHA-256 of the token list) of each vocabulary; model.safetensors's metadata records
the SHA-256 of the config. Every file is written atomically (:mod:`rnnx._files`), config.json
last, so an interrupted save leaves a folder whose checksums disagree rather than a silent mix of
two models. Every file is verified when read: a damaged or edited file is refused with one line
that names it and what is wrong (:class:`~rnnx._files.FileFormatError`, a ``ValueError``).
Folders saved before checksums were recorded still load, without those checks (nothing
recorded means nothing to compare; refusing them would strand every model saved before).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from rnnx._files import FileFormatError, load_tensors, read_json, save_tensors, write_json
from rnnx.seq2seq.attention import Attention
from rnnx.seq2seq.decoder import Decoder
from rnnx.seq2seq.encoder import Encoder
from rnnx.seq2seq.layers import build_layer, describe_layer
from rnnx.seq2seq.model import Seq2Seq
from rnnx.seq2seq.schema import FORMAT, ConfigError, check_config
from rnnx.seq2seq.vocab import Vocab

WEIGHTS, CONFIG, SRC_VOCAB, TGT_VOCAB = "model.safetensors", "config.json", "src_vocab.json", "tgt_vocab.json"
_VOCABS = ((SRC_VOCAB, "src_vocab_fingerprint", "encoder"), (TGT_VOCAB, "tgt_vocab_fingerprint", "decoder"))


def _embedding(module: torch.nn.Embedding) -> dict[str, Any]:
    return {
        "num_embeddings": module.num_embeddings,
        "embedding_dim": module.embedding_dim,
        "padding_idx": module.padding_idx,
    }


def model_config(model: Seq2Seq) -> dict[str, Any]:
    """The JSON description that :func:`build_model` rebuilds ``model`` from (without the
    checksums, which :func:`save` adds).

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
            "reverse_source": model.encoder.reverse_source,
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


def config_digest(config: dict[str, Any]) -> str:
    """SHA-256 of ``config`` (the vocabularies' fingerprints included) without the weights'
    checksum, as canonical JSON (sorted keys, no spaces).

    :func:`save` records it in model.safetensors's metadata, so a config.json edited after
    saving (``"nonlinearity": "relu"``, swapped ``sos_id``/``eos_id``: changes that still fit
    the weights and would give a silently different model) is found on load."""
    body = {k: v for k, v in config.items() if k != "weights_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save(model: Seq2Seq, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to the folder ``path`` (created if needed); returns the folder.

    Files rnnx did not write there are left alone; a vocabulary file of a model saved there
    before is removed when ``model`` has none.

    Raises:
        TypeError: ``model`` is not a :class:`Seq2Seq`, or has a part that cannot be rebuilt
            from a config (see :func:`model_config`).
    """
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"save: model must be an rnnx.seq2seq.Seq2Seq; got {type(model).__name__}")
    config = model_config(model)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    vocabs = list(zip(_VOCABS, (model.src_vocab, model.tgt_vocab), strict=True))
    for (_, key, _), vocab in vocabs:
        config[key] = None if vocab is None else vocab.fingerprint
    metadata = {"format": FORMAT, "config_sha256": config_digest(config)}
    config["weights_sha256"] = save_tensors(folder / WEIGHTS, model.state_dict(), metadata=metadata)
    for (name, _, _), vocab in vocabs:
        if vocab is not None:
            vocab.save(folder / name)
        else:
            (folder / name).unlink(missing_ok=True)  # a stale vocabulary must not be loaded with new weights
    write_json(folder / CONFIG, config)  # last: until it is replaced, the old checksums refuse a half-written folder
    return folder


def build_model(config: object, *, src_vocab: Vocab | None = None, tgt_vocab: Vocab | None = None) -> Seq2Seq:
    """A freshly initialised model from :func:`model_config`'s description.

    Raises:
        ValueError: ``config`` is not a saved seq2seq description: the first key that is
            missing, unexpected or of the wrong type is named (``decoder.rnn.hidden_size``),
            or the parts it describes do not fit together.
    """
    data = check_config(config)
    enc, dec = data["encoder"], data["decoder"]
    try:
        encoder = Encoder(
            torch.nn.Embedding(**enc["embedding"]),
            build_layer("load", enc["rnn"]),
            dropout=enc["dropout"],
            reverse_source=enc.get("reverse_source", False),  # absent in folders saved before it existed
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
        return Seq2Seq(
            encoder,
            decoder,
            bridge=data["bridge"],
            src_vocab=src_vocab,
            tgt_vocab=tgt_vocab,
            sos_id=data["sos_id"],
            eos_id=data["eos_id"],
        )
    except (TypeError, RuntimeError, OverflowError) as error:  # the JSON types are checked: a value out of range
        raise ValueError(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__) from None


def _load_vocabs(folder: Path, config: dict[str, Any]) -> list[Vocab | None]:
    """The vocabularies the config records, each checked against its fingerprint and its
    embedding. A config without fingerprints (saved before they were recorded) takes the
    vocabulary files that are there, unchecked."""
    vocabs: list[Vocab | None] = []
    for name, key, side in _VOCABS:
        file = folder / name
        if key in config and config[key] is None:
            if file.exists():
                raise FileFormatError(
                    f"{file}: not part of this model ({folder / CONFIG} records no vocabulary); remove the file"
                )
            vocabs.append(None)
            continue
        if key in config and not file.is_file():
            raise FileNotFoundError(f"{file}: no such file ({folder / CONFIG} records a vocabulary there)")
        vocab = Vocab.load(file, fingerprint=config.get(key)) if file.exists() else None
        rows = config[side]["embedding"]["num_embeddings"]
        if vocab is not None and len(vocab) != rows:
            raise FileFormatError(
                f"{file}: {len(vocab)} tokens, but {folder / CONFIG} describes the {side}'s embedding with {rows} rows"
            )
        vocabs.append(vocab)
    return vocabs


def _check_weights(file: Path, weights: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Every key of ``expected`` in ``weights`` with its shape and a floating-point dtype, and no other."""
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise FileFormatError(
            f"{file}: the weights do not fit {file.parent / CONFIG}; "
            f"missing keys: {missing or 'none'}; unexpected keys: {unexpected or 'none'}"
        )
    shapes = [
        f"{k}: saved {tuple(weights[k].shape)}, model {tuple(v.shape)}"
        for k, v in expected.items()
        if weights[k].shape != v.shape
    ]
    if shapes:
        raise FileFormatError(f"{file}: the weights have the wrong shape for {'; '.join(shapes)}")
    dtypes = [f"{k}: {weights[k].dtype}" for k in expected if not weights[k].dtype.is_floating_point]
    if dtypes:
        raise FileFormatError(f"{file}: the weights must be floating point; got {'; '.join(dtypes)}")


def load(path: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> Seq2Seq:
    """Rebuild the model saved in the folder ``path`` and load its weights (in eval mode).

    Every file is checked before it is used: config.json against the keys and types of a
    saved config; model.safetensors against the SHA-256 the config records, then its keys and
    shapes against the model the config describes (before that model is allocated); each
    vocabulary against its recorded fingerprint and its embedding's size.

    Raises:
        FileNotFoundError: ``path`` lacks ``config.json``, ``model.safetensors``, or a
            vocabulary the config records.
        FileFormatError: (a ``ValueError``) a file that is empty, truncated, not JSON or
            safetensors, edited (a key missing, unexpected or of the wrong type; a checksum or
            fingerprint that differs), or weights that do not fit the config: every missing and
            unexpected key is named, and every shape that differs. The message names the file.
    """
    folder = Path(path)
    for name in (CONFIG, WEIGHTS):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: no such file (expected a folder written by rnnx.seq2seq.save)")
    config_file = folder / CONFIG
    config = read_json(config_file)
    try:
        check_config(config)
    except ConfigError as error:
        raise FileFormatError(f"{config_file}: {error}") from None
    weights = load_tensors(folder / WEIGHTS, sha256=config.get("weights_sha256"))
    with safe_open(folder / WEIGHTS, framework="pt") as handle:  # a valid file: load_tensors read it
        recorded = (handle.metadata() or {}).get("config_sha256")
    if recorded is not None and recorded != config_digest(config):
        raise FileFormatError(
            f"{config_file}: edited since the model was saved (it differs from the config recorded in "
            f"{WEIGHTS}); set options such as backend on the loaded model instead"
        )
    vocabs = _load_vocabs(folder, config)
    for side in ("encoder", "decoder"):  # each layer has tensors in the file: bounds the layers to build
        layers = config[side]["rnn"]["num_layers"]
        if layers > len(weights):
            raise FileFormatError(
                f"{config_file}: {side}.rnn.num_layers is {layers}, but {WEIGHTS} holds only {len(weights)} tensors"
            )
    try:
        with torch.device("meta"):  # no memory for the sizes a config names until the weights confirm them
            skeleton = build_model(config)
    except ValueError as error:
        raise FileFormatError(f"{config_file}: does not describe a model ({error})") from None
    _check_weights(folder / WEIGHTS, weights, skeleton.state_dict())
    model = build_model(config, src_vocab=vocabs[0], tgt_vocab=vocabs[1])
    model.load_state_dict(weights)
    model.eval()
    return model.to(device)
