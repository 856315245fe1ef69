"""``build_model(spec, task, ...)``: the one place where model names and options are parsed.

A spec is ``family`` or ``family:option,option=value,...``:

===========  ===============================================================================
family       options
===========  ===============================================================================
rnn          nonlinearity=tanh|relu, layer_norm, zoneout=p, recurrent_dropout=p, weight_drop=p,
             init=identity (the IRNN of Le et al. 2015 with nonlinearity=relu)
lstm         layer_norm, peephole, forget_bias=b, zoneout=p, recurrent_dropout=p, weight_drop=p
gru          layer_norm, zoneout=p, recurrent_dropout=p, weight_drop=p
indrnn       nonlinearity=relu|tanh, zoneout=p, recurrent_dropout=p, weight_drop=p
transformer  heads=n (4), positions=sinusoidal|learned, ff=n (4 * hidden), causal=true|false
conv         kernel=k (3)
===========  ===============================================================================

Every recurrent family also takes ``backend=auto|reference|native|fused``, and on seq2seq tasks
(an encoder-decoder :class:`rnnx.seq2seq.Seq2Seq`, Luong et al. 2015) ``attention=none|dot|general|
additive`` (default general), ``bidirectional``, ``input_feeding`` and ``bridge=copy|linear|none``.
A bare option means ``true``. The Transformer is causal when the task wants one output per step (a language model
must not see the characters it predicts) and bidirectional otherwise, unless ``causal=`` says.

A list of specs is comma-separated too (``rnn,lstm:layer_norm,zoneout=0.1,gru``): an item that
does not start with a family name is an option of the spec before it (:func:`split_specs`).

``match_params=N`` picks the hidden size whose model has the parameter count closest to ``N``,
so that models are compared at equal size (Chung et al. 2014; Bai et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from rnnx._checks import check_int
from rnnx.lab.networks import AttentionEncoder, ConvEncoder, RecurrentEncoder, SequenceModel
from rnnx.lab.tasks import Task

_SEQ2SEQ = {"attention": str, "bidirectional": bool, "input_feeding": bool, "bridge": str}
_RECURRENT = {"zoneout": float, "recurrent_dropout": float, "weight_drop": float, "backend": str, **_SEQ2SEQ}
OPTIONS: dict[str, dict[str, type]] = {
    "rnn": {"nonlinearity": str, "layer_norm": bool, "init": str, **_RECURRENT},
    "lstm": {"layer_norm": bool, "peephole": bool, "forget_bias": float, **_RECURRENT},
    "gru": {"layer_norm": bool, **_RECURRENT},
    "indrnn": {"nonlinearity": str, **_RECURRENT},
    "transformer": {"heads": int, "positions": str, "ff": int, "causal": bool},
    "conv": {"kernel": int},
}
FAMILIES = tuple(OPTIONS)


def _value(spec: str, name: str, text: str | None, kind: type) -> Any:
    if kind is bool:
        if text is None or text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
    elif text is not None:
        try:
            return kind(text)
        except ValueError:
            pass
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a value"}[kind]
    raise ValueError(f"model {spec!r}: option {name} must be {expected}; got {text!r}")


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"lstm:layer_norm,zoneout=0.1"`` -> ``("lstm", {"layer_norm": True, "zoneout": 0.1})``.

    Raises:
        ValueError: for an unknown family, an option the family does not take, or a bad value.
    """
    if not isinstance(spec, str):
        raise TypeError(f"model spec must be a str like 'lstm:layer_norm'; got {type(spec).__name__}")
    family, _, rest = spec.strip().partition(":")
    if family not in OPTIONS:
        raise ValueError(f"unknown model {family!r} in {spec!r}; choose one of {', '.join(FAMILIES)}")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        name, eq, text = item.partition("=")
        name = name.strip()
        if name not in OPTIONS[family]:
            allowed = ", ".join(OPTIONS[family])
            raise ValueError(f"model {spec!r}: {family} does not take option {name!r}; it takes {allowed}")
        options[name] = _value(spec, name, text.strip() if eq else None, OPTIONS[family][name])
    return family, options


def split_specs(text: str) -> list[str]:
    """``"rnn,lstm:layer_norm,zoneout=0.1,gru"`` -> ``["rnn", "lstm:layer_norm,zoneout=0.1", "gru"]``:
    a comma starts a new spec only where a family name follows (options are never family names)."""
    specs: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if specs and item.partition(":")[0].strip() not in OPTIONS:
            specs[-1] += "," + item
        else:
            specs.append(item)
    return specs


INITS = ("default", "identity")


def identity_init(layer: nn.Module) -> None:
    """Le, Jaitly & Hinton (2015)'s IRNN initialisation: every ``W_hh`` the identity, every bias
    zero, every ``W_ih`` drawn from ``N(0, 0.001^2)``."""
    import torch

    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith("weight_hh"):
                p.copy_(torch.eye(p.shape[0], p.shape[1], dtype=p.dtype))
            elif name.startswith("bias"):
                p.zero_()
            elif name.startswith("weight_ih"):
                p.normal_(0.0, 1e-3)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable scalars in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _recurrent(family: str) -> Callable[..., nn.Module]:
    import rnnx

    classes: dict[str, Callable[..., nn.Module]] = {
        "rnn": rnnx.RNN,
        "lstm": rnnx.LSTM,
        "gru": rnnx.GRU,
        "indrnn": rnnx.IndRNN,
    }
    return classes[family]


def _encoder(family: str, options: dict[str, Any], task: Task, input_size: int, hidden: int, layers: int) -> nn.Module:
    if family == "transformer":
        from rnnx.modules.transformer import TransformerEncoder

        heads = options.get("heads", 4)
        transformer = TransformerEncoder(
            input_size,
            hidden,
            layers,
            num_heads=heads,
            dim_feedforward=options.get("ff"),
            causal=options.get("causal", task.per_step),
            positions=options.get("positions", "sinusoidal"),
            max_len=max(task.seq_len, 1),
            batch_first=True,
        )
        return AttentionEncoder(transformer)
    if family == "conv":
        kernel = check_int("conv", "kernel", options.get("kernel", 3), minimum=1)
        return ConvEncoder(input_size, hidden, layers, kernel_size=kernel, causal=task.per_step)
    options = dict(options)
    init = options.pop("init", "default")
    if init not in INITS:
        raise ValueError(f"model option init must be one of {', '.join(INITS)}; got {init!r}")
    layer = _recurrent(family)(input_size, hidden, layers, batch_first=True, **options)
    if init == "identity":
        identity_init(layer)
    return RecurrentEncoder(layer)


def _seq2seq(family: str, options: dict[str, Any], task: Task, hidden: int, layers: int, dropout: float) -> nn.Module:
    from rnnx.seq2seq import Seq2Seq, Seq2SeqConfig

    if family not in ("rnn", "lstm", "gru", "indrnn"):
        raise ValueError(f"seq2seq task {task.name!r} needs a recurrent model (rnn, lstm, gru, indrnn); got {family!r}")
    if "init" in options:
        raise ValueError(
            f"model option init is for the lab's sequence models; seq2seq task {task.name!r} does not take it"
        )
    layer_options = {k: v for k, v in options.items() if k not in _SEQ2SEQ}
    attention = options.get("attention", "general")
    config = Seq2SeqConfig(
        cell=family,
        embedding_dim=hidden,
        hidden_size=hidden,
        num_layers=layers,
        bidirectional=options.get("bidirectional", False),
        attention=None if attention == "none" else attention,
        input_feeding=options.get("input_feeding", False),
        bridge=options.get("bridge", "copy"),
        dropout=dropout,
        reverse_source=task.info.get("reverse_source", False),
        layer_options=layer_options,
    )
    return Seq2Seq.from_config(config, task.info["src_vocab"], task.info["tgt_vocab"])


def _build(family: str, options: dict[str, Any], task: Task, hidden: int, layers: int, dropout: float) -> nn.Module:
    if task.kind == "seq2seq":
        return _seq2seq(family, options, task, hidden, layers, dropout)
    misplaced = sorted(set(options) & set(_SEQ2SEQ))
    if misplaced:
        raise ValueError(
            f"model options {', '.join(misplaced)} are for seq2seq tasks; task {task.name!r} is a {task.kind}"
        )
    embedding = nn.Embedding(task.input_size, hidden) if task.tokens else None
    input_size = hidden if task.tokens else task.input_size
    encoder = _encoder(family, options, task, input_size, hidden, layers)
    head = nn.Linear(hidden, task.output_size)
    return SequenceModel(encoder, head, embedding=embedding, per_step=task.per_step, dropout=dropout)


def build_model(
    spec: str,
    task: Task,
    *,
    hidden_size: int = 64,
    num_layers: int = 1,
    match_params: int | None = None,
    dropout: float = 0.0,
) -> nn.Module:
    """Build the model named by ``spec`` for ``task``.

    Arguments:
        spec: ``family[:options]``, see the module docstring.
        task: decides the input layer (embedding for token tasks), the head's size, whether there is
            one output per step, and the Transformer's causality.
        hidden_size: width ``H`` of the encoder (``d_model`` for the Transformer, channels for conv);
            ignored when ``match_params`` is given.
        num_layers: stacked layers or blocks.
        match_params: choose ``H`` so the parameter count is as close as possible to this number.
        dropout: on the encoder's output, before the head.

    Returns:
        A module with ``forward(inputs, lengths=None)`` taking a task batch's inputs ``(B, T, F)``
        or ``(B, T)`` and returning ``(B, O)`` or ``(B, T, O)`` (see :class:`SequenceModel`).

    Raises:
        ValueError: for an unknown family or option, or sizes out of range.
    """
    family, options = parse_spec(spec)
    check_int("build_model", "num_layers", num_layers, minimum=1)
    if match_params is None:
        check_int("build_model", "hidden_size", hidden_size, minimum=1)
        return _build(family, options, task, hidden_size, num_layers, dropout)
    return _build(
        family, options, task, matched_hidden_size(spec, task, match_params, num_layers=num_layers), num_layers, dropout
    )


def matched_hidden_size(spec: str, task: Task, match_params: int, *, num_layers: int = 1) -> int:
    """The hidden size at which ``build_model(spec, task, ...)`` has the parameter count closest to
    ``match_params`` (a multiple of the head count for the Transformer)."""
    family, options = parse_spec(spec)
    check_int("build_model", "match_params", match_params, minimum=1)
    step = options.get("heads", 4) if family == "transformer" else 1
    return match_hidden_size(
        lambda h: count_parameters(_build(family, options, task, h, num_layers, 0.0)), match_params, step=step
    )


def match_hidden_size(count: Callable[[int], int], target: int, *, step: int = 1, largest: int = 65536) -> int:
    """The multiple of ``step`` in ``[step, largest]`` whose ``count(h)`` is closest to ``target``
    (the smaller one on a tie); ``count`` must grow with ``h``. Doubling finds a bracket, then
    bisection, so no model much larger than the answer is ever built."""
    low, high = 1, 1  # in units of step
    while count(high * step) < target and high * step < largest:
        low, high = high + 1, min(2 * high, largest // step)
    while low < high:
        middle = (low + high) // 2
        if count(middle * step) < target:
            low = middle + 1
        else:
            high = middle
    candidates = [m for m in (low - 1, low) if m >= 1]
    best = min(candidates, key=lambda m: (abs(count(m * step) - target), m))
    return best * step
