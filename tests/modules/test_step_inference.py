"""Batch inference through the streaming step kernel (``backend_choice.backend == "step"``):
``auto`` takes it under no_grad/inference_mode in evaluation for a single sequence, and it gives
the reference path's numbers for every cell and variant, with or without an initial state,
batch first or not, batched or not; weights changed between calls are never stale; every other
call keeps its backend."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnx
import rnnx.fused.function
from rnnx.fused.build import STREAM
from rnnx.fused.stream import SEQUENCE_MAX_BATCH
from tests.modules.test_stream import LAYERS, _name

pytestmark = pytest.mark.skipif(STREAM.reason() is not None, reason="no C++ compiler")


def _tolerance(dtype: torch.dtype, expected: torch.Tensor) -> dict[str, float]:
    if dtype == torch.float64:
        return {"rtol": 1e-10, "atol": 1e-12}
    return {"rtol": 1e-5, "atol": 1e-4 * expected.abs().max().item()}


@pytest.mark.parametrize("case", LAYERS, ids=_name)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_step_kernel_equals_the_reference(
    case: tuple[type, dict[str, Any]], layers: int, batch_first: bool, dtype: torch.dtype
) -> None:
    cls, options = case
    torch.manual_seed(0)
    layer = cls(4, 5, layers, dtype=dtype, batch_first=batch_first, **options).eval()
    x = torch.randn(1, 9, 4, dtype=dtype) if batch_first else torch.randn(9, 1, 4, dtype=dtype)
    with torch.no_grad():
        _, zeros = layer(x)
        hx = tuple(torch.randn_like(s) for s in zeros) if isinstance(zeros, tuple) else torch.randn_like(zeros)
        got = [layer(x), layer(x, hx)]
        assert layer.backend_choice is not None
        assert layer.backend_choice.backend == "step", layer.backend_choice
        layer.backend = "reference"
        expected = [layer(x), layer(x, hx)]
    for (out, final), (out_ref, final_ref) in zip(got, expected, strict=True):
        tol = _tolerance(dtype, out_ref)
        torch.testing.assert_close(out, out_ref, **tol)
        torch.testing.assert_close(final, final_ref, **tol)


def test_inference_mode_and_unbatched_input() -> None:
    torch.manual_seed(1)
    layer = rnnx.LSTM(3, 6, 2, proj_size=4).eval()
    x = torch.randn(7, 3)
    with torch.inference_mode():
        out, (h, c) = layer(x)
        assert layer.backend_choice is not None
        assert layer.backend_choice.backend == "step"
        layer.backend = "reference"
        out_ref, (h_ref, c_ref) = layer(x)
    assert out.shape == (7, 4)
    assert h.shape == (2, 4)
    assert c.shape == (2, 6)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close((h, c), (h_ref, c_ref))


@pytest.mark.parametrize("change", ["in_place", "data", "state_dict"])
def test_weights_changed_between_calls_are_never_stale(change: str) -> None:
    torch.manual_seed(2)
    layer = rnnx.GRU(3, 4).eval()
    x = torch.randn(5, 1, 3)
    with torch.no_grad():
        before, _ = layer(x)
        if change == "in_place":
            layer.weight_hh_l0.mul_(-1.5)
        elif change == "data":
            layer.weight_hh_l0.data = torch.randn(12, 4)
        else:
            layer.load_state_dict(rnnx.GRU(3, 4).state_dict())
        after, _ = layer(x)
        assert layer.backend_choice is not None
        assert layer.backend_choice.backend == "step"
        layer.backend = "reference"
        expected, _ = layer(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected, rtol=1e-5, atol=1e-6)


def _backend(layer: torch.nn.Module, x: Any, *, grad: bool = False, autocast: bool = False) -> str:
    with torch.set_grad_enabled(grad), torch.autocast("cpu", enabled=autocast):
        layer(x)
    return str(layer.backend_choice.backend)


def test_other_calls_keep_their_backend() -> None:
    torch.manual_seed(3)
    x = torch.randn(12, 1, 3)
    lstm = rnnx.LSTM(3, 4).eval()
    assert _backend(lstm, x) == "step"
    assert _backend(lstm, x, grad=True) in ("native", "fused")  # training needs autograd (the rule: below)
    assert _backend(lstm, x, autocast=True) != "step"
    assert _backend(rnnx.LSTM(3, 4), x) != "step"  # training mode
    assert _backend(rnnx.LSTM(3, 4, bidirectional=True).eval(), x) != "step"
    assert _backend(lstm, torch.randn(12, SEQUENCE_MAX_BATCH + 1, 3)) in ("native", "fused")  # the rule: below
    packed = pack_padded_sequence(x, torch.tensor([12]))
    assert _backend(lstm, packed) != "step"
    for backend in ("native", "fused", "reference"):
        assert _backend(rnnx.LSTM(3, 4, backend=backend).eval(), x) == backend
    assert _backend(rnnx.LSTM(3, 4, dtype=torch.float64).eval(), x.double()) == "step"


@pytest.mark.parametrize(
    ("capability", "inference", "batch", "expected"),
    [
        ("AVX2", True, 64, "fused"),
        ("AVX2", True, 65, "native"),
        ("AVX2", False, 128, "fused"),
        ("AVX2", False, 129, "native"),
        ("AVX512", True, 8, "fused"),
        ("AVX512", True, 9, "native"),
        ("AVX512", False, 8, "fused"),
        ("AVX512", False, 9, "native"),
        ("DEFAULT", False, 8, "fused"),
    ],
)
def test_a_standard_lstm_takes_the_fused_kernel_where_it_was_measured_faster(
    monkeypatch: pytest.MonkeyPatch, capability: str, inference: bool, batch: int, expected: str
) -> None:
    monkeypatch.setattr(rnnx.fused.function, "CPU_CAPABILITY", capability)
    torch.manual_seed(4)
    lstm = rnnx.LSTM(3, 4, 2).train(not inference)
    x = torch.randn(10, batch, 3)
    with torch.set_grad_enabled(not inference):
        out, state = lstm(x)
        assert lstm.backend_choice is not None
        assert lstm.backend_choice.backend == expected, lstm.backend_choice
        lstm.backend = "native"
        out_native, state_native = lstm(x)
    torch.testing.assert_close(out, out_native, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(state, state_native, rtol=1e-5, atol=1e-6)
