"""Second-order gradients on every backend: ``gradgradcheck`` for every cell, variant and layer
option on the reference, fused, native and auto backends (and the single-step cells), the
gradient penalty of issue 11 against torch.nn, and the fused node's two forms alike.

Stochastic regularisers draw their masks from torch's generator, which each checked function
seeds first, so that every call gradgradcheck makes draws the same masks.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence

import rnnx
import rnnx.fused.function
from rnnx.fused import op as fused_op
from rnnx.fused import recompute
from rnnx.fused.function import MIN_STEPS_FOR_FUSED
from tests.conftest import KIND_IDS, KINDS, flat, pair

F64 = torch.float64
HAS_FUSED = rnnx.fused.unavailable_reason() is None
T = MIN_STEPS_FOR_FUSED  # the fewest steps that "auto" runs on the fused kernel
B, I, H = 2, 2, 3
LENGTHS = [T, 3, 5]  # unsorted, so packing permutes the batch


def _native_ok(cls: type, options: dict[str, Any], train: bool) -> bool:
    """Whether torch's kernels can run the configuration (the rule of VariantOptions)."""
    if cls is rnnx.IndRNN or options.get("layer_norm") or options.get("peephole") or options.get("zoneout"):
        return False
    return not (train and options.get("recurrent_dropout"))


# (id, class, options, training, packed input, what "auto" runs)
LAYERS: list[tuple[str, type, dict[str, Any], bool, bool, str]] = [
    ("rnn_tanh", rnnx.RNN, {}, False, False, "fused"),
    ("rnn_relu", rnnx.RNN, {"nonlinearity": "relu"}, False, False, "fused"),
    ("gru", rnnx.GRU, {}, False, False, "fused"),
    ("lstm", rnnx.LSTM, {}, False, False, "native"),
    ("lstm_proj", rnnx.LSTM, {"proj_size": 2}, False, False, "fused"),
    ("indrnn_relu", rnnx.IndRNN, {}, False, False, "fused"),
    ("indrnn_tanh", rnnx.IndRNN, {"nonlinearity": "tanh"}, False, False, "fused"),
    ("rnn_tanh_ln", rnnx.RNN, {"layer_norm": True}, False, False, "fused"),
    ("gru_ln", rnnx.GRU, {"layer_norm": True}, False, False, "fused"),
    ("lstm_ln", rnnx.LSTM, {"layer_norm": True}, False, False, "fused"),
    ("lstm_peephole", rnnx.LSTM, {"peephole": True}, False, False, "fused"),
    ("lstm_forget_bias", rnnx.LSTM, {"forget_bias": 1.0}, False, False, "native"),
    ("lstm_zoneout_train", rnnx.LSTM, {"zoneout": (0.3, 0.5)}, True, False, "fused"),
    ("lstm_zoneout_eval", rnnx.LSTM, {"zoneout": (0.3, 0.5)}, False, False, "fused"),
    ("gru_zoneout_train", rnnx.GRU, {"zoneout": 0.4}, True, False, "fused"),
    ("rnn_relu_zoneout_eval", rnnx.RNN, {"nonlinearity": "relu", "zoneout": 0.4}, False, False, "fused"),
    ("gru_recurrent_dropout_train", rnnx.GRU, {"recurrent_dropout": 0.3}, True, False, "fused"),
    ("lstm_recurrent_dropout_train", rnnx.LSTM, {"recurrent_dropout": 0.3}, True, False, "fused"),
    ("lstm_recurrent_dropout_eval", rnnx.LSTM, {"recurrent_dropout": 0.3}, False, False, "native"),
    ("gru_weight_drop_train", rnnx.GRU, {"weight_drop": 0.4}, True, False, "fused"),
    ("lstm_weight_drop_train", rnnx.LSTM, {"weight_drop": 0.4}, True, False, "native"),
    # Layer options: packed sequences, two directions, two layers with dropout between them.
    ("rnn_tanh_bidir_packed", rnnx.RNN, {"bidirectional": True}, False, True, "fused"),
    (
        "gru_2layers_bidir_packed_dropout_train",
        rnnx.GRU,
        {"num_layers": 2, "bidirectional": True, "dropout": 0.3},
        True,
        True,
        "fused",
    ),
    (
        "lstm_2layers_bidir_packed_dropout_weight_drop_train",
        rnnx.LSTM,
        {"num_layers": 2, "bidirectional": True, "dropout": 0.3, "weight_drop": 0.3},
        True,
        True,
        "native",
    ),
    (
        "lstm_every_variant_bidir_packed_train",
        rnnx.LSTM,
        {
            "bidirectional": True,
            "proj_size": 2,
            "layer_norm": True,
            "peephole": True,
            "forget_bias": 1.0,
            "zoneout": (0.3, 0.4),
            "recurrent_dropout": 0.3,
            "weight_drop": 0.3,
        },
        True,
        True,
        "fused",
    ),
    (
        "indrnn_2layers_bidir_packed_recurrent_dropout_train",
        rnnx.IndRNN,
        {"num_layers": 2, "bidirectional": True, "recurrent_dropout": 0.3},
        True,
        True,
        "fused",
    ),
]


def _layer_params() -> list[Any]:
    params = []
    for case in LAYERS:
        name, cls, options, train, packed, _ = case
        for backend in ("reference", "fused", "native", "auto"):
            if backend == "native" and not _native_ok(cls, options, train):
                continue
            if backend == "auto" and packed:  # the larger layers: "auto" runs what a named backend runs
                continue
            marks = (
                [pytest.mark.skipif(not HAS_FUSED, reason="no C++ compiler")] if backend in ("fused", "auto") else []
            )
            params.append(pytest.param(case, backend, id=f"{name}-{backend}", marks=marks))
    return params


def _build(cls: type, options: dict[str, Any], *, train: bool, backend: str) -> Any:
    torch.manual_seed(0)
    module = cls(I, H, **options, backend=backend).double().train(train)
    with torch.no_grad():  # layer-norm gains and biases away from 1 and 0
        for name, p in module.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
    return module


def _layer_function(module: Any, *, packed: bool) -> tuple[Any, tuple[Tensor, ...]]:
    """``fn(x, *states, *weights) -> (output, *final states)`` and its float64 arguments."""
    names = [n for n, _ in module.named_parameters()]
    g = torch.Generator().manual_seed(1)
    batch = len(LENGTHS) if packed else B
    rows = module.num_layers * module.num_directions
    sizes = module.cell.state_sizes(module.hidden_size, module.proj_size)
    x = torch.randn(T, batch, I, generator=g, dtype=F64).requires_grad_()
    states = [torch.randn(rows, batch, s, generator=g, dtype=F64).requires_grad_() for s in sizes]
    weights = [p.detach().clone().requires_grad_() for p in module.parameters()]

    def fn(x: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
        torch.manual_seed(2)  # the same masks on every call
        hx, w = tensors[: len(sizes)], tensors[len(sizes) :]
        inp = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False) if packed else x
        args = (inp, tuple(hx) if len(hx) > 1 else hx[0])
        out, state = torch.func.functional_call(module, dict(zip(names, w, strict=True)), args)
        return (*flat(out), *flat(state))

    return fn, (x, *states, *weights)


@pytest.mark.parametrize(("case", "backend"), _layer_params())
def test_layer_gradgradcheck(case: tuple[Any, ...], backend: str) -> None:
    _, cls, options, train, packed, auto = case
    module = _build(cls, options, train=train, backend=backend)
    fn, args = _layer_function(module, packed=packed)
    assert torch.autograd.gradgradcheck(fn, args, fast_mode=True)
    assert module.backend_choice.backend == (auto if backend == "auto" else backend)


@pytest.mark.skipif(not HAS_FUSED, reason="no C++ compiler")
@pytest.mark.parametrize(
    ("cls", "options", "train"),
    [
        (rnnx.GRU, {"zoneout": 0.4, "recurrent_dropout": 0.3}, True),
        (rnnx.LSTM, {"proj_size": 1, "layer_norm": True, "peephole": True, "zoneout": (0.3, 0.4)}, True),
        (rnnx.IndRNN, {"nonlinearity": "tanh", "bidirectional": True}, False),
    ],
    ids=["gru", "lstm", "indrnn"],
)
def test_fused_gradgradcheck_every_element(cls: type, options: dict[str, Any], train: bool) -> None:
    """The full check (every element, not a random projection) on the fused kernel, tiny."""
    torch.manual_seed(0)
    module = cls(1, 2, **options, backend="fused").double().train(train)
    names = [n for n, _ in module.named_parameters()]
    x = torch.randn(T, 1, 1, dtype=F64, requires_grad=True)

    def fn(x: Tensor, *w: Tensor) -> tuple[Tensor, ...]:
        torch.manual_seed(2)
        out, state = torch.func.functional_call(module, dict(zip(names, w, strict=True)), (x,))
        return (out, *flat(state))

    weights = [p.detach().clone().requires_grad_() for p in module.parameters()]
    assert torch.autograd.gradgradcheck(fn, (x, *weights))
    assert module.backend_choice.backend == "fused"


# -- single-step cells ------------------------------------------------------------------------

# (id, class, options, training, what "auto" runs)
CELLS: list[tuple[str, type, dict[str, Any], bool, str]] = [
    ("rnn_tanh", rnnx.RNNCell, {}, False, "native"),
    ("rnn_relu", rnnx.RNNCell, {"nonlinearity": "relu"}, False, "native"),
    ("gru", rnnx.GRUCell, {}, False, "native"),
    ("lstm", rnnx.LSTMCell, {}, False, "native"),
    ("rnn_ln", rnnx.RNNCell, {"layer_norm": True}, False, "reference"),
    ("gru_ln", rnnx.GRUCell, {"layer_norm": True}, False, "reference"),
    ("lstm_ln_peephole", rnnx.LSTMCell, {"layer_norm": True, "peephole": True}, False, "reference"),
    ("lstm_zoneout_train", rnnx.LSTMCell, {"zoneout": (0.3, 0.5)}, True, "reference"),
    ("gru_recurrent_dropout_train", rnnx.GRUCell, {"recurrent_dropout": 0.3}, True, "reference"),
    ("lstm_weight_drop_train", rnnx.LSTMCell, {"weight_drop": 0.4}, True, "native"),
]


def _cell_params() -> list[Any]:
    params = []
    for case in CELLS:
        name, cls, options, train, _ = case
        for backend in ("reference", "native", "auto"):
            if backend != "native" or _native_ok(cls, options, train):
                params.append(pytest.param(case, backend, id=f"{name}-{backend}"))
    return params


@pytest.mark.parametrize(("case", "backend"), _cell_params())
def test_cell_gradgradcheck(case: tuple[Any, ...], backend: str) -> None:
    """Three steps of a cell, the state fed back, so second derivatives cross steps."""
    _, cls, options, train, auto = case
    module = _build(cls, options, train=train, backend=backend)
    names = [n for n, _ in module.named_parameters()]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, B, I, generator=g, dtype=F64).requires_grad_()
    states = [torch.randn(B, H, generator=g, dtype=F64).requires_grad_() for _ in module.cell.state_names]

    def fn(x: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
        torch.manual_seed(2)
        module.reset_dropout_mask()
        n = len(states)
        state: Any = tuple(tensors[:n]) if n > 1 else tensors[0]
        w = dict(zip(names, tensors[n:], strict=True))
        for t in range(x.shape[0]):
            state = torch.func.functional_call(module, w, (x[t], state))
        return tuple(flat(state))

    weights = [p.detach().clone().requires_grad_() for p in module.parameters()]
    assert torch.autograd.gradgradcheck(fn, (x, *states, *weights), fast_mode=True)
    assert module.backend_choice.backend == (auto if backend == "auto" else backend)


# -- the gradient penalty of issue 11, against torch.nn -----------------------------------------


def _tolerances(expected: Tensor, dtype: torch.dtype) -> dict[str, float]:
    scale = expected.abs().max().item() or 1.0
    if dtype == F64:
        return {"rtol": 1e-9, "atol": 1e-11 * scale}
    return {"rtol": 1e-5, "atol": 1e-4 * scale}  # float32 paths differ in their rounding


@pytest.fixture(autouse=True)
def _onednn_for_the_standard_lstm(monkeypatch: pytest.MonkeyPatch) -> None:
    """These cases were written for oneDNN's LSTM under auto, whose double backward they test;
    keep it there on CPUs where auto would train a small LSTM on the fused kernel (AVX2)."""
    monkeypatch.setattr(rnnx.fused.function, "CPU_CAPABILITY", "AVX512")
    monkeypatch.setattr(rnnx.fused.function, "_LSTM_FUSED_BATCH_ELSEWHERE", 0)


def _auto_backend(kind: tuple[Any, ...]) -> str:
    return "native" if kind[0] == "lstm" else "fused"


@pytest.mark.skipif(not HAS_FUSED, reason="no C++ compiler")
@pytest.mark.parametrize("dtype", [F64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_gradient_penalty_weight_gradients_equal_torch_nn(kind: tuple[Any, ...], dtype: torch.dtype) -> None:
    """The issue's reproduction: default backend, T=10, ``d/dW`` of ``|d out^2 / dx|^2``."""
    oracle, ours = pair(kind, input_size=3, hidden_size=5)
    oracle, ours = oracle.to(dtype), ours.to(dtype)
    x = torch.randn(10, 2, 3, dtype=dtype)
    results = []
    for m in (oracle, ours):
        xx = x.clone().requires_grad_()
        out = m(xx)[0]
        (g,) = torch.autograd.grad(out.pow(2).sum(), xx, create_graph=True)
        results.append(torch.autograd.grad(g.pow(2).sum(), [m.weight_ih_l0, m.weight_hh_l0]))
    assert ours.backend_choice.backend == _auto_backend(kind)
    for name, a, b in zip(("weight_ih_l0", "weight_hh_l0"), results[1], results[0], strict=True):
        torch.testing.assert_close(a, b, **_tolerances(b, dtype), msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.skipif(not HAS_FUSED, reason="no C++ compiler")
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_gradient_penalty_backward_equals_torch_nn(kind: tuple[Any, ...]) -> None:
    """``(loss + penalty).backward()``, as WGAN-GP and R1 train: every gradient as torch.nn's."""
    oracle, ours = pair(kind, input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    oracle, ours = oracle.double(), ours.double()
    x = torch.randn(10, 2, 3, dtype=F64)
    results = []
    for m in (oracle, ours):
        xx = x.clone().requires_grad_()
        out, _ = m(xx)
        (g,) = torch.autograd.grad(out.pow(2).sum(), xx, create_graph=True)
        (out.sum() + g.pow(2).sum()).backward()
        results.append([xx.grad, *(p.grad for p in m.parameters())])
    assert ours.backend_choice.backend == _auto_backend(kind)
    for k, (a, b) in enumerate(zip(results[1], results[0], strict=True)):
        torch.testing.assert_close(a, b, **_tolerances(b, F64), msg=lambda m, k=k: f"gradient {k}: {m}")


@pytest.mark.skipif(not HAS_FUSED, reason="no C++ compiler")
def test_fused_third_order_equals_reference() -> None:
    """The recompute is itself differentiable: a third derivative matches the reference path."""
    results = []
    for backend in ("fused", "reference"):
        torch.manual_seed(0)
        m = rnnx.GRU(2, 3, backend=backend, layer_norm=True).double()
        x = torch.randn(T, 2, 2, dtype=F64, requires_grad=True)
        (g,) = torch.autograd.grad(m(x)[0].pow(2).sum(), x, create_graph=True)
        (gg,) = torch.autograd.grad(g.pow(2).sum(), x, create_graph=True)
        results.append(torch.autograd.grad(gg.pow(2).sum(), list(m.parameters())))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11 * b.abs().max().item())


# -- the fused node --------------------------------------------------------------------------


def _captured_arguments(module: Any, x: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The arguments of every fused node the module's forward creates."""
    calls: list[tuple[Any, ...]] = []
    node = rnnx.fused.function.fused_scan_node

    def spy(*args: Any) -> Any:
        calls.append(args)
        return node(*args)

    monkeypatch.setattr(rnnx.fused.function, "fused_scan_node", spy)
    module(x)
    monkeypatch.undo()
    return calls


@pytest.mark.skipif(not HAS_FUSED, reason="no C++ compiler")
def test_first_order_backward_takes_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without create_graph nothing is recomputed; with it the recompute runs."""
    calls: list[int] = []
    real = recompute.recomputed_gradients

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(fused_op, "recomputed_gradients", counting)
    m = rnnx.GRU(2, 3, backend="fused", zoneout=0.3).double()
    x = torch.randn(T, 2, 2, dtype=F64, requires_grad=True)
    m(x)[0].sum().backward()
    assert calls == []
    torch.autograd.grad(m(x)[0].pow(2).sum(), x, create_graph=True)
    assert calls == [1]


@pytest.mark.skipif(not HAS_FUSED, reason="no C++ compiler")
@pytest.mark.parametrize(
    "build",
    [
        lambda: rnnx.LSTM(2, 3, layer_norm=True, peephole=True, proj_size=2, zoneout=(0.3, 0.4), recurrent_dropout=0.3),
        lambda: rnnx.GRU(2, 3, bidirectional=True, zoneout=0.4),
    ],
    ids=["lstm_every_variant", "gru_reverse_zoneout"],
)
def test_eager_function_and_custom_op_double_backward_alike(build: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """FusedScan (eager) and rnnx::fused_scan (torch.compile's form, run here eagerly) give the
    same second-order gradients, and each passes gradgradcheck, on a real layer's arguments."""
    torch.manual_seed(0)
    m = build().double().train()
    x = torch.nn.utils.rnn.pack_sequence([torch.randn(n, 2, dtype=F64) for n in (T, 5, 3)])
    calls = _captured_arguments(m, x, monkeypatch)
    assert len(calls) == m.num_layers * m.num_directions
    for args in calls:
        places = [k for k, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        leaves = [args[k].detach().clone().requires_grad_() for k in places]

        def run(form: Any, *tensors: Tensor, args: tuple[Any, ...] = args, places: list[int] = places) -> Any:
            full = list(args)
            for k, t in zip(places, tensors, strict=True):
                full[k] = t
            out, h, c, *_ = form(*full)
            return (out, h, c) if c.numel() else (out, h)

        results = []
        for form in (fused_op.FusedScan.apply, fused_op.fused_scan_op):
            assert torch.autograd.gradgradcheck(lambda *t, form=form: run(form, *t), leaves, fast_mode=True)
            outputs = run(form, *leaves)
            first = torch.autograd.grad(sum(o.pow(2).sum() for o in outputs), leaves, create_graph=True)
            results.append(torch.autograd.grad(sum(d.pow(2).sum() for d in first), leaves))
        for a, b in zip(*results, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_native_double_backward_is_torch_nns_own() -> None:
    """The native backend is torch's own kernel: its second derivatives are torch.nn's, bit for
    bit, in float32 (on CPU the LSTM runs oneDNN there)."""
    for kind in KINDS:
        oracle, ours = pair(kind, backend="native", input_size=3, hidden_size=4)
        x = torch.randn(6, 2, 3)
        results = []
        for m in (oracle, ours):
            xx = x.clone().requires_grad_()
            (g,) = torch.autograd.grad(m(xx)[0].pow(2).sum(), xx, create_graph=True)
            results.append(torch.autograd.grad(g.pow(2).sum(), list(m.parameters())))
        for a, b in zip(*results, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def _penalty_gradients(m: Any, x: Tensor) -> list[Tensor] | str:
    """``d/dW |d sum(out^2) / dx|^2`` for every parameter, or the error's type."""
    xx = x.clone().requires_grad_()
    try:
        (g,) = torch.autograd.grad(m(xx)[0].pow(2).sum(), xx, create_graph=True)
        return list(torch.autograd.grad(g.pow(2).sum(), list(m.parameters())))
    except RuntimeError as e:
        return type(e).__name__


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_cuda_double_backward_as_torch_nn(kind: tuple[Any, ...]) -> None:
    """On CUDA the native backend is cuDNN's kernel: rnnx gives what torch.nn gives (its second
    derivatives, or its error where cuDNN has none), and the reference path always works."""
    oracle, ours = pair(kind, input_size=3, hidden_size=4)
    oracle, ours = oracle.cuda(), ours.cuda()
    x = torch.randn(T, 2, 3, device="cuda")
    expected, got = _penalty_gradients(oracle, x), _penalty_gradients(ours, x)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert not isinstance(got, str)
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, **_tolerances(b, torch.float32))
    ours.backend = "reference"
    reference = _penalty_gradients(ours.double(), x.double())
    assert not isinstance(reference, str)
    for a, b in zip(reference, _penalty_gradients(oracle.cpu().double(), x.cpu().double()), strict=True):
        torch.testing.assert_close(a.cpu(), b, **_tolerances(b, F64))
