"""Dropout whose masks follow the sample, not its row: the same masks under data parallelism."""

from __future__ import annotations

from torch import Tensor, nn

from rnnx._checks import check_probability
from rnnx.recurrence.regularize import sample_dropout


class SampleDropout(nn.Module):
    """Inverted dropout, like :class:`torch.nn.Dropout`, with masks keyed by the global sample
    index (see :mod:`rnnx.recurrence.regularize`): a sample draws the same mask whichever row,
    batch or data-parallel shard it sits in, given :func:`rnnx.sample_offset`.

    ``forward(x (B, *)) -> (B, *)``: ``x`` is batch first; for ``(B, T, *)`` the mask is drawn per
    sample, step and unit. One seed is drawn from torch's generator per training call.

    Args:
        p: probability of zeroing an element (acts as ``round(p * 2^16) / 2^16``).

    Raises:
        TypeError, ValueError: ``p`` is not a probability.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_probability("SampleDropout", "p", p)

    def forward(self, x: Tensor) -> Tensor:
        return sample_dropout(x, self.p, training=self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
