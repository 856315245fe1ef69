"""A weight replaced after construction is checked on every backend before any computation:
wrong shape, dtype, device or layout is an InputError (a ValueError and a RuntimeError) that
names the parameter, the expected shape and the shape that came; never a crash inside a kernel,
never a silent result."""

from __future__ import annotations

import re
import subprocess
import sys
import timeit
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import rnnx
from rnnx.errors import InputError
from rnnx.modules.weights import check_weights

T, B, I, H = 10, 2, 4, 6  # T >= 8, so "auto" takes the fused kernel for GRU and RNN on CPU


def _parameter(module: nn.Module, name: str, value: Tensor) -> None:
    setattr(module, name, nn.Parameter(value))


def _data(module: nn.Module, name: str, value: Tensor) -> None:
    getattr(module, name).data = value


def _plain(module: nn.Module, name: str, value: Tensor) -> None:
    delattr(module, name)  # as a weight-drop wrapper does: the parameter becomes a plain tensor
    setattr(module, name, value)


REPLACE: dict[str, Callable[[nn.Module, str, Tensor], None]] = {
    "parameter": _parameter,
    "data": _data,
    "plain": _plain,
}

ALL = ("auto", "reference", "fused", "native")
NO_NATIVE = ("auto", "reference", "fused")  # variants and IndRNN have no native kernel

# (id, class, constructor arguments, parameter, wrong shape, backends that run the module)
LAYER_CASES: list[tuple[str, type[nn.Module], dict[str, Any], str, tuple[int, ...], tuple[str, ...]]] = [
    ("gru_hh", rnnx.GRU, {}, "weight_hh_l0", (3, 4), ALL),
    ("gru_hh_transposed", rnnx.GRU, {}, "weight_hh_l0", (H, 3 * H), ALL),
    ("gru_ih", rnnx.GRU, {}, "weight_ih_l0", (3 * H, I + 1), ALL),
    ("gru_bias_hh", rnnx.GRU, {}, "bias_hh_l0", (3 * H - 1,), ALL),
    ("rnn_hh", rnnx.RNN, {}, "weight_hh_l0", (H, H - 1), ALL),
    ("rnn_relu_bias_ih", rnnx.RNN, {"nonlinearity": "relu"}, "bias_ih_l0", (H + 1,), ALL),
    ("lstm_hh", rnnx.LSTM, {}, "weight_hh_l0", (4 * H, H - 1), ALL),
    (
        "lstm_hh_l1_reverse",
        rnnx.LSTM,
        {"num_layers": 2, "bidirectional": True},
        "weight_hh_l1_reverse",
        (4 * H, 1),
        ALL,
    ),
    ("lstm_ih_l1", rnnx.LSTM, {"num_layers": 2, "bidirectional": True}, "weight_ih_l1", (4 * H, H), ALL),
    ("lstm_proj_hr", rnnx.LSTM, {"proj_size": 3}, "weight_hr_l0", (3, H - 1), ALL),
    ("lstm_proj_hh", rnnx.LSTM, {"proj_size": 3}, "weight_hh_l0", (4 * H, H), ALL),
    ("lstm_peephole", rnnx.LSTM, {"peephole": True}, "weight_peephole_l0", (3, H - 1), NO_NATIVE),
    ("lstm_peephole_rows", rnnx.LSTM, {"peephole": True}, "weight_peephole_l0", (2, H), NO_NATIVE),
    ("gru_ln_hh", rnnx.GRU, {"layer_norm": True}, "ln_hh_weight_l0", (3 * H - 1,), NO_NATIVE),
    ("gru_ln_ih_bias", rnnx.GRU, {"layer_norm": True}, "ln_ih_bias_l0", (3 * H + 2,), NO_NATIVE),
    ("lstm_ln_cell", rnnx.LSTM, {"layer_norm": True}, "ln_cell_bias_l0", (4 * H,), NO_NATIVE),
    ("rnn_ln_hh_bias", rnnx.RNN, {"layer_norm": True}, "ln_hh_bias_l0", (1,), NO_NATIVE),
    ("indrnn_hh", rnnx.IndRNN, {}, "weight_hh_l0", (H - 1,), NO_NATIVE),
    ("indrnn_hh_matrix", rnnx.IndRNN, {}, "weight_hh_l0", (H, H), NO_NATIVE),
]

LAYER_PARAMS = [
    pytest.param(cls, kwargs, name, shape, backend, id=f"{case}-{backend}")
    for case, cls, kwargs, name, shape, backends in LAYER_CASES
    for backend in backends
]


def expected_shape(module: nn.Module, name: str) -> tuple[int, ...]:
    return tuple(getattr(module, name).shape)


def shape_message(module: nn.Module, name: str, expected: tuple[int, ...], got: tuple[int, ...]) -> str:
    return re.escape(f"{type(module).__name__}: parameter {name} must have shape {expected}; got {got}")


@pytest.mark.parametrize("how", list(REPLACE))
@pytest.mark.parametrize(("cls", "kwargs", "name", "shape", "backend"), LAYER_PARAMS)
def test_layer_weight_of_wrong_shape(
    cls: type[nn.Module], kwargs: dict[str, Any], name: str, shape: tuple[int, ...], backend: str, how: str
) -> None:
    module = cls(I, H, backend=backend, **kwargs)
    expected = expected_shape(module, name)
    REPLACE[how](module, name, torch.randn(shape))
    x = torch.randn(T, B, I)
    pattern = shape_message(module, name, expected, shape)
    with pytest.raises(InputError, match=pattern):
        module(x)
    # torch.nn-style code catches RuntimeError, rnnx's contract is ValueError: both catch it.
    with pytest.raises(RuntimeError, match=pattern):
        module(x)
    with pytest.raises(ValueError, match=pattern):
        module(x)


@pytest.mark.parametrize("how", list(REPLACE))
@pytest.mark.parametrize("backend", ALL)
def test_layer_weight_of_wrong_shape_in_training_and_packed(backend: str, how: str) -> None:
    """Training (with every regulariser) and packed input take the same checked weights."""
    module = rnnx.GRU(I, H, backend=backend, bidirectional=True)
    REPLACE[how](module, "weight_hh_l0_reverse", torch.randn(3 * H, H + 1))
    packed = nn.utils.rnn.pack_sequence([torch.randn(T, I), torch.randn(T - 3, I)])
    pattern = shape_message(module, "weight_hh_l0_reverse", (3 * H, H), (3 * H, H + 1))
    with pytest.raises(InputError, match=pattern):
        module(packed)
    if backend in ("auto", "reference", "fused"):
        regularised = rnnx.GRU(I, H, backend=backend, zoneout=0.2, recurrent_dropout=0.3, weight_drop=0.4)
        REPLACE[how](regularised, "weight_hh_l0", torch.randn(3 * H, H + 1))
        regularised.train()
        with pytest.raises(InputError, match=r"GRU: parameter weight_hh_l0 must have shape \(18, 6\); got \(18, 7\)"):
            regularised(torch.randn(T, B, I))


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("name", ["weight_hh_l0", "bias_hh_l0", "weight_ih_l0"])
def test_float64_weight_in_float32_module(backend: str, name: str) -> None:
    module = rnnx.GRU(I, H, backend=backend)
    getattr(module, name).data = getattr(module, name).data.double()
    x = torch.randn(T, B, I)
    if name == "weight_ih_l0":  # the input is compared with the first weight: that check names both
        pattern = r"GRU: .*input has dtype torch.float32 but the dtype of the parameter weight_ih_l0 is torch.float64"
    else:
        pattern = rf"GRU: parameter {name} has dtype torch.float64 but the input has dtype torch.float32"
    for error in (InputError, RuntimeError, ValueError):
        with pytest.raises(error, match=pattern):
            module(x)


def test_sparse_weight_is_refused() -> None:
    module = rnnx.GRU(I, H, backend="reference")
    _plain(module, "weight_hh_l0", torch.randn(3 * H, H).to_sparse())
    with pytest.raises(InputError, match=r"GRU: parameter weight_hh_l0 must be a dense \(strided\) tensor; got layout"):
        module(torch.randn(T, B, I))


def test_weight_on_another_device_is_refused() -> None:
    module = rnnx.GRU(I, H, backend="reference")
    _plain(module, "bias_ih_l0", torch.empty(3 * H, device="meta"))
    with pytest.raises(InputError, match=r"GRU: parameter bias_ih_l0 is on device meta but the input is on device cpu"):
        module(torch.randn(T, B, I))


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize(("name", "shape"), [("bias_hh_l0", "(18,)"), ("weight_ih_l0", "(18, 4)")])
def test_weight_that_is_not_a_tensor(name: str, shape: str, backend: str) -> None:
    module = rnnx.GRU(I, H, backend=backend)
    setattr(module, name, None)
    with pytest.raises(
        TypeError, match=rf"GRU: parameter {name} must be a torch.Tensor of shape {re.escape(shape)}; got NoneType"
    ):
        module(torch.randn(T, B, I))


@pytest.mark.parametrize("name", ["weight_ih", "bias_hh"])
def test_cell_weight_that_is_not_a_tensor(name: str) -> None:
    cell = rnnx.GRUCell(I, H)
    setattr(cell, name, None)
    with pytest.raises(TypeError, match=rf"GRUCell: parameter {name} must be a torch.Tensor of shape"):
        cell(torch.randn(B, I))


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("cls", [rnnx.RNN, rnnx.GRU, rnnx.LSTM])
def test_non_contiguous_weights_run_and_match(cls: type[nn.Module], backend: str) -> None:
    """A transposed or strided weight is not an error: every backend gives the result of its
    contiguous copy (the fused path copies what its kernel needs; a BLAS product may round
    differently with other strides, hence float64)."""
    torch.manual_seed(0)
    module = cls(I, H, backend=backend, bidirectional=True, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    h0 = torch.randn(H, 2, B, dtype=torch.float64).permute(1, 2, 0)  # a non-contiguous state too
    hx: Any = (h0, torch.randn(2, B, H, dtype=torch.float64)) if cls is rnnx.LSTM else h0
    expected = module(x, hx)[0]
    for name in ("weight_hh_l0", "weight_hh_l0_reverse"):
        w = getattr(module, name).detach()
        _plain(module, name, w.t().contiguous().t())  # same values, transposed strides
    bias = module.bias_hh_l0.detach()
    _plain(module, "bias_hh_l0", torch.stack([bias, bias], 1)[:, 0])  # stride 2
    assert not module.weight_hh_l0.is_contiguous()
    assert not module.bias_hh_l0.is_contiguous()
    torch.testing.assert_close(module(x, hx)[0], expected, rtol=1e-12, atol=1e-12)


# -- cells --------------------------------------------------------------------------------

CELL_CASES: list[tuple[str, type[nn.Module], dict[str, Any], str, tuple[int, ...], tuple[str, ...]]] = [
    ("gru_hh", rnnx.GRUCell, {}, "weight_hh", (3, 4), ("auto", "reference", "native")),
    ("gru_ih", rnnx.GRUCell, {}, "weight_ih", (3 * H, I - 1), ("auto", "reference", "native")),
    ("rnn_bias", rnnx.RNNCell, {}, "bias_hh", (H - 1,), ("auto", "reference", "native")),
    ("lstm_hh", rnnx.LSTMCell, {}, "weight_hh", (4 * H, H + 2), ("auto", "reference", "native")),
    ("lstm_peephole", rnnx.LSTMCell, {"peephole": True}, "weight_peephole", (3, H - 1), ("auto", "reference")),
    ("gru_ln_hh", rnnx.GRUCell, {"layer_norm": True}, "ln_hh_weight", (3 * H - 1,), ("auto", "reference")),
    ("lstm_ln_cell", rnnx.LSTMCell, {"layer_norm": True}, "ln_cell_weight", (H + 1,), ("auto", "reference")),
]

CELL_PARAMS = [
    pytest.param(cls, kwargs, name, shape, backend, id=f"{case}-{backend}")
    for case, cls, kwargs, name, shape, backends in CELL_CASES
    for backend in backends
]


@pytest.mark.parametrize("how", list(REPLACE))
@pytest.mark.parametrize(("cls", "kwargs", "name", "shape", "backend"), CELL_PARAMS)
def test_cell_weight_of_wrong_shape(
    cls: type[nn.Module], kwargs: dict[str, Any], name: str, shape: tuple[int, ...], backend: str, how: str
) -> None:
    cell = cls(I, H, backend=backend, **kwargs)
    expected = expected_shape(cell, name)
    REPLACE[how](cell, name, torch.randn(shape))
    pattern = shape_message(cell, name, expected, shape)
    for x in (torch.randn(B, I), torch.randn(I)):  # batched and unbatched
        for error in (InputError, RuntimeError, ValueError):
            with pytest.raises(error, match=pattern):
                cell(x)


@pytest.mark.parametrize("backend", ["auto", "reference", "native"])
@pytest.mark.parametrize("cls", [rnnx.RNNCell, rnnx.GRUCell, rnnx.LSTMCell])
def test_cell_float64_weight(cls: type[nn.Module], backend: str) -> None:
    cell = cls(I, H, backend=backend)
    cell.weight_hh.data = cell.weight_hh.data.double()
    for error in (InputError, RuntimeError, ValueError):
        with pytest.raises(
            error,
            match=rf"{cls.__name__}: parameter weight_hh has dtype torch.float64 but the input has dtype torch.float32",
        ):
            cell(torch.randn(B, I))


# -- the reproduction of the segfault, in a child process -------------------------------

SEGFAULT = """
import torch, rnnx
from torch import nn
m = rnnx.GRU(4, 4096)
m.weight_hh_l0 = nn.Parameter(torch.randn(3, 4))
try:
    m(torch.randn(10, 2, 4))
except RuntimeError as e:
    print("refused:", e)
else:
    print("ran")
"""


def test_wrong_weight_on_the_default_backend_does_not_crash() -> None:
    """The reported segfault (the fused kernel read a (3, 4) W_hh as (12288, 4096)); in a child
    process, so that a regression fails this test instead of killing the test runner."""
    done = subprocess.run([sys.executable, "-c", SEGFAULT], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"exit code {done.returncode}; stderr: {done.stderr[-2000:]}"
    assert "refused: GRU: parameter weight_hh_l0 must have shape (12288, 4096); got (3, 4)" in done.stdout


# -- cost -------------------------------------------------------------------------------


def test_check_costs_a_few_microseconds() -> None:
    """The check runs on every forward call: one combined comparison per weight."""
    module = rnnx.GRU(I, H)
    weights, like = module._flat_weights, torch.randn(T, B, I)
    shapes = module._weight_shapes
    runs = 2000
    best = min(timeit.repeat(lambda: check_weights("GRU", shapes, weights, like), number=runs, repeat=5)) / runs
    assert best < 20e-6, f"check_weights took {best * 1e6:.1f} us for 4 weights"
