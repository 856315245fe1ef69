"""rnnx.RNNCell/LSTMCell/GRUCell against torch.nn: outputs and every gradient."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import rnnx
from tests.conftest import assert_close_all, scalar_loss

CELL_KINDS: list[tuple[str, type[nn.Module], type[nn.Module], dict[str, Any]]] = [
    ("rnn_tanh", rnnx.RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
    ("rnn_relu", rnnx.RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    ("gru", rnnx.GRUCell, nn.GRUCell, {}),
    ("lstm", rnnx.LSTMCell, nn.LSTMCell, {}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("hx_given", [False, True], ids=["zeros", "hx"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("kind", CELL_KINDS, ids=[k[0] for k in CELL_KINDS])
def test_cell_matches_torch(
    kind: tuple[Any, ...], bias: bool, batched: bool, hx_given: bool, backend: str, dtype: torch.dtype
) -> None:
    _, ours_cls, torch_cls, extra = kind
    oracle = torch_cls(4, 6, bias=bias, **extra).to(dtype)
    ours = ours_cls.from_torch(oracle, backend=backend)
    lead = (3,) if batched else ()
    x = torch.randn(*lead, 4, dtype=dtype, requires_grad=True)
    leaves = [x]
    hx: Any = None
    if hx_given:
        tensors = [
            torch.randn(*lead, 6, dtype=dtype, requires_grad=True) for _ in range(2 if ours_cls is rnnx.LSTMCell else 1)
        ]
        hx = tuple(tensors) if ours_cls is rnnx.LSTMCell else tensors[0]
        leaves += tensors

    def run(module: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        out = module(x, hx)
        outs = list(out) if isinstance(out, tuple) else [out]
        grads = torch.autograd.grad(scalar_loss(outs), [*leaves, *module.parameters()])
        return [o.detach() for o in outs], list(grads)

    out_ref, grads_ref = run(oracle)
    out, grads = run(ours)
    assert_close_all(out, out_ref, dtype, "cell outputs")
    assert_close_all(grads, grads_ref, dtype, "cell gradients")
