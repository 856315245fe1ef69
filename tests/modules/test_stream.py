"""rnnx.Stream: one step at a time equals the layer over the whole sequence, on the compiled and
the differentiable path, for every variant; state, reset, weight changes and bad input."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import rnnx
from rnnx.errors import InputError
from rnnx.fused.build import STREAM

needs_kernel = pytest.mark.skipif(STREAM.reason() is not None, reason="no C++ compiler")

LAYERS: list[tuple[type, dict[str, Any]]] = [
    (rnnx.LSTM, {}),
    (rnnx.LSTM, {"layer_norm": True}),
    (rnnx.LSTM, {"peephole": True, "forget_bias": 1.0}),
    (rnnx.LSTM, {"proj_size": 3}),
    (rnnx.LSTM, {"layer_norm": True, "peephole": True, "proj_size": 2, "zoneout": (0.2, 0.1)}),
    (rnnx.LSTM, {"recurrent_dropout": 0.3, "weight_drop": 0.2, "bias": False}),
    (rnnx.GRU, {}),
    (rnnx.GRU, {"layer_norm": True, "zoneout": 0.25}),
    (rnnx.GRU, {"bias": False}),
    (rnnx.RNN, {}),
    (rnnx.RNN, {"nonlinearity": "relu", "layer_norm": True}),
    (rnnx.IndRNN, {}),
    (rnnx.IndRNN, {"nonlinearity": "tanh", "zoneout": 0.3}),
]


def _name(case: tuple[type, dict[str, Any]]) -> str:
    cls, options = case
    return cls.__name__ + "".join(f"-{k}" for k in options)


def _run_stream(stream: rnnx.Stream, x: torch.Tensor) -> torch.Tensor:
    """Feed ``x (T, B, I)`` step by step."""
    return torch.stack([stream(x_t) for x_t in x])


@needs_kernel
@pytest.mark.parametrize("case", LAYERS, ids=_name)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("batch", [1, 3, 7])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_step_equals_the_layer(
    case: tuple[type, dict[str, Any]], layers: int, batch: int, dtype: torch.dtype
) -> None:
    cls, options = case
    torch.manual_seed(0)
    layer = cls(4, 5, layers, dtype=dtype, backend="reference", **options).eval()
    x = torch.randn(9, batch, 4, dtype=dtype)
    stream = rnnx.Stream(layer, batch_size=batch)
    with torch.no_grad():
        expected, final = layer(x)
        got = _run_stream(stream, x)
    assert stream._step is not None  # the compiled path ran
    # float32: within rounding of the tensor's own scale, as for the fused kernel (tests/fused).
    scale = expected.abs().max().item()
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-4 * scale}
    torch.testing.assert_close(got, expected, **tol)
    torch.testing.assert_close(stream.state, final, **tol)


@needs_kernel
@pytest.mark.parametrize(
    ("cls", "options"),
    [(rnnx.LSTMCell, {}), (rnnx.LSTMCell, {"layer_norm": True}), (rnnx.GRUCell, {"zoneout": 0.2}), (rnnx.RNNCell, {})],
)
def test_compiled_step_of_a_cell_equals_stepping_it(cls: type, options: dict[str, Any]) -> None:
    torch.manual_seed(1)
    cell = cls(4, 5, dtype=torch.float64, **options).eval()
    x = torch.randn(6, 2, 4, dtype=torch.float64)
    stream = rnnx.Stream(cell, batch_size=2)
    with torch.inference_mode():
        state: Any = None
        expected = []
        for x_t in x:
            state = cell(x_t, state)
            expected.append(state[0] if isinstance(state, tuple) else state)
        got = _run_stream(stream, x)
    assert stream._step is not None
    torch.testing.assert_close(got, torch.stack(expected), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(stream.state, state, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", LAYERS[:2] + LAYERS[6:8], ids=_name)
def test_differentiable_step_gives_the_layers_gradients(case: tuple[type, dict[str, Any]]) -> None:
    cls, options = case
    torch.manual_seed(2)
    layer = cls(3, 4, 2, dtype=torch.float64, **options).eval()
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    out, _ = layer(x)
    expected = torch.autograd.grad(out.square().sum(), [x, *layer.parameters()])
    stream = rnnx.Stream(layer, batch_size=2)
    got_out = _run_stream(stream, x)
    assert stream._step is None  # grad mode on: the module itself, step by step
    got = torch.autograd.grad(got_out.square().sum(), [x, *layer.parameters()])
    torch.testing.assert_close(got_out, out)
    torch.testing.assert_close(got, expected)


def test_detach_cuts_the_graph_for_truncated_bptt() -> None:
    layer = rnnx.GRU(3, 4)
    stream = rnnx.Stream(layer, batch_size=2)
    x = torch.randn(4, 2, 3, requires_grad=True)
    stream(x[0])
    stream(x[1])
    stream.detach()
    loss = stream(x[2]).sum()
    (grad,) = torch.autograd.grad(loss, x)
    assert grad[:2].abs().sum() == 0
    assert grad[2].abs().sum() > 0


def test_training_mode_steps_with_its_regularisers_and_refuses_recurrent_dropout() -> None:
    torch.manual_seed(3)
    layer = rnnx.LSTM(3, 4, 2, dropout=0.2, zoneout=0.1).train()
    stream = rnnx.Stream(layer, batch_size=2)
    with torch.no_grad():
        out = stream(torch.randn(2, 3))
    assert out.shape == (2, 4)
    assert stream._step is None  # training: never the compiled evaluation step
    with pytest.raises(ValueError, match="recurrent_dropout draws one mask per sequence"):
        rnnx.Stream(rnnx.LSTM(3, 4, recurrent_dropout=0.2).train())(torch.randn(1, 3))


@needs_kernel
@pytest.mark.parametrize("how", ["indices", "mask", "all"])
def test_reset_restarts_only_the_chosen_streams(how: str) -> None:
    torch.manual_seed(4)
    layer = rnnx.LSTM(3, 4, 2).eval()
    x = torch.randn(6, 3, 3)
    stream = rnnx.Stream(layer, batch_size=3)
    with torch.no_grad():
        _run_stream(stream, x[:3])
        chosen = {"indices": [1], "mask": torch.tensor([False, True, False]), "all": None}[how]
        stream.reset(chosen)
        got = _run_stream(stream, x[3:])
        _, carried = layer(x[:3])
        fresh, _ = layer(x[3:])
        kept, _ = layer(x[3:], carried)
    restarted = [0, 1, 2] if how == "all" else [1]
    for b in range(3):
        expected = fresh if b in restarted else kept
        torch.testing.assert_close(got[:, b], expected[:, b], rtol=2e-5, atol=2e-6)


def test_reset_on_the_differentiable_path_keeps_the_graph() -> None:
    layer = rnnx.GRU(3, 4)
    stream = rnnx.Stream(layer, batch_size=2)
    x = torch.randn(2, 2, 3, requires_grad=True)
    stream(x[0])
    stream.reset([0])
    loss = stream(x[1]).sum()
    (grad,) = torch.autograd.grad(loss, x)
    assert grad[0, 0].abs().sum() == 0  # stream 0 forgot step 0
    assert grad[0, 1].abs().sum() > 0


@needs_kernel
def test_state_set_by_hand_equals_the_layer_with_hx() -> None:
    torch.manual_seed(5)
    layer = rnnx.LSTM(3, 4, 2, proj_size=2).eval()
    h0, c0 = torch.randn(2, 2, 2), torch.randn(2, 2, 4)
    x = torch.randn(5, 2, 3)
    stream = rnnx.Stream(layer, batch_size=2, state=(h0, c0))
    with torch.no_grad():
        expected, (h_n, c_n) = layer(x, (h0, c0))
        got = _run_stream(stream, x)
    torch.testing.assert_close(got, expected, rtol=2e-5, atol=2e-6)
    h, c = stream.state
    torch.testing.assert_close((h, c), (h_n, c_n), rtol=2e-5, atol=2e-6)
    h.zero_()  # the state read is a copy: the stream's own is untouched
    torch.testing.assert_close(stream.state[0], h_n, rtol=2e-5, atol=2e-6)


@needs_kernel
@pytest.mark.parametrize("change", ["optimizer", "data", "replace", "load_state_dict"])
def test_changed_weights_are_picked_up_never_stale(change: str) -> None:
    torch.manual_seed(6)
    layer = rnnx.GRU(3, 4).eval()
    stream = rnnx.Stream(layer, batch_size=1)
    x = torch.randn(1, 3)
    with torch.no_grad():
        stream(x)
        stream.reset()
    if change == "optimizer":
        layer.weight_hh_l0.grad = torch.ones_like(layer.weight_hh_l0)
        torch.optim.SGD(layer.parameters(), lr=0.5).step()
    elif change == "data":
        layer.weight_hh_l0.data = torch.randn(12, 4)
    elif change == "replace":
        layer.weight_hh_l0 = nn.Parameter(torch.randn(12, 4))
    else:
        layer.load_state_dict(rnnx.GRU(3, 4).state_dict())
    with torch.no_grad():
        got = stream(x)
        layer.backend = "reference"  # the oracle: not the step kernel the layer takes here under auto
        expected, _ = layer(x.unsqueeze(0))
    torch.testing.assert_close(got, expected[0], rtol=2e-5, atol=2e-6)


@needs_kernel
def test_stream_follows_the_module_to_another_dtype() -> None:
    layer = rnnx.LSTM(3, 4).eval()
    stream = rnnx.Stream(layer)
    with torch.no_grad():
        stream(torch.randn(1, 3))
        before = stream.state
        layer.double()
        x = torch.randn(1, 3, dtype=torch.float64)
        out = stream(x)
        expected, _ = layer(x.unsqueeze(0), tuple(s.double() for s in before))
    assert out.dtype == torch.float64
    assert stream._step is not None
    torch.testing.assert_close(out, expected[0])


def test_a_users_cell_streams_on_the_differentiable_path() -> None:
    class Minimal(rnnx.cells.CellStep):
        num_chunks = 1
        state_names = ("h",)

        def step(self, gi: torch.Tensor, state: Any, w: Any, *, record: Any = None) -> Any:
            return (torch.tanh(torch.addmm(gi, state[0], w.weight_hh.t())),)

    layer = rnnx.Recurrent(Minimal(), 3, 4).eval()
    stream = rnnx.Stream(layer, batch_size=2)
    x = torch.randn(5, 2, 3)
    with torch.no_grad():
        expected, _ = layer(x)
        got = _run_stream(stream, x)
    torch.testing.assert_close(got, expected)


# -- bad input ----------------------------------------------------------------------------------


def test_bad_modules_and_batch_sizes_are_refused() -> None:
    with pytest.raises(TypeError, match="Stream: module must be an rnnx recurrent layer or cell"):
        rnnx.Stream(nn.LSTM(3, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a bidirectional layer cannot stream"):
        rnnx.Stream(rnnx.GRU(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        rnnx.Stream(rnnx.GRU(3, 4), batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        rnnx.Stream(rnnx.GRU(3, 4), batch_size=2.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.randn(3, 3), InputError, r"x must have shape \(batch_size, input_size\) = \(2, 3\); got \(3, 3\)"),
        (torch.randn(2, 4), InputError, r"= \(2, 3\); got \(2, 4\)"),
        (torch.randn(2, 1, 3), InputError, r"got \(2, 1, 3\)"),
        (torch.randn(3), InputError, r"got \(3,\)"),
        (torch.zeros(2, 3, dtype=torch.long), TypeError, "must be a floating-point tensor"),
        ([[0.0] * 3] * 2, TypeError, "x must be a torch.Tensor"),
        (torch.randn(2, 3, dtype=torch.float64), ValueError, "x has dtype torch.float64"),
    ],
)
def test_bad_steps_are_clear_errors_on_both_paths(x: Any, error: type, match: str, grad: bool) -> None:
    stream = rnnx.Stream(rnnx.LSTM(3, 4).eval(), batch_size=2)
    with torch.set_grad_enabled(grad):
        stream(torch.randn(2, 3))  # packs the compiled step when grad is off
        with pytest.raises(error, match=match):
            stream(x)
        assert stream(torch.randn(2, 3)).shape == (2, 4)  # still usable


def test_bad_state_and_reset_are_clear_errors() -> None:
    stream = rnnx.Stream(rnnx.LSTM(3, 4, 2), batch_size=2)
    with pytest.raises(InputError, match=r"state must be 2 tensor\(s\) \(h, c\); got 1"):
        stream.state = torch.zeros(2, 2, 4)
    with pytest.raises(InputError, match=r"state \(c\) must have shape \(2, 2, 4\); got \(2, 2, 5\)"):
        stream.state = (torch.zeros(2, 2, 4), torch.zeros(2, 2, 5))
    with pytest.raises(RuntimeError, match=r"a reset mask must have shape \(2,\); got \(3,\)"):
        stream.reset(torch.tensor([True, False, True]))
    with pytest.raises(ValueError, match=r"reset indices must be in \[0, 2\); got \[2\]"):
        stream.reset([2])
    with pytest.raises(TypeError, match="reset takes stream indices or a bool mask"):
        stream.reset(torch.tensor([0.5]))


@needs_kernel
def test_the_kernel_checks_what_it_is_given() -> None:
    module = STREAM.load()
    assert module is not None
    h, c = torch.zeros(1, 1, 4), torch.zeros(1, 1, 4)
    empty = torch.empty(0)
    good = [torch.zeros(3, 16), torch.zeros(4, 16), *[empty] * 8]
    module.Stack(0, [good], [0.0], [0.0], h, c, [])
    bad_shape = [torch.zeros(3, 16), torch.zeros(5, 16), *[empty] * 8]
    with pytest.raises(RuntimeError, match=r"W_hh\^T must have shape \(4, 16\)"):
        module.Stack(0, [bad_shape], [0.0], [0.0], h, c, [])
    with pytest.raises(RuntimeError, match=r"needs 10 tensors; got 2"):
        module.Stack(0, [good[:2]], [0.0], [0.0], h, c, [])
    with pytest.raises(RuntimeError, match="unknown kind"):
        module.Stack(9, [good], [0.0], [0.0], h, c, [])
    with pytest.raises(RuntimeError, match=r"c must be a contiguous CPU tensor \(L, B, H\)"):
        module.Stack(0, [good], [0.0], [0.0], h, torch.zeros(1, 1, 5), [])
    stack = module.Stack(0, [good], [0.0], [0.0], h, c, [])
    with pytest.raises(RuntimeError, match=r"x must be \(1, 3\); got \[1, 4\]"):
        stack.step(torch.zeros(1, 4))
    with pytest.raises(RuntimeError, match="x must be a CPU"):
        stack.step(torch.zeros(1, 3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"x must be \(T >= 1, 1, 3\); got \[0, 1, 3\]"):
        stack.sequence(torch.zeros(0, 1, 3))
    with pytest.raises(RuntimeError, match=r"x must be \(T >= 1, 1, 3\); got \[2, 3\]"):
        stack.sequence(torch.zeros(2, 3))
    with pytest.raises(RuntimeError, match="x must be a CPU"):
        stack.sequence(torch.zeros(2, 1, 3, dtype=torch.float64))


@needs_kernel
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("cls", [rnnx.LSTM, rnnx.GRU])
def test_weights_larger_than_a_cache_are_shared_out_the_same(cls: type, batch: int) -> None:
    """Above 1 MB a single row's products run over torch's threads by column blocks (and a few
    rows go to the BLAS); 300 units give full register blocks and a partial one."""
    torch.manual_seed(7)
    layer = cls(32, 300, dtype=torch.float64).eval()
    x = torch.randn(4, batch, 32, dtype=torch.float64)
    stream = rnnx.Stream(layer, batch_size=batch)
    with torch.no_grad():
        expected, _ = layer(x)
        got = _run_stream(stream, x)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_autocast_takes_the_modules_own_step_with_its_dtypes() -> None:
    torch.manual_seed(8)
    layer = rnnx.GRU(3, 4, 2).eval()
    stream = rnnx.Stream(layer, batch_size=2)
    x = torch.randn(2, 3)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = stream(x)
        expected, _ = layer(x.unsqueeze(0))
    assert stream._step is None  # autocast: never the float32 compiled step
    assert got.dtype == expected.dtype
    torch.testing.assert_close(got, expected[0])


def test_the_differentiable_step_has_second_order_gradients() -> None:
    torch.manual_seed(9)
    layer = rnnx.LSTM(2, 3, layer_norm=True, dtype=torch.float64).eval()

    def steps(x: torch.Tensor) -> torch.Tensor:
        stream = rnnx.Stream(layer, batch_size=2)
        return torch.stack([stream(x_t) for x_t in x])

    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(steps, (x,))
    assert torch.autograd.gradgradcheck(steps, (x,))
