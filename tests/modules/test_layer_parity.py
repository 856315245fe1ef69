"""rnnx.RNN/LSTM/GRU against torch.nn: outputs, final states and every gradient, for every
combination of the options a user can pass."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.conftest import (
    KIND_IDS,
    KINDS,
    B,
    assert_close_all,
    flat,
    make_input,
    make_state,
    pair,
    scalar_loss,
)


def run_and_grad(
    module: torch.nn.Module, inp: Any, hx: Any, leaves: list[torch.Tensor]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    out = flat(module(inp(), hx) if hx is not None else module(inp()))
    params = list(module.parameters())
    grads = torch.autograd.grad(scalar_loss(out), [*leaves, *params], allow_unused=False)
    return [o.detach() for o in out], list(grads)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("h0_given", [False, True], ids=["zeros", "h0"])
@pytest.mark.parametrize("form", ["batched", "unbatched", "packed"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3], ids=["L1", "L2", "L3"])
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_matches_torch(
    kind: tuple[Any, ...],
    num_layers: int,
    bidirectional: bool,
    batch_first: bool,
    bias: bool,
    form: str,
    h0_given: bool,
    backend: str,
    dtype: torch.dtype,
) -> None:
    config = {
        "input_size": 4,
        "hidden_size": 5,
        "num_layers": num_layers,
        "bias": bias,
        "batch_first": batch_first,
        "bidirectional": bidirectional,
    }
    oracle, ours = pair(kind, backend=backend, **config)
    oracle.to(dtype)
    ours.to(dtype)
    inp, leaf = make_input(form, batch_first=batch_first, dtype=dtype)
    hx = make_state(kind, num_layers, bidirectional, None if form == "unbatched" else B, dtype) if h0_given else None
    leaves = [leaf, *(flat(hx) if hx is not None else [])]

    out_ref, grads_ref = run_and_grad(oracle, inp, hx, leaves)
    out, grads = run_and_grad(ours, inp, hx, leaves)

    assert_close_all(out, out_ref, dtype, "outputs and final states")
    assert_close_all(grads, grads_ref, dtype, "gradients (input, hx, parameters)")


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("form", ["batched", "packed"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_training_dropout_matches_torch(kind: tuple[Any, ...], bidirectional: bool, form: str, backend: str) -> None:
    """Between-layer dropout draws the same mask as torch.nn for the same seed."""
    config = {
        "input_size": 4,
        "hidden_size": 5,
        "num_layers": 3,
        "dropout": 0.4,
        "bidirectional": bidirectional,
    }
    oracle, ours = pair(kind, backend=backend, **config)
    oracle.train()
    ours.train()
    inp, leaf = make_input(form, batch_first=False, dtype=torch.float64)
    oracle.double()
    ours.double()
    torch.manual_seed(7)
    out_ref, grads_ref = run_and_grad(oracle, inp, None, [leaf])
    torch.manual_seed(7)
    out, grads = run_and_grad(ours, inp, None, [leaf])
    assert_close_all(out, out_ref, torch.float64, "outputs")
    assert_close_all(grads, grads_ref, torch.float64, "gradients")


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_dropout_inactive_in_eval(kind: tuple[Any, ...]) -> None:
    _, ours = pair(kind, backend="reference", input_size=4, hidden_size=5, num_layers=2, dropout=0.9)
    ours.eval()
    x = torch.randn(5, 3, 4)
    first = flat(ours(x))
    second = flat(ours(x))
    assert_close_all(first, second, torch.float32, "eval outputs")


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_empty_batch(kind: tuple[Any, ...], backend: str) -> None:
    """A batch of zero sequences gives empty outputs, as in torch.nn."""
    oracle, ours = pair(kind, backend=backend, input_size=4, hidden_size=5, num_layers=2, bidirectional=True)
    x = torch.randn(5, 0, 4)
    assert [t.shape for t in flat(ours(x))] == [t.shape for t in flat(oracle(x))]
