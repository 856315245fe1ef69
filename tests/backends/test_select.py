"""Backend choice: auto picks native where it applies; native never silently falls back."""

from __future__ import annotations

import pytest
import torch

import rnnx
from rnnx.backends import resolve_backend


def test_auto_prefers_native_then_fused_then_reference() -> None:
    assert resolve_backend("LSTM", "auto", None) == "native"
    assert resolve_backend("LSTM", "auto", None, None) == "native"
    assert resolve_backend("GRU", "auto", None, None, prefer_fused=True) == "fused"
    assert resolve_backend("GRU", "auto", None, "unsupported", prefer_fused=True) == "native"
    assert resolve_backend("LSTM", "auto", "layer_norm=True has no native kernel", None) == "fused"
    assert resolve_backend("LSTM", "auto", "layer_norm=True has no native kernel") == "reference"
    assert resolve_backend("LSTM", "reference", None) == "reference"
    assert resolve_backend("LSTM", "fused", "no native", None) == "fused"


def test_fused_on_unsupported_configuration_says_why() -> None:
    with pytest.raises(
        ValueError, match=r"LSTM: backend='fused' cannot run this configuration: proj_size has no fused kernel"
    ):
        resolve_backend("LSTM", "fused", None, "proj_size has no fused kernel")


def test_native_on_unsupported_configuration_says_why() -> None:
    with pytest.raises(ValueError, match=r"LSTM: backend='native' cannot run this configuration: because\. Use"):
        resolve_backend("LSTM", "native", "because")


class NoNativeGRU(rnnx.GRU):
    """A layer whose configuration the native kernel cannot run (as variants will be)."""

    def native_unsupported(self, *, training: bool | None = None) -> str | None:
        return "this test says so"


def test_layer_native_request_fails_loudly_and_auto_runs_reference() -> None:
    x = torch.randn(5, 2, 3)
    with pytest.raises(
        ValueError, match=r"NoNativeGRU: backend='native' cannot run this configuration: this test says so"
    ):
        NoNativeGRU(3, 4, backend="native")(x)
    torch.manual_seed(0)
    auto = NoNativeGRU(3, 4)
    torch.manual_seed(0)
    reference = rnnx.GRU(3, 4, backend="reference")
    # auto takes a non-native path (fused where it is built, else reference): same results.
    torch.testing.assert_close(auto(x), reference(x))


def test_backend_can_be_switched_on_a_module() -> None:
    layer = rnnx.LSTM(3, 4, 2)
    x = torch.randn(6, 2, 3)
    native = layer(x)
    layer.backend = "reference"
    torch.testing.assert_close(layer(x), native)


@pytest.mark.parametrize("cls", [rnnx.RNN, rnnx.LSTM, rnnx.GRU, rnnx.RNNCell, rnnx.LSTMCell, rnnx.GRUCell])
def test_device_and_dtype_arguments(cls: type) -> None:
    module = cls(3, 4, device="cpu", dtype=torch.float64)
    assert all(p.dtype == torch.float64 and p.device.type == "cpu" for p in module.parameters())
    x = (
        torch.randn(5, 2, 3, dtype=torch.float64)
        if cls in (rnnx.RNN, rnnx.LSTM, rnnx.GRU)
        else torch.randn(2, 3, dtype=torch.float64)
    )
    out = module(x)
    first = out[0] if isinstance(out, tuple) else out
    assert first.dtype == torch.float64
