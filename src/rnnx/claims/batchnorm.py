"""A batch-normalised LSTM (Cooijmans, Ballas, Laurent, Gülçehre & Courville, "Recurrent Batch
Normalization", ICLR 2017; Laurent et al., "Batch Normalized Recurrent Neural Networks",
ICASSP 2016), the model claim 4 compares with layer normalisation.

.. math::

    (i, f, g, o) &= \\mathrm{BN}_t(W_h h_{t-1}; \\gamma_h) + \\mathrm{BN}_t(W_x x_t; \\gamma_x) + b \\\\
    c_t &= \\sigma(f) \\odot c_{t-1} + \\sigma(i) \\odot \\tanh(g) \\\\
    h_t &= \\sigma(o) \\odot \\tanh(\\mathrm{BN}_t(c_t; \\gamma_c, \\beta_c))

``BN_t`` normalises each feature over the batch with statistics kept **per time step** (the
running averages used in evaluation are per step; steps past the longest seen in training use
the last one), while the gains are shared across time and start at 0.1, as Cooijmans et al.
recommend. Shapes: ``x (B, T, I)`` batch first, ``h, c (B, H)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class StepBatchNorm(nn.Module):
    """Batch normalisation over ``(B, F)`` with running statistics per time step ``t``.

    Args:
        features: ``F``.
        max_steps: steps that get their own running statistics.
        gain: initial ``gamma``; ``shift``: whether there is a learnt ``beta``.
    """

    def __init__(self, features: int, max_steps: int, *, gain: float = 0.1, shift: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((features,), gain))
        self.bias = nn.Parameter(torch.zeros(features)) if shift else None
        self.momentum, self.eps = 0.1, 1e-5
        self.register_buffer("running_mean", torch.zeros(max_steps, features))
        self.register_buffer("running_var", torch.ones(max_steps, features))
        self.running_mean: Tensor
        self.running_var: Tensor

    def forward(self, x: Tensor, t: int) -> Tensor:
        t = min(t, self.running_mean.shape[0] - 1)
        if self.training:
            mean = x.mean(0)
            var = x.var(0, unbiased=False)
            with torch.no_grad():
                unbiased = var * x.shape[0] / max(x.shape[0] - 1, 1)
                self.running_mean[t].lerp_(mean, self.momentum)
                self.running_var[t].lerp_(unbiased, self.momentum)
        else:
            mean, var = self.running_mean[t], self.running_var[t]
        y = (x - mean) * torch.rsqrt(var + self.eps) * self.weight
        return y if self.bias is None else y + self.bias


class BatchNormLSTM(nn.Module):
    """One batch-normalised LSTM layer, batch first: ``forward(x (B, T, I)) -> (out (B, T, H), None)``.

    Args:
        input_size, hidden_size: ``I`` and ``H``.
        max_steps: the longest sequence with its own statistics.
    """

    batch_first = True

    def __init__(self, input_size: int, hidden_size: int, max_steps: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.input = nn.Linear(input_size, 4 * hidden_size, bias=False)
        self.recurrent = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        nn.init.orthogonal_(self.recurrent.weight)
        self.bn_x = StepBatchNorm(4 * hidden_size, max_steps)
        self.bn_h = StepBatchNorm(4 * hidden_size, max_steps)
        self.bn_c = StepBatchNorm(hidden_size, max_steps, shift=True)

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        batch, steps, _ = x.shape
        wx = self.input(x)  # (B, T, 4H), one product for all steps
        h = x.new_zeros(batch, self.hidden_size)
        c = x.new_zeros(batch, self.hidden_size)
        outputs = []
        for t in range(steps):
            gates = self.bn_h(self.recurrent(h), t) + self.bn_x(wx[:, t], t) + self.bias
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(self.bn_c(c, t))
            outputs.append(h)
        return torch.stack(outputs, dim=1), None
