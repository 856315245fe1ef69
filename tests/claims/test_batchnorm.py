"""The batch-normalised LSTM of claim 4 against torch's batch norm and the equations by hand."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnx.claims.batchnorm import BatchNormLSTM, StepBatchNorm


def test_step_batch_norm_keeps_statistics_per_step_like_batchnorm1d() -> None:
    norm = StepBatchNorm(3, max_steps=2, gain=0.5, shift=True)
    oracles = [torch.nn.BatchNorm1d(3, momentum=0.1) for _ in range(2)]
    for oracle in oracles:
        with torch.no_grad():
            oracle.weight.fill_(0.5)
            oracle.bias.zero_()
    for _ in range(3):
        for t in range(2):
            x = torch.randn(5, 3) * (t + 1) + t
            torch.testing.assert_close(norm(x, t), oracles[t](x))
    for t in range(2):
        torch.testing.assert_close(norm.running_mean[t], oracles[t].running_mean)
        torch.testing.assert_close(norm.running_var[t], oracles[t].running_var)
    norm.eval()
    for oracle in oracles:
        oracle.eval()
    x = torch.randn(4, 3)
    torch.testing.assert_close(norm(x, 1), oracles[1](x))
    torch.testing.assert_close(norm(x, 7), oracles[1](x))  # steps past the last reuse its statistics


def test_batch_norm_lstm_equals_the_equations_by_hand() -> None:
    torch.manual_seed(0)
    model = BatchNormLSTM(2, 3, max_steps=4)
    x = torch.randn(5, 4, 2)  # (B, T, I)
    out, _ = model(x)

    def bn(v: torch.Tensor, gain: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        return F.batch_norm(v, None, None, gain, shift, training=True, eps=1e-5)

    h = torch.zeros(5, 3)
    c = torch.zeros(5, 3)
    for t in range(4):
        gates = (
            bn(h @ model.recurrent.weight.T, model.bn_h.weight)
            + bn(x[:, t] @ model.input.weight.T, model.bn_x.weight)
            + model.bias
        )
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(bn(c, model.bn_c.weight, model.bn_c.bias))
        torch.testing.assert_close(out[:, t], h)
    assert torch.allclose(model.bn_x.weight, torch.full((12,), 0.1)), "gains start at 0.1 (Cooijmans et al.)"
