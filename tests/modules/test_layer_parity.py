"""rnnx.RNN/LSTM/GRU against torch.nn: outputs, final states and every gradient, for every
combination of the options a user can pass."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence

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
from tests.recurrence import plain_masks


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


class TorchLayerByLayer(torch.nn.Module):
    """torch.nn's stacked layer run one layer at a time, with the documented keyed dropout
    (tests/recurrence/plain_masks.py) between layers: the oracle for rnnx in training."""

    def __init__(self, stacked: torch.nn.Module) -> None:
        super().__init__()
        self.dropout = stacked.dropout
        config = {k: getattr(stacked, k) for k in ("hidden_size", "bias", "batch_first", "bidirectional")}
        extra = {"proj_size": stacked.proj_size} if isinstance(stacked, torch.nn.LSTM) else {}
        if isinstance(stacked, torch.nn.RNN):
            extra = {"nonlinearity": stacked.nonlinearity}
        width = (stacked.proj_size or stacked.hidden_size) * (2 if stacked.bidirectional else 1)
        self.layers = torch.nn.ModuleList()
        for k in range(stacked.num_layers):
            layer = type(stacked)(stacked.input_size if k == 0 else width, **config, **extra, dtype=torch.float64)
            with torch.no_grad():
                for name, p in layer.named_parameters():
                    p.copy_(getattr(stacked, name.replace("_l0", f"_l{k}")))
            self.layers.append(layer)

    def forward(self, inp: Any) -> tuple[Any, Any]:
        seed = plain_masks.draw_seed()
        finals = []
        for k, layer in enumerate(self.layers):
            inp, state = layer(inp)
            finals.append(state if isinstance(state, tuple) else (state,))
            if k < len(self.layers) - 1:
                inp = self._drop(inp, seed, k)
        stacked = tuple(torch.cat(parts) for parts in zip(*finals, strict=True))
        return inp, stacked if len(stacked) > 1 else stacked[0]

    def _drop(self, out: Any, seed: int, layer: int) -> Any:
        if isinstance(out, PackedSequence):  # packed row r of step t is sample sorted_indices[r]
            rows = [
                int(out.sorted_indices[r]) if out.sorted_indices is not None else r
                for n in out.batch_sizes.tolist()
                for r in range(n)
            ]
            steps = [t for t, n in enumerate(out.batch_sizes.tolist()) for _ in range(n)]
            scale = 65536 / (65536 - round(self.dropout * 65536))
            key = plain_masks.stream_key(seed, plain_masks.DROPOUT, layer)
            keep = torch.tensor(
                [
                    [0.0 if plain_masks.hit(key, s, t, j, self.dropout) else scale for j in range(out.data.shape[1])]
                    for s, t in zip(rows, steps, strict=True)
                ],
                dtype=out.data.dtype,
            )
            return PackedSequence(out.data * keep, out.batch_sizes, out.sorted_indices, out.unsorted_indices)
        x = out.transpose(0, 1) if self.layers[0].batch_first else out
        x = x * plain_masks.dropout_multiplier(
            seed, self.dropout, layer, x.shape[0], list(range(x.shape[1])), x.shape[2]
        )
        return x.transpose(0, 1) if self.layers[0].batch_first else x


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("form", ["batched", "packed"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_training_dropout_matches_torch_layer_by_layer(
    kind: tuple[Any, ...], bidirectional: bool, form: str, backend: str
) -> None:
    """Between-layer dropout draws the documented keyed masks (the same on every backend, not
    torch.nn's): rnnx equals torch.nn's layers run one by one with those masks between them."""
    config = {
        "input_size": 4,
        "hidden_size": 5,
        "num_layers": 3,
        "dropout": 0.4,
        "bidirectional": bidirectional,
    }
    stacked, ours = pair(kind, backend=backend, **config)
    stacked.double()
    oracle = TorchLayerByLayer(stacked).train()
    ours.double().train()
    inp, leaf = make_input(form, batch_first=False, dtype=torch.float64)
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
