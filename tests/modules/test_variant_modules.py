"""Variants on the single-step cells, conversion rules, and the errors variants raise."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import rnnx

CELL_VARIANTS = [
    (rnnx.LSTM, rnnx.LSTMCell, {"layer_norm": True, "peephole": True, "zoneout": (0.2, 0.5)}),
    (rnnx.GRU, rnnx.GRUCell, {"layer_norm": True, "zoneout": 0.3}),
    (rnnx.RNN, rnnx.RNNCell, {"layer_norm": True, "zoneout": 0.3, "nonlinearity": "relu"}),
]


@pytest.mark.parametrize(("layer_cls", "cell_cls", "options"), CELL_VARIANTS, ids=["lstm", "gru", "rnn"])
def test_variant_cell_stepped_by_hand_equals_layer(layer_cls: type, cell_cls: type, options: dict[str, Any]) -> None:
    layer = layer_cls(3, 4, **options, backend="reference").double().eval()
    cell = cell_cls(3, 4, **options).double().eval()
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    out, _ = layer(x)
    state: Any = None
    outs = []
    for x_t in x:
        state = cell(x_t, state)
        outs.append(state[0] if isinstance(state, tuple) else state)
    torch.testing.assert_close(torch.stack(outs), out)


def test_cell_recurrent_dropout_mask_persists_until_reset() -> None:
    cell = rnnx.GRUCell(3, 64, recurrent_dropout=0.5).train()
    x = torch.randn(8, 3)
    h = torch.randn(8, 64)
    torch.manual_seed(0)
    cell(x, h)
    first = cell._hidden_mask.clone()
    cell(x, h)
    assert torch.equal(cell._hidden_mask, first), "the same mask at every step of a sequence"
    cell.reset_dropout_mask()
    cell(x, h)
    assert not torch.equal(cell._hidden_mask, first)
    cell(torch.randn(5, 3), torch.randn(5, 64))
    assert cell._hidden_mask.shape == (5, 64), "a new batch size draws a new mask"
    assert set(first.unique().tolist()) == {0.0, 2.0}, "inverted dropout scales kept units by 1 / (1 - p)"


def test_cell_weight_drop_runs_native_in_training() -> None:
    torch.manual_seed(0)
    cell = rnnx.LSTMCell(3, 4, weight_drop=0.5).double().train()
    assert cell.native_unsupported() is None
    x = torch.randn(2, 3, dtype=torch.float64)
    torch.manual_seed(1)
    native = cell(x)
    cell.backend = "reference"
    torch.manual_seed(1)
    reference = cell(x)
    torch.testing.assert_close(native, reference)


@pytest.mark.parametrize(
    ("module", "pattern"),
    [
        (
            lambda: rnnx.LSTM(3, 4, layer_norm=True),
            r"LSTM: cannot convert to LSTM: layer_norm=True has no native kernel",
        ),
        (lambda: rnnx.GRU(3, 4, zoneout=0.1), r"GRU: cannot convert to GRU: zoneout=\(0.1,\)"),
        (lambda: rnnx.RNN(3, 4, recurrent_dropout=0.2), r"RNN: cannot convert to RNN: recurrent_dropout=0.2"),
        (lambda: rnnx.LSTMCell(3, 4, weight_drop=0.3), r"LSTMCell: cannot convert to LSTMCell: weight_drop=0.3"),
    ],
)
def test_to_torch_refuses_to_drop_a_variant(module: Any, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        module().to_torch()


def test_forget_bias_converts_to_torch() -> None:
    layer = rnnx.LSTM(3, 4, forget_bias=1.0)
    assert torch.equal(layer.to_torch().bias_hh_l0, layer.bias_hh_l0)


def test_modules_without_torch_counterpart() -> None:
    with pytest.raises(TypeError, match=r"IndRNN has no torch.nn counterpart to convert from or to"):
        rnnx.IndRNN(3, 4).to_torch()
    with pytest.raises(TypeError, match=r"IndRNN has no torch.nn counterpart"):
        rnnx.IndRNN.from_torch(torch.nn.RNN(3, 4))


def test_variant_repr() -> None:
    layer = rnnx.LSTM(3, 4, layer_norm=True, peephole=True, forget_bias=1.0, zoneout=(0.1, 0.2), recurrent_dropout=0.3)
    assert repr(layer) == (
        "LSTM(3, 4, layer_norm=True, peephole=True, forget_bias=1.0, zoneout=(0.1, 0.2), recurrent_dropout=0.3)"
    )
    assert repr(rnnx.IndRNN(3, 4, weight_drop=0.2)) == "IndRNN(3, 4, nonlinearity=relu, weight_drop=0.2)"
    assert repr(rnnx.GRUCell(3, 4, layer_norm=True, zoneout=0.1)) == "GRUCell(3, 4, layer_norm=True, zoneout=0.1)"


# -- errors -----------------------------------------------------------------------------

ALL = [rnnx.RNN, rnnx.LSTM, rnnx.GRU, rnnx.IndRNN, rnnx.RNNCell, rnnx.LSTMCell, rnnx.GRUCell]


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("option", ["zoneout", "recurrent_dropout", "weight_drop"])
@pytest.mark.parametrize("value", [1.0, -0.1, 1.5])
def test_regulariser_probability_outside_range(cls: type, option: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"{cls.__name__}: {option} must be in \[0, 1\); got {value}"):
        cls(3, 4, **{option: value})


@pytest.mark.parametrize("cls", ALL)
def test_regulariser_probability_wrong_type(cls: type) -> None:
    with pytest.raises(TypeError, match=rf"{cls.__name__}: weight_drop must be a number in \[0, 1\); got str '0.1'"):
        cls(3, 4, weight_drop="0.1")


@pytest.mark.parametrize("cls", [rnnx.RNN, rnnx.GRU, rnnx.RNNCell, rnnx.GRUCell])
@pytest.mark.parametrize(("option", "value"), [("peephole", True), ("forget_bias", 1.0)])
def test_lstm_only_options(cls: type, option: str, value: Any) -> None:
    with pytest.raises(
        ValueError, match=rf"{cls.__name__}: {option} is only supported by LSTM; got {option}={value!r}"
    ):
        cls(3, 4, **{option: value})


@pytest.mark.parametrize("cls", [rnnx.LSTM, rnnx.LSTMCell])
def test_forget_bias_errors(cls: type) -> None:
    with pytest.raises(ValueError, match=rf"{cls.__name__}: forget_bias=1.0 needs bias=True; got bias=False"):
        cls(3, 4, bias=False, forget_bias=1.0)
    with pytest.raises(TypeError, match=rf"{cls.__name__}: forget_bias must be a number or None; got str 'one'"):
        cls(3, 4, forget_bias="one")


@pytest.mark.parametrize("cls", [rnnx.LSTM, rnnx.LSTMCell, rnnx.GRU, rnnx.RNNCell])
def test_layer_norm_must_be_bool(cls: type) -> None:
    with pytest.raises(TypeError, match=rf"{cls.__name__}: layer_norm must be a bool; got int 1"):
        cls(3, 4, layer_norm=1)


def test_zoneout_tuple_must_match_the_state() -> None:
    with pytest.raises(
        ValueError,
        match=r"LSTM: zoneout must be a number or a tuple of 2 \(one per state: h, c\); got \(0.1, 0.2, 0.3\)",
    ):
        rnnx.LSTM(3, 4, zoneout=(0.1, 0.2, 0.3))
    with pytest.raises(
        ValueError, match=r"GRU: zoneout must be a number or a tuple of 1 \(one per state: h\); got \(0.1, 0.2\)"
    ):
        rnnx.GRU(3, 4, zoneout=(0.1, 0.2))
    with pytest.raises(ValueError, match=r"LSTM: zoneout \(c\) must be in \[0, 1\); got 1.0"):
        rnnx.LSTM(3, 4, zoneout=(0.1, 1.0))


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: rnnx.LSTM(3, 4, layer_norm=True, backend="native"), "layer_norm=True has no native kernel"),
        (lambda: rnnx.LSTM(3, 4, peephole=True, backend="native"), "peephole=True has no native kernel"),
        (lambda: rnnx.GRU(3, 4, zoneout=0.1, backend="native"), "zoneout has no native kernel"),
        (lambda: rnnx.IndRNN(3, 4, backend="native"), "IndRNNStep has no native kernel"),
        (lambda: rnnx.GRUCell(3, 4, layer_norm=True, backend="native"), "layer_norm=True has no native kernel"),
    ],
)
def test_native_backend_refuses_variants_at_construction(build: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=rf"backend='native' cannot run this configuration: {reason}"):
        build()


def test_native_recurrent_dropout_fails_in_training_and_runs_in_eval() -> None:
    layer = rnnx.LSTM(3, 4, recurrent_dropout=0.3, backend="native").eval()
    layer(torch.randn(5, 2, 3))
    layer.train()
    with pytest.raises(ValueError, match=r"recurrent_dropout has no native kernel in training"):
        layer(torch.randn(5, 2, 3))
