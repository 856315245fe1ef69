"""rnnx.gradient_flow against gradients taken by unrolling torch.nn cells by hand."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnx

T, B, I, H = 7, 3, 2, 4
LENGTHS = [5, 7, 3]


def test_rnn_norms_equal_an_unrolled_rnn_cell_with_retained_grads() -> None:
    model = rnnx.RNN(I, H, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    target = torch.randn(B, H, dtype=torch.float64)

    def loss_fn(output: tuple[Tensor, Tensor]) -> Tensor:
        return ((output[0][-1] - target) ** 2).sum()

    flow = rnnx.gradient_flow(model, x, loss_fn)

    cell = nn.RNNCell(I, H, dtype=torch.float64)
    with torch.no_grad():
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, k).copy_(getattr(model, f"{k}_l0"))
    h = torch.zeros(B, H, dtype=torch.float64)
    hs = []
    for t in range(T):
        h = cell(x[t], h)
        h.retain_grad()
        hs.append(h)
    loss = ((h - target) ** 2).sum()
    loss.backward()
    expected = torch.stack([g.grad.norm(dim=1) for g in hs])  # type: ignore[union-attr]
    got = flow.get("")
    torch.testing.assert_close(got.per_sequence, expected, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(got.norms, expected.pow(2).sum(1).sqrt(), rtol=1e-10, atol=1e-14)
    assert flow.loss == pytest.approx(float(loss.detach()))
    assert model.weight_hh_l0.grad is None, "no parameter's .grad changes"


def test_packed_bidirectional_lstm_norms_equal_per_sequence_unrolled_cells() -> None:
    model = rnnx.LSTM(I, H, bidirectional=True, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    weight = torch.randn(T, B, 2 * H, dtype=torch.float64)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)

    def loss_fn(output: tuple[nn.utils.rnn.PackedSequence, object]) -> Tensor:
        padded, _ = nn.utils.rnn.pad_packed_sequence(output[0], total_length=T)
        return (padded * weight).sum()

    flow = rnnx.gradient_flow(model, packed, loss_fn)
    for direction, suffix in enumerate(("_l0", "_l0_reverse")):
        cell = nn.LSTMCell(I, H, dtype=torch.float64)
        with torch.no_grad():
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, k).copy_(getattr(model, f"{k}{suffix}"))
        got = flow.get("", direction=direction)
        assert got.lengths.tolist() == LENGTHS
        for b, length in enumerate(LENGTHS):
            h = torch.zeros(1, H, dtype=torch.float64)
            c = torch.zeros(1, H, dtype=torch.float64)
            hs: dict[int, Tensor] = {}
            loss = torch.zeros((), dtype=torch.float64)
            steps = range(length - 1, -1, -1) if direction else range(length)
            for t in steps:
                h, c = cell(x[t, b : b + 1], (h, c))
                h.retain_grad()
                hs[t] = h
                loss = loss + (h[0] * weight[t, b, direction * H : (direction + 1) * H]).sum()
            loss.backward()
            expected = torch.stack([hs[t].grad[0].norm() for t in range(length)])  # type: ignore[union-attr]
            torch.testing.assert_close(got.per_sequence[:length, b], expected, rtol=1e-10, atol=1e-14)
            assert torch.all(got.per_sequence[length:, b] == 0)


def test_cells_stepped_by_hand_are_measured_per_step() -> None:
    cell = rnnx.GRUCell(I, H, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)

    class Loop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = cell

        def forward(self, x: Tensor) -> Tensor:
            h = None
            for t in range(x.shape[0]):
                h = self.cell(x[t], h)
            assert h is not None
            return h

    flow = rnnx.gradient_flow(Loop(), x, lambda h: h.sum())
    oracle = nn.GRUCell(I, H, dtype=torch.float64)
    oracle.load_state_dict(cell.state_dict())
    h = torch.zeros(B, H, dtype=torch.float64)
    hs = []
    for t in range(T):
        h = oracle(x[t], h)
        h.retain_grad()
        hs.append(h)
    h.sum().backward()
    expected = torch.stack([g.grad.norm(dim=1) for g in hs])  # type: ignore[union-attr]
    torch.testing.assert_close(flow.get("cell").per_sequence, expected, rtol=1e-10, atol=1e-14)


def test_errors_name_what_is_wrong() -> None:
    model = rnnx.GRU(I, H)
    x = torch.randn(T, B, I)
    with pytest.raises(TypeError, match="gradient_flow: loss_fn must be callable; got int"):
        rnnx.gradient_flow(model, x, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="loss_fn must return a tensor; got float"):
        rnnx.gradient_flow(model, x, lambda out: 1.0)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="loss_fn must return a scalar; got shape \\(3, 4\\)"):
        rnnx.gradient_flow(model, x, lambda out: out[0][-1])
    with pytest.raises(ValueError, match="does not depend on the model"):
        rnnx.gradient_flow(model, x, lambda out: torch.zeros(()))
    flow = rnnx.gradient_flow(model, x, lambda out: out[0].sum())
    with pytest.raises(KeyError, match="nothing for name='', layer=1, direction=0, call=-1; measured"):
        flow.get("", layer=1)
