"""The machinery: stepping a cell by hand equals the layer, packing equals padding per
sequence, and float64 gradcheck on the reference path."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.nn.utils.rnn import pack_sequence

import rnnx
from tests.conftest import KIND_IDS, KINDS

CELL_OF = {rnnx.RNN: rnnx.RNNCell, rnnx.LSTM: rnnx.LSTMCell, rnnx.GRU: rnnx.GRUCell}


@pytest.mark.parametrize(
    "kind", [k for k in KINDS if "proj_size" not in k[3]], ids=[i for i in KIND_IDS if i != "lstm_proj"]
)
def test_cell_stepped_by_hand_equals_layer(kind: tuple[Any, ...]) -> None:
    _, layer_cls, _, extra = kind
    layer = layer_cls(4, 6, 2, **extra, bidirectional=True, backend="reference").double()
    cells = {}
    for suffix in ("l0", "l0_reverse", "l1", "l1_reverse"):
        cell = CELL_OF[layer_cls](4 if suffix.startswith("l0") else 12, 6, **extra, backend="reference").double()
        cell.load_state_dict(
            {k: getattr(layer, f"{k}_{suffix}") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        )
        cells[suffix] = cell
    x = torch.randn(7, 3, 4, dtype=torch.float64)
    lstm = layer_cls is rnnx.LSTM

    def run(cell: torch.nn.Module, seq: list[torch.Tensor]) -> tuple[list[torch.Tensor], Any]:
        state: Any = None
        outs = []
        for x_t in seq:
            state = cell(x_t, state)
            outs.append(state[0] if lstm else state)
        return outs, state

    inputs = list(x.unbind(0))
    finals = []
    for layer_index in ("l0", "l1"):
        fwd, fwd_final = run(cells[layer_index], inputs)
        bwd, bwd_final = run(cells[f"{layer_index}_reverse"], inputs[::-1])
        inputs = [torch.cat([f, b], dim=1) for f, b in zip(fwd, bwd[::-1], strict=True)]
        finals += [fwd_final, bwd_final]
    out, state = layer(x)
    torch.testing.assert_close(out, torch.stack(inputs))
    h_n = state[0] if lstm else state
    torch.testing.assert_close(h_n, torch.stack([f[0] if lstm else f for f in finals]))
    if lstm:
        torch.testing.assert_close(state[1], torch.stack([f[1] for f in finals]))


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_packed_equals_each_sequence_alone(kind: tuple[Any, ...]) -> None:
    """Each sequence of a packed batch gets what it would get on its own."""
    _, layer_cls, _, extra = kind
    layer = layer_cls(3, 5, 2, **extra, bidirectional=True, backend="reference").double()
    seqs = [torch.randn(n, 3, dtype=torch.float64) for n in (4, 7, 1, 7, 2)]
    out, state = layer(pack_sequence(seqs, enforce_sorted=False))
    padded, lengths = torch.nn.utils.rnn.pad_packed_sequence(out)
    h_n = state[0] if isinstance(state, tuple) else state
    for b, seq in enumerate(seqs):
        alone_out, alone_state = layer(seq)
        alone_h = alone_state[0] if isinstance(alone_state, tuple) else alone_state
        torch.testing.assert_close(padded[: lengths[b], b], alone_out)
        torch.testing.assert_close(h_n[:, b], alone_h)


@pytest.mark.parametrize("form", ["batched", "packed"])
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_gradcheck_reference(kind: tuple[Any, ...], form: str) -> None:
    _, layer_cls, _, extra = kind
    layer = layer_cls(3, 4, 2, **extra, bidirectional=True, backend="reference").double()
    params = list(layer.parameters())
    names = [n for n, _ in layer.named_parameters()]
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)

    def fn(x: torch.Tensor, *weights: torch.Tensor) -> tuple[torch.Tensor, ...]:
        replaced = torch.func.functional_call(
            layer,
            dict(zip(names, weights, strict=True)),
            (pack_sequence([x[:4, 0], x[:2, 1]]) if form == "packed" else x,),
        )
        out, state = replaced
        data = out.data if form == "packed" else out
        return (data, *(state if isinstance(state, tuple) else (state,)))

    leaves = [p.detach().clone().requires_grad_() for p in params]
    assert torch.autograd.gradcheck(fn, (x, *leaves))
