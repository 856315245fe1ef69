"""The custom-cell guide's example runs as written and equals a hand-written loop."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

import rnnx

DOC = Path(__file__).resolve().parents[2] / "docs" / "custom_cells.md"


def load_example() -> dict[str, Any]:
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)[0]
    assert len(code.strip().splitlines()) < 30, "the example promises fewer than 30 lines"
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


def cifg_by_hand(x: torch.Tensor, p: dict[str, torch.Tensor], reverse: bool = False) -> tuple[torch.Tensor, ...]:
    """f = 1 - i, written out per step."""
    steps, batch = x.shape[:2]
    size = p["weight_hh"].shape[1]
    h = torch.zeros(batch, size, dtype=x.dtype)
    c = torch.zeros(batch, size, dtype=x.dtype)
    outs = [torch.empty(0)] * steps
    for t in reversed(range(steps)) if reverse else range(steps):
        gates = x[t] @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        i = torch.sigmoid(gates[:, :size])
        g = torch.tanh(gates[:, size : 2 * size])
        o = torch.sigmoid(gates[:, 2 * size :])
        c = (1 - i) * c + i * g
        h = o * torch.tanh(c)
        outs[t] = h
    return torch.stack(outs), h, c


def test_example_runs_with_the_shapes_it_states() -> None:
    ns = load_example()
    assert ns["out"].shape == (20, 4, 32)
    assert ns["h_n"].shape == (4, 4, 16)
    assert ns["c_n"].shape == (4, 4, 16)
    assert "weight_hh_l1_reverse" in dict(ns["layer"].named_parameters())
    assert ns["layer"].weight_ih_l0.shape == (48, 8)


def test_cifg_layer_equals_hand_loop_both_directions() -> None:
    ns = load_example()
    layer = rnnx.Recurrent(ns["CIFGStep"](), 3, 5, bidirectional=True).double()
    x = torch.randn(7, 2, 3, dtype=torch.float64)
    out, (h_n, c_n) = layer(x)
    params = [
        {k: getattr(layer, f"{k}_l0{s}") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        for s in ("", "_reverse")
    ]
    fwd = cifg_by_hand(x, params[0])
    bwd = cifg_by_hand(x, params[1], reverse=True)
    torch.testing.assert_close(out, torch.cat([fwd[0], bwd[0]], dim=-1))
    torch.testing.assert_close(h_n, torch.stack([fwd[1], bwd[1]]))
    torch.testing.assert_close(c_n, torch.stack([fwd[2], bwd[2]]))


def test_cifg_packed_equals_each_sequence() -> None:
    ns = load_example()
    layer = rnnx.Recurrent(ns["CIFGStep"](), 3, 5, num_layers=2).double()
    seqs = [torch.randn(n, 3, dtype=torch.float64) for n in (2, 5, 3)]
    out, _ = layer(pack_sequence(seqs, enforce_sorted=False))
    padded, lengths = pad_packed_sequence(out)
    for b, seq in enumerate(seqs):
        torch.testing.assert_close(padded[: lengths[b], b], layer(seq)[0])


def test_cifg_as_a_single_step_module() -> None:
    ns = load_example()
    cell = rnnx.RecurrentCell(ns["CIFGStep"](), 3, 5).double()
    x = torch.randn(4, 1, 3, dtype=torch.float64)
    p = {k: getattr(cell, k) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    _, h, c = cifg_by_hand(x, p)
    state = None
    for x_t in x:
        state = cell(x_t, state)
    torch.testing.assert_close(state[0], h)
    torch.testing.assert_close(state[1], c)


def test_custom_cell_refuses_native_and_projection() -> None:
    ns = load_example()
    with pytest.raises(
        ValueError,
        match=r"RecurrentLayer: backend='native' cannot run this configuration: CIFGStep has no native kernel",
    ):
        rnnx.Recurrent(ns["CIFGStep"](), 3, 5, backend="native")
    with pytest.raises(
        ValueError, match=r"proj_size argument is only supported for LSTM, .*CIFGStep has no projection"
    ):
        rnnx.Recurrent(ns["CIFGStep"](), 3, 5, proj_size=2)
    with pytest.raises(TypeError, match=r"RecurrentLayer: cell must be an rnnx.cells.CellStep; got str"):
        rnnx.Recurrent("lstm", 3, 5)  # type: ignore[arg-type]
