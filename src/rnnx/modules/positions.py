"""Position information for attention, which by itself ignores order.

- Sinusoidal (Vaswani et al. 2017, s3.5): ``P[t, 2i] = sin(t / 10000^(2i/E))``,
  ``P[t, 2i+1] = cos(t / 10000^(2i/E))``; fixed, defined for any ``t``.
- Learned (Gehring et al. 2017; Devlin et al. 2019): one trained vector per position up to ``max_len``.

Both add ``P[:T]`` to an input ``(B, T, E)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnx._checks import check_int


def sinusoids(steps: int, d_model: int, *, dtype: torch.dtype | None = None) -> Tensor:
    """The table ``P`` of shape ``(steps, d_model)`` (an odd ``d_model`` drops the last cosine)."""
    position = torch.arange(steps, dtype=torch.float64)[:, None]
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    table = torch.zeros(steps, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : d_model // 2]
    return table.to(dtype or torch.get_default_dtype())


class SinusoidalPositions(nn.Module):
    """Add fixed sinusoids; a buffer, so it moves with the module and is not trained or saved."""

    def __init__(
        self,
        d_model: int,
        *,
        max_len: int = 4096,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.max_len = check_int(type(self).__name__, "max_len", max_len, minimum=1)
        self.table: Tensor
        self.register_buffer("table", sinusoids(max_len, d_model, dtype=dtype).to(device), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        steps = _check_steps(self, x, self.max_len)
        return x + self.table[:steps].to(x.dtype)


class LearnedPositions(nn.Module):
    """Add a trained embedding of each position ``0 .. max_len-1`` (initialised N(0, 0.02))."""

    def __init__(
        self,
        d_model: int,
        *,
        max_len: int = 4096,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.max_len = check_int(type(self).__name__, "max_len", max_len, minimum=1)
        self.weight = nn.Parameter(torch.empty(max_len, d_model, device=device, dtype=dtype))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.weight[: _check_steps(self, x, self.max_len)]


def _check_steps(module: nn.Module, x: Tensor, max_len: int) -> int:
    steps = x.shape[-2]
    if steps > max_len:
        raise ValueError(
            f"{type(module).__name__}: the input has {steps} steps but max_len is {max_len} (build with a larger one)"
        )
    return steps
