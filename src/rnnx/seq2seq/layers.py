"""Recurrent layers by name, and the JSON description that rebuilds one (for save/load)."""

from __future__ import annotations

from typing import Any

from rnnx._checks import check_choice
from rnnx.modules.layer import RecurrentLayer
from rnnx.modules.recurrent import GRU, LSTM, RNN, IndRNN

LAYERS: dict[str, type[RecurrentLayer]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU, "indrnn": IndRNN}
"""The layer classes the seq2seq factories and save/load know, by name."""


def make_layer(owner: str, cell: str, input_size: int, hidden_size: int, **options: Any) -> RecurrentLayer:
    """``LAYERS[cell](input_size, hidden_size, **options)``.

    Raises:
        ValueError: ``cell`` is not one of ``LAYERS``; the layer's own errors otherwise.
    """
    check_choice(owner, "cell", cell, tuple(LAYERS))
    cls: Any = LAYERS[cell]  # the subclasses take (input_size, hidden_size, ...), not a cell
    layer: RecurrentLayer = cls(input_size, hidden_size, **options)
    return layer


def layer_name(rnn: RecurrentLayer) -> str | None:
    """The name of ``rnn``'s class in :data:`LAYERS`, or ``None`` for any other layer."""
    for name, cls in LAYERS.items():
        if type(rnn) is cls:
            return name
    return None


def describe_layer(owner: str, rnn: RecurrentLayer) -> dict[str, Any]:
    """The constructor arguments that rebuild ``rnn`` (without its weights), as JSON data.

    Raises:
        TypeError: ``rnn`` is not one of :data:`LAYERS` (a custom ``rnnx.Recurrent`` cell
            cannot be rebuilt from a name; save its state_dict yourself).
    """
    name = layer_name(rnn)
    if name is None:
        raise TypeError(
            f"{owner}: cannot describe a {type(rnn).__name__} layer for saving; only "
            f"{', '.join(c.__name__ for c in LAYERS.values())} can be rebuilt from a config"
        )
    cell = rnn.cell
    config: dict[str, Any] = {
        "cell": name,
        "input_size": rnn.input_size,
        "hidden_size": rnn.hidden_size,
        "num_layers": rnn.num_layers,
        "bias": rnn.bias,
        "batch_first": rnn.batch_first,
        "dropout": rnn.dropout,
        "bidirectional": rnn.bidirectional,
        "backend": rnn.backend,
        "zoneout": list(rnn.zoneout),
        "recurrent_dropout": rnn.recurrent_dropout,
        "weight_drop": rnn.weight_drop,
    }
    if name != "indrnn":
        config["proj_size"] = rnn.proj_size
        config["layer_norm"] = bool(getattr(cell, "layer_norm", False))
    if name in ("rnn", "indrnn"):
        config["nonlinearity"] = getattr(cell, "nonlinearity")  # noqa: B009  (typed as CellStep)
    if name == "lstm":
        config["peephole"] = bool(getattr(cell, "peephole", False))
        config["forget_bias"] = getattr(cell, "forget_bias", None)
    return config


def build_layer(owner: str, config: dict[str, Any]) -> RecurrentLayer:
    """The layer :func:`describe_layer` described (freshly initialised)."""
    options = dict(config)
    cell = options.pop("cell")
    zoneout = options.pop("zoneout")
    options["zoneout"] = tuple(zoneout) if len(set(zoneout)) > 1 else float(zoneout[0])
    input_size = options.pop("input_size")
    hidden_size = options.pop("hidden_size")
    return make_layer(owner, cell, input_size, hidden_size, **options)
