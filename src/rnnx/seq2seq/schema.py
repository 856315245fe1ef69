"""What a saved seq2seq ``config.json`` may hold: every key, its JSON type and its range.

:func:`check_config` runs before anything is built from the file, so an edited or damaged
config is refused with the key that is wrong (``decoder.rnn.hidden_size: expected an integer
>= 1; got "64"``), never with an error from deep inside a constructor.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["CHECKSUM_KEYS", "FORMAT", "ConfigError", "check_config"]

FORMAT = "rnnx.seq2seq.Seq2Seq/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
CHECKSUM_KEYS = ("weights_sha256", "src_vocab_fingerprint", "tgt_vocab_fingerprint")
"""Keys :func:`rnnx.seq2seq.save` adds; absent in folders saved before they were recorded."""


class ConfigError(ValueError):
    """One key of a config that is missing, unexpected or of the wrong type or range."""


def _describe(value: object) -> str:
    text = repr(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _fail(where: str, expected: str, value: object) -> ConfigError:
    return ConfigError(f"{where}: expected {expected}; got {_describe(value)}")


def _int(where: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, f"an integer >= {minimum}", value)
    return value


def _bool(where: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, "true or false", value)
    return value


def _str(where: str, value: object, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str) or (choices is not None and value not in choices):
        raise _fail(where, "a string" if choices is None else "one of " + ", ".join(map(repr, choices)), value)
    return value


def _probability(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise _fail(where, "a number in [0, 1]", value)
    return float(value)


def _float(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, "a finite number", value)
    return float(value)


def _object(where: str, value: object, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where or "the config", "a JSON object", value)
    prefix = f"{where}." if where else ""
    missing = [k for k in required if k not in value]
    if missing:
        raise ConfigError(f"{prefix}{missing[0]}: missing (a saved config has {', '.join(required)})")
    unexpected = sorted(str(k) for k in value if k not in required and k not in optional)
    if unexpected:
        raise ConfigError(f"{prefix}{unexpected[0]}: unexpected key")
    return value


def _embedding(where: str, value: object) -> None:
    data = _object(where, value, ("num_embeddings", "embedding_dim", "padding_idx"))
    rows = _int(f"{where}.num_embeddings", data["num_embeddings"], minimum=1)
    _int(f"{where}.embedding_dim", data["embedding_dim"], minimum=1)
    padding = data["padding_idx"]
    if isinstance(padding, bool) or not isinstance(padding, int) or not 0 <= padding < rows:
        raise _fail(f"{where}.padding_idx", f"an id in [0, {rows})", padding)


_LAYER_KEYS = (
    "cell",
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
    "backend",
    "zoneout",
    "recurrent_dropout",
    "weight_drop",
)
_CELL_KEYS = {
    "rnn": ("proj_size", "layer_norm", "nonlinearity"),
    "lstm": ("proj_size", "layer_norm", "peephole", "forget_bias"),
    "gru": ("proj_size", "layer_norm"),
    "indrnn": ("nonlinearity",),
}


def _layer(where: str, value: object) -> None:
    cell = _str(f"{where}.cell", value.get("cell") if isinstance(value, dict) else value, tuple(_CELL_KEYS))
    data = _object(where, value, _LAYER_KEYS + _CELL_KEYS[cell])
    for key in ("input_size", "hidden_size", "num_layers"):
        _int(f"{where}.{key}", data[key], minimum=1)
    _int(f"{where}.proj_size", data.get("proj_size", 0))
    for key in ("bias", "batch_first", "bidirectional", "layer_norm", "peephole"):
        if key in data:
            _bool(f"{where}.{key}", data[key])
    for key in ("dropout", "recurrent_dropout", "weight_drop"):
        _probability(f"{where}.{key}", data[key])
    _str(f"{where}.backend", data["backend"])
    zoneout = data["zoneout"]
    if not isinstance(zoneout, list) or not zoneout:
        raise _fail(f"{where}.zoneout", "a non-empty list of numbers in [0, 1]", zoneout)
    for index, rate in enumerate(zoneout):
        _probability(f"{where}.zoneout[{index}]", rate)
    if "nonlinearity" in data:
        _str(f"{where}.nonlinearity", data["nonlinearity"])
    if data.get("forget_bias") is not None:
        _float(f"{where}.forget_bias", data["forget_bias"])


def _attention(where: str, value: object) -> None:
    if value is None:
        return
    data = _object(where, value, ("kind", "query_size", "memory_size", "attention_size"))
    _str(f"{where}.kind", data["kind"])
    _int(f"{where}.query_size", data["query_size"], minimum=1)
    _int(f"{where}.memory_size", data["memory_size"], minimum=1)
    if data["attention_size"] is not None:
        _int(f"{where}.attention_size", data["attention_size"], minimum=1)


def check_config(config: object) -> dict[str, Any]:
    """Return ``config`` if it has every key of a saved seq2seq config with the right type and
    range (the constructors check how the parts fit together).

    Raises:
        ValueError: the first key that is missing, unexpected, or of the wrong type or range,
            named by its path (``decoder.rnn.hidden_size``).
    """
    required = ("format", "encoder", "decoder", "bridge", "sos_id", "eos_id")
    if isinstance(config, dict) and config.get("format") != FORMAT:
        raise _fail("format", f"{FORMAT!r} (a config written by rnnx.seq2seq.save)", config.get("format"))
    data = _object("", config, required, CHECKSUM_KEYS)
    encoder = _object("encoder", data["encoder"], ("embedding", "rnn", "dropout"), ("reverse_source",))
    _embedding("encoder.embedding", encoder["embedding"])
    _layer("encoder.rnn", encoder["rnn"])
    _probability("encoder.dropout", encoder["dropout"])
    if "reverse_source" in encoder:
        _bool("encoder.reverse_source", encoder["reverse_source"])
    decoder = _object(
        "decoder", data["decoder"], ("embedding", "rnn", "attention", "input_feeding", "tie_embeddings", "dropout")
    )
    _embedding("decoder.embedding", decoder["embedding"])
    _layer("decoder.rnn", decoder["rnn"])
    _attention("decoder.attention", decoder["attention"])
    _bool("decoder.input_feeding", decoder["input_feeding"])
    _bool("decoder.tie_embeddings", decoder["tie_embeddings"])
    _probability("decoder.dropout", decoder["dropout"])
    _str("bridge", data["bridge"])
    _int("sos_id", data["sos_id"])
    _int("eos_id", data["eos_id"])
    for key in CHECKSUM_KEYS:
        nullable = key != "weights_sha256"  # a model without a vocabulary records null
        value = data.get(key)
        valid = (nullable and value is None) or (isinstance(value, str) and _HEX64.fullmatch(value) is not None)
        if key in data and not valid:
            raise _fail(key, "64 hex digits (a SHA-256)" + (" or null" if nullable else ""), value)
    return data
