"""Backend choice: one function decides; auto picks by rule and says why; explicit requests are
run as asked or refused, never downgraded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import rnnx
from rnnx.backends import BackendChoice, choose_backend
from rnnx.fused import build


def _reason(text: str | None) -> Callable[[], str | None]:
    return lambda: text


def _never() -> str | None:
    raise AssertionError("the fused reason was asked for where it does not matter")


def test_auto_takes_native_without_asking_about_fused() -> None:
    choice = choose_backend("LSTM", "auto", native=None, fused=_never)
    assert choice == BackendChoice("native", "auto", "PyTorch's own kernel runs this configuration")


def test_auto_takes_fused_where_it_is_faster_and_can_run() -> None:
    choice = choose_backend("GRU", "auto", native=None, fused=_reason(None), fused_faster="measured faster")
    assert (choice.backend, choice.reason) == ("fused", "measured faster")


def test_auto_takes_native_when_the_faster_fused_kernel_cannot_run() -> None:
    choice = choose_backend("GRU", "auto", native=None, fused=_reason("no compiler"), fused_faster="faster")
    assert choice.backend == "native"
    assert "the faster fused kernel cannot: no compiler" in choice.reason


def test_auto_takes_fused_then_reference_for_what_native_cannot_run() -> None:
    fused = choose_backend("LSTM", "auto", native="layer_norm=True has no native kernel", fused=_reason(None))
    assert fused.backend == "fused"
    assert "layer_norm=True has no native kernel" in fused.reason
    reference = choose_backend("LSTM", "auto", native="layer_norm", fused=_reason("float16"))
    assert reference.backend == "reference"
    assert "layer_norm" in reference.reason
    assert "float16" in reference.reason


def test_explicit_requests_run_as_asked() -> None:
    assert choose_backend("LSTM", "reference", native=None, fused=_never).backend == "reference"
    assert choose_backend("LSTM", "native", native=None, fused=_never).backend == "native"
    assert choose_backend("LSTM", "fused", native="no native", fused=_reason(None)).backend == "fused"


def test_fused_on_unsupported_configuration_says_why() -> None:
    with pytest.raises(ValueError, match=r"LSTM: backend='fused' cannot run this configuration: no kernel here\. Use"):
        choose_backend("LSTM", "fused", native=None, fused=_reason("no kernel here"))


def test_native_on_unsupported_configuration_says_why() -> None:
    with pytest.raises(ValueError, match=r"LSTM: backend='native' cannot run this configuration: because\. Use"):
        choose_backend("LSTM", "native", native="because", fused=_never)


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
    assert auto.backend_choice is not None
    assert auto.backend_choice.backend in ("fused", "reference")
    assert "this test says so" in auto.backend_choice.reason


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


# -- what ran, and why --------------------------------------------------------------------------

needs_kernels = pytest.mark.skipif(rnnx.fused.unavailable_reason() is not None, reason="no C++ compiler")


def test_choice_is_none_before_the_first_call_and_set_after() -> None:
    lstm = rnnx.LSTM(3, 4)
    assert lstm.backend_choice is None
    lstm(torch.randn(5, 2, 3))
    assert lstm.backend_choice == BackendChoice("native", "auto", "PyTorch's own kernel runs this configuration")
    assert str(lstm.backend_choice) == "native: PyTorch's own kernel runs this configuration"


@needs_kernels
def test_choice_names_the_rule_auto_applied() -> None:
    gru = rnnx.GRU(3, 4)
    gru(torch.randn(20, 2, 3))
    assert gru.backend_choice is not None
    assert gru.backend_choice.backend == "fused"
    assert "over 20 >= 8 steps faster than PyTorch's" in gru.backend_choice.reason
    gru(torch.randn(3, 2, 3))  # too short for the fused call's set-up cost
    assert gru.backend_choice.backend == "native"
    norm = rnnx.LSTM(3, 4, layer_norm=True)
    norm(torch.randn(3, 2, 3))
    assert norm.backend_choice is not None
    assert norm.backend_choice.backend == "fused"
    assert "layer_norm" in norm.backend_choice.reason


def test_cells_and_traced_calls_report_their_choice() -> None:
    cell = rnnx.GRUCell(3, 4)
    cell(torch.randn(2, 3))
    assert cell.backend_choice is not None
    assert cell.backend_choice.backend == "native"
    norm = rnnx.LSTMCell(3, 4, layer_norm=True)
    norm(torch.randn(2, 3))
    assert norm.backend_choice is not None
    assert norm.backend_choice.backend == "reference"
    assert "a single-step cell has none" in norm.backend_choice.reason
    with pytest.raises(ValueError, match="backend='fused' cannot run this configuration: the fused kernels run whole"):
        rnnx.GRUCell(3, 4, backend="fused")(torch.randn(2, 3))
    gru = rnnx.GRU(3, 4)
    with rnnx.trace(gru):
        gru(torch.randn(9, 2, 3))
    assert gru.backend_choice is not None
    assert (gru.backend_choice.backend, gru.backend_choice.reason) == ("reference", rnnx.backends.TRACED)


@pytest.fixture
def no_kernels(monkeypatch: pytest.MonkeyPatch) -> str:
    """The state of a process whose kernel build failed."""
    reason = "no C++ compiler (looked for 'c++' on PATH; install one, e.g. 'apt-get install g++', or set CXX)"
    monkeypatch.setattr(build.FUSED, "module", None)
    monkeypatch.setattr(build.FUSED, "error", reason)
    monkeypatch.setattr(build.FUSED, "noted", False)
    return reason


def test_explicit_fused_without_kernels_is_an_error_that_says_why(no_kernels: str) -> None:
    gru = rnnx.GRU(3, 4, backend="fused")
    with pytest.raises(
        ValueError, match=r"GRU: backend='fused' cannot run this configuration: the fused kernels could"
    ):
        gru(torch.randn(10, 2, 3))
    with pytest.raises(ValueError, match=r"no C\+\+ compiler"):
        rnnx.LSTM(3, 4, backend="fused", layer_norm=True)(torch.randn(10, 2, 3))


def test_auto_without_kernels_says_so_once_and_runs_the_same_numbers(
    no_kernels: str, caplog: pytest.LogCaptureFixture
) -> None:
    torch.manual_seed(0)
    gru = rnnx.GRU(3, 4)
    x = torch.randn(10, 2, 3)
    with caplog.at_level("WARNING", logger="rnnx"):
        out, h = gru(x)
        rnnx.GRU(3, 4)(x)  # a second module: no second notice
    notices = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(notices) == 1
    assert no_kernels in notices[0]
    assert gru.backend_choice is not None
    assert gru.backend_choice.backend == "native"
    assert "the faster fused kernel cannot" in gru.backend_choice.reason
    reference = rnnx.GRU(3, 4, backend="reference")
    reference.load_state_dict(gru.state_dict())
    torch.testing.assert_close((out, h), reference(x))
    norm = rnnx.LSTM(3, 4, layer_norm=True)
    norm(x)
    assert norm.backend_choice is not None
    assert norm.backend_choice.backend == "reference"
