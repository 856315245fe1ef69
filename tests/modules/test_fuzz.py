"""Fuzzing the public modules with hypothesis, with torch.nn as the oracle at the edges.

Whatever the arguments and inputs: rnnx either runs, or raises a ``TypeError``/``ValueError``
(never another exception, never a crash). For the standard configurations it accepts exactly
what torch.nn accepts, and gives torch.nn's numbers where both run.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import rnnx

LAYERS = {"RNN": (rnnx.RNN, nn.RNN), "LSTM": (rnnx.LSTM, nn.LSTM), "GRU": (rnnx.GRU, nn.GRU)}
CELLS = {
    "RNNCell": (rnnx.RNNCell, nn.RNNCell),
    "LSTMCell": (rnnx.LSTMCell, nn.LSTMCell),
    "GRUCell": (rnnx.GRUCell, nn.GRUCell),
}
ALLOWED = (TypeError, ValueError)

odd_values = st.one_of(
    st.integers(-3, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.just([1]),
)


def _quietly(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, BaseException | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs), None
        except Exception as error:
            return None, error


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(LAYERS) + sorted(CELLS) + ["IndRNN"]),
    input_size=odd_values,
    hidden_size=odd_values,
    options=st.dictionaries(
        st.sampled_from(
            ["num_layers", "bias", "batch_first", "dropout", "bidirectional", "proj_size", "layer_norm",
             "peephole", "zoneout", "recurrent_dropout", "weight_drop", "forget_bias", "backend", "nonlinearity"]
        ),
        st.one_of(odd_values, st.sampled_from(["tanh", "relu", "auto", "fused", "native", "reference", (0.1, 0.2)])),
        max_size=3,
    ),
)  # fmt: skip
def test_constructors_run_or_raise_type_or_value_errors(
    kind: str, input_size: Any, hidden_size: Any, options: dict[str, Any]
) -> None:
    cls = {**{k: v[0] for k, v in {**LAYERS, **CELLS}.items()}, "IndRNN": rnnx.IndRNN}[kind]
    _, error = _quietly(cls, input_size, hidden_size, **options)
    assert error is None or isinstance(error, ALLOWED), f"{kind}({input_size!r}, {hidden_size!r}, {options}): {error!r}"


def _tensor(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    if dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype)
    return torch.zeros(shape, dtype=dtype)


def _assert_same_edges(
    context: str, ours: tuple[Any, BaseException | None], theirs: tuple[Any, BaseException | None]
) -> None:
    """rnnx raises only TypeError/ValueError; it runs where torch.nn runs, with torch.nn's numbers,
    and refuses where torch.nn refuses, with an exception that torch.nn's handlers catch."""
    (got, our_error), (expected, their_error) = ours, theirs
    assert our_error is None or isinstance(our_error, ALLOWED), f"{context}: {our_error!r}"
    if their_error is None:
        assert our_error is None, f"{context}: torch.nn runs, rnnx raises {our_error!r}"
        torch.testing.assert_close(got, expected, rtol=2e-5, atol=2e-6)
    else:
        assert our_error is not None, f"{context}: torch.nn raises {their_error!r}, rnnx runs"
        assert isinstance(our_error, type(their_error)) or isinstance(their_error, ALLOWED), (
            f"{context}: torch.nn raises {type(their_error).__name__}, rnnx {type(our_error).__name__}: {our_error}"
        )


shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)
dtypes = st.sampled_from([torch.float32, torch.float32, torch.float32, torch.float64, torch.int64, torch.bool])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(LAYERS)),
    layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    x_shape=shapes,
    x_dtype=dtypes,
    hx=st.one_of(st.none(), st.tuples(shapes, dtypes), st.just("tuple-of-two")),
    backend=st.sampled_from(["auto", "reference"]),
)
def test_layer_forward_accepts_what_torch_accepts(
    kind: str,
    layers: int,
    bidirectional: bool,
    batch_first: bool,
    x_shape: tuple[int, ...],
    x_dtype: torch.dtype,
    hx: Any,
    backend: str,
) -> None:
    ours_cls, theirs_cls = LAYERS[kind]
    torch.manual_seed(0)
    theirs = theirs_cls(3, 2, layers, batch_first=batch_first, bidirectional=bidirectional)
    ours = ours_cls.from_torch(theirs)
    ours.backend = backend
    x = _tensor(x_shape, x_dtype)
    rows = layers * (2 if bidirectional else 1)
    if hx == "tuple-of-two":
        state: Any = (torch.zeros(rows, 2, 2), torch.zeros(rows, 2, 2))
    elif hx is None:
        state = None
    else:
        state = _tensor(*hx)
        if kind == "LSTM":
            state = (state, state.clone())
    expected, their_error = _quietly(theirs, x, state)
    got, our_error = _quietly(ours, x, state)
    context = f"{kind}(layers={layers}, bidirectional={bidirectional}, batch_first={batch_first}) on {x_shape} {x_dtype}, hx {hx}"
    _assert_same_edges(context, (got, our_error), (expected, their_error))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(CELLS)),
    x_shape=shapes,
    x_dtype=dtypes,
    hx=st.one_of(st.none(), st.tuples(shapes, dtypes)),
    backend=st.sampled_from(["auto", "reference"]),
)
def test_cell_forward_accepts_what_torch_accepts(
    kind: str, x_shape: tuple[int, ...], x_dtype: torch.dtype, hx: Any, backend: str
) -> None:
    ours_cls, theirs_cls = CELLS[kind]
    torch.manual_seed(0)
    theirs = theirs_cls(3, 2)
    ours = ours_cls.from_torch(theirs)
    ours.backend = backend
    x = _tensor(x_shape, x_dtype)
    state: Any = None if hx is None else _tensor(*hx)
    if state is not None and kind == "LSTMCell":
        state = (state, state.clone())
    expected, their_error = _quietly(theirs, x, state)
    got, our_error = _quietly(ours, x, state)
    context = f"{kind} on {x_shape} {x_dtype}, hx {hx}"
    _assert_same_edges(context, (got, our_error), (expected, their_error))


@pytest.mark.parametrize("kind", ["layer_norm", "peephole", "zoneout", "proj_size"])
@settings(max_examples=40, deadline=None)
@given(x_shape=shapes, x_dtype=dtypes, steps=st.integers(1, 12))
def test_variant_forward_runs_or_raises_cleanly(
    kind: str, x_shape: tuple[int, ...], x_dtype: torch.dtype, steps: int
) -> None:
    options: dict[str, Any] = (
        {"layer_norm": True}
        if kind == "layer_norm"
        else {kind: {"peephole": True, "zoneout": 0.2, "proj_size": 1}[kind]}
    )
    lstm = rnnx.LSTM(3, 2, **options)
    x = _tensor((steps, *x_shape[1:]) if x_shape else (), x_dtype)
    _, error = _quietly(lstm, x)
    assert error is None or isinstance(error, ALLOWED), f"LSTM({options}) on {tuple(x.shape)} {x_dtype}: {error!r}"


# -- every variant: auto (the fused kernel where it runs) equals the readable reference path ------


@st.composite
def variant_configs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["LSTM", "GRU", "RNN", "IndRNN"]))
    hidden = draw(st.integers(1, 5))
    options: dict[str, Any] = {
        "num_layers": draw(st.integers(1, 2)),
        "bidirectional": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "layer_norm": draw(st.booleans()) if kind != "IndRNN" else False,
        "zoneout": draw(st.sampled_from([0.0, 0.3])),
        "recurrent_dropout": draw(st.sampled_from([0.0, 0.25])),
        "weight_drop": draw(st.sampled_from([0.0, 0.2])),
    }
    if kind == "LSTM":
        options["peephole"] = draw(st.booleans())
        if hidden > 1:
            options["proj_size"] = draw(st.integers(0, hidden - 1))
    if kind in ("RNN", "IndRNN"):
        options["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if not options["bias"]:
        options["layer_norm"] = options["layer_norm"] and kind != "IndRNN"
    steps, batch = draw(st.integers(1, 12)), draw(st.integers(1, 4))
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch)) if draw(st.booleans()) else None
    return {
        "kind": kind,
        "hidden": hidden,
        "options": options,
        "steps": steps,
        "batch": batch,
        "lengths": lengths,
        "training": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=variant_configs())
def test_every_variant_runs_the_same_on_auto_and_reference(config: dict[str, Any]) -> None:
    cls = {"LSTM": rnnx.LSTM, "GRU": rnnx.GRU, "RNN": rnnx.RNN, "IndRNN": rnnx.IndRNN}[config["kind"]]
    options = config["options"]
    torch.manual_seed(config["seed"])
    auto, error = _quietly(cls, 3, config["hidden"], dtype=torch.float64, **options)
    if error is not None:  # an option this cell refuses: refused cleanly
        assert isinstance(error, ALLOWED), f"{config}: {error!r}"
        return
    reference = cls(3, config["hidden"], dtype=torch.float64, backend="reference", **options)
    reference.load_state_dict(auto.state_dict())
    auto.train(config["training"])
    reference.train(config["training"])
    x = torch.randn(config["steps"], config["batch"], 3, dtype=torch.float64, requires_grad=True)
    results = []
    for module in (auto, reference):
        data: Any = x.transpose(0, 1) if options["batch_first"] else x
        if config["lengths"] is not None:
            data = nn.utils.rnn.pack_padded_sequence(
                data, torch.tensor(config["lengths"]), batch_first=options["batch_first"], enforce_sorted=False
            )
        torch.manual_seed(config["seed"] + 1)  # the same masks on both paths
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out, state = module(data)
        out = out.data if isinstance(out, nn.utils.rnn.PackedSequence) else out
        states = state if isinstance(state, tuple) else (state,)
        loss = out.square().sum() + sum(s.sum() for s in states)
        grads = torch.autograd.grad(loss, [x, *module.parameters()], allow_unused=True)
        results.append((out, states, grads))
    (out_a, states_a, grads_a), (out_r, states_r, grads_r) = results
    torch.testing.assert_close(out_a, out_r, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(states_a, states_r, rtol=1e-9, atol=1e-10)
    for ga, gr in zip(grads_a, grads_r, strict=True):
        assert (ga is None) == (gr is None)
        if ga is not None:
            torch.testing.assert_close(ga, gr, rtol=1e-8, atol=1e-9)


# -- the Transformer encoder and a user's own cell ----------------------------------------------


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    x_shape=shapes,
    x_dtype=dtypes,
    lengths=st.one_of(st.none(), st.lists(st.integers(-1, 5), max_size=4), st.just("float")),
    batch_first=st.booleans(),
    causal=st.booleans(),
)
def test_transformer_forward_runs_or_raises_cleanly(
    x_shape: tuple[int, ...], x_dtype: torch.dtype, lengths: Any, batch_first: bool, causal: bool
) -> None:
    encoder = rnnx.TransformerEncoder(3, 4, 1, num_heads=2, max_len=4, batch_first=batch_first, causal=causal)
    x = _tensor(x_shape, x_dtype)
    given_lengths = (
        None if lengths is None else torch.ones(2) if lengths == "float" else torch.tensor(lengths, dtype=torch.long)
    )
    out, error = _quietly(encoder, x, lengths=given_lengths)
    assert error is None or isinstance(error, ALLOWED), f"{x_shape} {x_dtype} lengths={lengths}: {error!r}"
    if error is None:
        assert torch.isfinite(out).all()
        assert out.shape[:-1] == x.shape[:-1]


class _MinimalCell(rnnx.cells.CellStep):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh), written as a user would."""

    num_chunks = 1
    state_names = ("h",)

    def step(self, gi: torch.Tensor, state: Any, w: Any, *, record: Any = None) -> Any:
        return (torch.tanh(torch.addmm(gi, state[0], w.weight_hh.t())),)


@settings(max_examples=60, deadline=None)
@given(x_shape=shapes, x_dtype=dtypes, hx=st.one_of(st.none(), st.tuples(shapes, dtypes)))
def test_user_cell_forward_runs_or_raises_cleanly(x_shape: tuple[int, ...], x_dtype: torch.dtype, hx: Any) -> None:
    layer = rnnx.Recurrent(_MinimalCell(), 3, 2)
    state = None if hx is None else _tensor(*hx)
    _, error = _quietly(layer, _tensor(x_shape, x_dtype), state)
    assert error is None or isinstance(error, ALLOWED), f"{x_shape} {x_dtype} hx={hx}: {error!r}"
