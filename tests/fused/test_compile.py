"""The fused scan under torch.compile: the custom operators pass PyTorch's own checks, and a
compiled model keeps the fused call inside one graph and equals eager mode."""

from __future__ import annotations

import pytest
import torch

import rnnx
from rnnx.fused.op import FusedScan, fused_scan_op
from tests.conftest import scalar_loss

pytestmark = pytest.mark.skipif(rnnx.fused.unavailable_reason() is not None, reason="no C++ compiler")


def _arguments(kind: int, *, save: bool) -> tuple[object, ...]:
    """Arguments of rnnx::fused_scan for a small layer: LSTM with layer norm, peepholes and a
    projection (kind 0), or a GRU (kind 1)."""
    g = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=save)

    sizes = [3, 3, 2, 1]
    n, b, h = sum(sizes), sizes[0], 4
    if kind == 0:
        p = 2
        return (
            randn(n, 4 * h), randn(b, p), randn(b, h), randn(4 * h, p), None,
            randn(4 * h), randn(4 * h), randn(h), randn(h), randn(3, h), None, randn(p, h),
            0, False, True, True, save, sizes, [0, -1, 0, -1], 0.0, 0.0,
        )  # fmt: skip
    return (
        randn(n, 3 * h), randn(b, h), None, randn(3 * h, h), randn(3 * h),
        None, None, None, None, None, None, None,
        1, True, False, False, save, sizes, [12345, 20000, 0, -1, 0, 1, 2], 0.0, 0.0,  # draws: keys, then samples
    )  # fmt: skip


@pytest.mark.parametrize("kind", [0, 1], ids=["lstm_ln_peephole_proj", "gru_zoneout_reverse"])
def test_custom_op_passes_opcheck(kind: int) -> None:
    torch.library.opcheck(fused_scan_op, _arguments(kind, save=True))
    torch.library.opcheck(fused_scan_op, _arguments(kind, save=False))


@pytest.mark.parametrize("kind", [0, 1], ids=["lstm_ln_peephole_proj", "gru_zoneout_reverse"])
def test_eager_function_equals_custom_op(kind: int) -> None:
    """Eager mode runs FusedScan, compiled graphs the custom op: same outputs and gradients."""
    args = _arguments(kind, save=True)
    leaves = [a for a in args if isinstance(a, torch.Tensor)]
    results = []
    for run in (lambda: FusedScan.apply(*args), lambda: fused_scan_op(*args)):
        out, h, c, *_ = run()
        loss = scalar_loss([out, h] + ([c] if kind == 0 else []))
        results.append([out, h, *torch.autograd.grad(loss, leaves)])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# torch.compile's own import of TorchScript helpers warns; rnnx uses no TorchScript.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_model_is_one_graph_and_equals_eager() -> None:
    torch.manual_seed(0)
    model = rnnx.LSTM(8, 16, 2, layer_norm=True, peephole=True, proj_size=5, bidirectional=True).double()
    x = torch.randn(7, 3, 8, dtype=torch.float64, requires_grad=True)

    def loss(m: torch.nn.Module) -> torch.Tensor:
        out, (h, c) = m(x)
        return scalar_loss([out, h, c])

    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)  # fails on any graph break
    expected = torch.autograd.grad(loss(model), [x, *model.parameters()])
    got = torch.autograd.grad(loss(compiled), [x, *model.parameters()])
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_compiled_inference_on_one_sequence_is_one_graph() -> None:
    """Eager inference on one sequence takes the step kernel, which no custom op wraps: compiled,
    the layer keeps the fused kernel's op and stays one graph."""
    torch.manual_seed(0)
    layer = rnnx.GRU(3, 4).eval()
    x = torch.randn(9, 1, 3)
    with torch.no_grad():
        eager, _ = layer(x)
        assert layer.backend_choice is not None
        assert layer.backend_choice.backend == "step"
        compiled, _ = torch.compile(layer, fullgraph=True, backend="eager")(x)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)
