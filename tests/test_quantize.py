"""rnnx.quantize_dynamic: rnnx layers and cells on torch's dynamic int8 kernels, checked against
torch.ao.quantization.quantize_dynamic applied to the torch.nn twin model (the oracle)."""

from __future__ import annotations

import copy
import io
import pickle
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.ao.nn.quantized import dynamic as qd

import rnnx


class Head(nn.Module):
    """A recurrent layer, then a linear head on its output sequence."""

    def __init__(self, rnn: nn.Module, out: int = 5) -> None:
        super().__init__()
        self.rnn = rnn
        width = rnn.hidden_size * (2 if rnn.bidirectional else 1)
        self.head = nn.Linear(width, out)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.head(self.rnn(x)[0])
        return out


def torch_oracle(model: Head, dtype: torch.dtype = torch.qint8) -> nn.Module:
    """torch's own dynamic quantization of the torch.nn twin of ``model``."""
    twin = Head.__new__(Head)
    nn.Module.__init__(twin)
    twin.rnn = model.rnn.to_torch()
    twin.head = copy.deepcopy(model.head)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor")
        return torch.ao.quantization.quantize_dynamic(
            twin, {nn.LSTM, nn.GRU, nn.Linear, nn.LSTMCell, nn.GRUCell, nn.RNNCell}, dtype=dtype
        )


def relative_error(a: Tensor, reference: Tensor) -> float:
    return float((a - reference).abs().max() / reference.abs().max())


INT8_BOUND = 0.05

MODELS = {
    "lstm 2-layer batch_first": lambda: Head(rnnx.LSTM(12, 32, num_layers=2, batch_first=True)),
    "gru bidirectional": lambda: Head(rnnx.GRU(12, 32, bidirectional=True, batch_first=True)),
}


@pytest.mark.parametrize("dtype", [torch.qint8, torch.float16])
@pytest.mark.parametrize("name", list(MODELS))
def test_layers_become_torch_dynamic_modules_and_match_torch(name: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    quantized = rnnx.quantize_dynamic(model, dtype=dtype)
    layer_type = qd.LSTM if isinstance(model.rnn, rnnx.LSTM) else qd.GRU
    assert type(quantized.rnn) is layer_type
    assert type(quantized.head) is qd.Linear
    oracle = torch_oracle(model, dtype)
    x = torch.randn(6, 40, 12)
    with torch.inference_mode():
        got, expected, float_out = quantized(x), oracle(x), model(x)
    assert torch.equal(got, expected)
    # Bound on the error relative to float32 (max abs error / max abs output). Measured over
    # seeds 0-4: int8 moves the 2-layer LSTM's output by 0.8-1.3% of its max, the bidirectional
    # GRU's by 1.9-2.3% (weights in 255 steps, inputs quantized per call, the error compounding
    # over 40 steps); float16 weights by 1e-4 to 3e-4. 5% (1e-3) leaves room for other seeds and
    # fails on a real fault: a wrong gate order or a dropped bias moves it by tens of percent.
    bound = INT8_BOUND if dtype == torch.qint8 else 1e-3
    assert relative_error(got, float_out) < bound


@pytest.mark.parametrize(
    ("cell", "quantized_type"),
    [
        (lambda: rnnx.LSTMCell(10, 24), qd.LSTMCell),
        (lambda: rnnx.GRUCell(10, 24), qd.GRUCell),
        (lambda: rnnx.RNNCell(10, 24), qd.RNNCell),
        (lambda: rnnx.RNNCell(10, 24, nonlinearity="relu"), qd.RNNCell),
    ],
)
def test_cells_become_torch_dynamic_cells_and_match_torch(cell: object, quantized_type: type) -> None:
    torch.manual_seed(1)
    module = cell().eval()  # type: ignore[operator]
    quantized = rnnx.quantize_dynamic(module)
    assert type(quantized) is quantized_type
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor")
        oracle = torch.ao.quantization.quantize_dynamic(nn.Sequential(module.to_torch()), dtype=torch.qint8)[0]
    x = torch.randn(7, 10)
    h = torch.randn(7, 24) * 0.5
    state = (h, torch.randn(7, 24) * 0.5) if isinstance(module, rnnx.LSTMCell) else h
    with torch.inference_mode():
        got, expected, float_out = quantized(x, state), oracle(x, state), module(x, state)
    for g, e, f in zip(*(o if isinstance(o, tuple) else (o,) for o in (got, expected, float_out)), strict=True):
        assert torch.equal(g, e)
        assert relative_error(g, f) < INT8_BOUND  # measured 0.7% (LSTM), 1.0% (GRU), 2.2% (RNN)


def test_unquantizable_modules_stay_float_and_are_named_in_one_warning() -> None:
    torch.manual_seed(2)
    model = nn.ModuleDict(
        {
            "plain": rnnx.LSTM(8, 16),
            "normed": rnnx.LSTM(8, 16, layer_norm=True),
            "elman": rnnx.RNN(8, 16),
            "ind": rnnx.IndRNN(8, 16),
            "zoned": rnnx.GRU(8, 16, zoneout=0.1),
            "projected": rnnx.LSTM(8, 16, proj_size=4),
            "f64": rnnx.GRU(8, 16, dtype=torch.float64),
            "peep": rnnx.LSTMCell(8, 16, peephole=True),
        }
    ).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quantized = rnnx.quantize_dynamic(model)
    assert [w.category for w in caught] == [UserWarning]
    message = str(caught[0].message)
    assert message.startswith("rnnx.quantize_dynamic: 7 module(s) stay float32:")
    for expected in [
        "normed (LSTM): layer_norm has no int8 kernel in torch",
        "elman (RNN): torch has dynamic int8 LSTM and GRU layers and the three cells, but no RNN layer",
        "ind (IndRNN): IndRNN (IndRNNStep) has no int8 kernel in torch",
        "zoned (GRU): zoneout has no int8 kernel in torch",
        "projected (LSTM): proj_size has no int8 kernel in torch",
        "f64 (GRU): its parameters are float64: dynamic quantization takes float32 modules",
        "peep (LSTMCell): peephole has no int8 kernel in torch",
    ]:
        assert expected in message
    assert type(quantized["plain"]) is qd.LSTM
    for name in ["normed", "elman", "ind", "zoned", "projected", "f64", "peep"]:
        assert type(quantized[name]) is type(model[name])
        assert quantized[name] is not model[name]  # a copy, not the original


def test_warning_names_a_layer_norm_lstm_and_an_rnn() -> None:
    model = nn.Sequential(rnnx.LSTM(4, 8, layer_norm=True), rnnx.RNN(8, 8))
    with pytest.warns(UserWarning, match=r"0 \(LSTM\): layer_norm has no int8 kernel in torch") as record:
        rnnx.quantize_dynamic(model)
    assert len(record) == 1
    assert "1 (RNN): torch has dynamic int8 LSTM and GRU layers" in str(record[0].message)


def test_nothing_to_warn_about_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rnnx.quantize_dynamic(nn.Sequential(rnnx.GRU(4, 8), nn.Linear(8, 2)))


def test_the_original_is_untouched_unless_inplace() -> None:
    torch.manual_seed(3)
    model = Head(rnnx.LSTM(6, 10, num_layers=2)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantized = rnnx.quantize_dynamic(model)
    assert quantized is not model
    assert type(model.rnn) is rnnx.LSTM
    assert type(model.head) is nn.Linear
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)

    same = rnnx.quantize_dynamic(model, inplace=True)
    assert same is model
    assert type(model.rnn) is qd.LSTM
    assert type(model.head) is qd.Linear


def test_a_layer_by_itself_is_returned_quantized() -> None:
    layer = rnnx.GRU(4, 8, num_layers=2)
    assert type(rnnx.quantize_dynamic(layer)) is qd.GRU
    assert type(layer) is rnnx.GRU


def test_bad_arguments_raise() -> None:
    with pytest.raises(TypeError, match=r"^rnnx\.quantize_dynamic: model must be a torch\.nn\.Module; got dict$"):
        rnnx.quantize_dynamic({})  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=r"^rnnx\.quantize_dynamic: dtype must be torch\.qint8 or torch\.float16; got torch\.quint8$",
    ):
        rnnx.quantize_dynamic(nn.Linear(2, 2), dtype=torch.quint8)
    with pytest.raises(ValueError, match=r"dtype must be torch\.qint8 or torch\.float16; got torch\.float32$"):
        rnnx.quantize_dynamic(nn.Linear(2, 2), dtype=torch.float32)
    with pytest.raises(TypeError, match=r"^rnnx\.quantize_dynamic: inplace must be a bool; got int$"):
        rnnx.quantize_dynamic(nn.Linear(2, 2), inplace=1)  # type: ignore[arg-type]


def _fresh(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return rnnx.quantize_dynamic(Head(rnnx.LSTM(6, 10, num_layers=2, bidirectional=True)).eval())


def test_state_dict_loads_into_a_fresh_quantized_model() -> None:
    quantized, fresh = _fresh(4), _fresh(5)
    x = torch.randn(9, 3, 6)
    with torch.inference_mode():
        assert not torch.equal(quantized(x), fresh(x))
    fresh.load_state_dict(quantized.state_dict())
    with torch.inference_mode():
        assert torch.equal(quantized(x), fresh(x))


def test_state_dict_file_round_trip() -> None:
    quantized, fresh = _fresh(6), _fresh(7)
    buffer = io.BytesIO()
    torch.save(quantized.state_dict(), buffer)
    buffer.seek(0)
    try:
        state = torch.load(buffer, weights_only=True)
    except pickle.UnpicklingError:
        pytest.skip("torch's packed quantized weights do not load with weights_only=True (torch 2.x)")
    fresh.load_state_dict(state)
    x = torch.randn(9, 3, 6)
    with torch.inference_mode():
        assert torch.equal(quantized(x), fresh(x))


def test_quantizing_the_loaded_float_weights_rebuilds_the_model_bit_for_bit(tmp_path: Path) -> None:
    """The deployment recipe that needs no pickle: keep the float weights (safetensors), load them
    into a fresh float model, quantize that. Dynamic quantization draws each int8 weight and
    scale from the float weights alone, so the result is the same model."""
    torch.manual_seed(8)
    model = Head(rnnx.LSTM(6, 10, num_layers=2, bidirectional=True)).eval()
    quantized = rnnx.quantize_dynamic(model)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    torch.manual_seed(9)
    fresh = Head(rnnx.LSTM(6, 10, num_layers=2, bidirectional=True)).eval()
    fresh.load_state_dict(load_file(str(path)))
    rebuilt = rnnx.quantize_dynamic(fresh)
    x = torch.randn(9, 3, 6)
    with torch.inference_mode():
        assert torch.equal(rebuilt(x), quantized(x))
