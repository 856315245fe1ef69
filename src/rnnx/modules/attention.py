"""Multi-head self-attention (Vaswani et al. 2017, "Attention Is All You Need", s3.2).

For queries, keys and values ``Q = X W_q``, ``K = X W_k``, ``V = X W_v`` split into ``h`` heads of
size ``d_k = d_model / h``::

    head_j = softmax(Q_j K_j^T / sqrt(d_k) + M) V_j
    out    = concat(head_1, ..., head_h) W_o

``M`` is ``-inf`` where a key may not be attended (padding, or the future when causal) and 0
elsewhere. The product runs in ``torch.nn.functional.scaled_dot_product_attention``, which picks a
fused kernel (flash or memory-efficient attention) where the device has one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnx._checks import check_int, check_probability


def attention_mask(lengths: Tensor | None, steps: int, *, causal: bool, device: torch.device) -> Tensor | None:
    """Boolean mask ``(B, 1, T, T)`` (or ``(T, T)`` without lengths), True where a query may attend.

    Arguments:
        lengths: ``(B,)`` number of valid steps per sequence, or None for all ``steps`` valid.
        steps: ``T``.
        causal: also forbid keys after the query.

    Returns:
        None when nothing is masked.
    """
    if lengths is None and not causal:
        return None
    positions = torch.arange(steps, device=device)
    mask: Tensor | None = None
    if causal:
        mask = positions[None, :] <= positions[:, None]  # (T_query, T_key)
    if lengths is not None:
        keys = positions[None, :] < lengths.to(device)[:, None]  # (B, T_key)
        keys = keys[:, None, None, :]  # (B, 1, 1, T_key)
        mask = keys if mask is None else keys & mask
    return mask


class MultiHeadSelfAttention(nn.Module):
    """Self-attention over ``h`` heads.

    Arguments:
        d_model: feature size ``E`` of the input and output.
        num_heads: ``h``; must divide ``d_model``.
        dropout: dropout on the attention weights in training.
        bias: add biases to the projections.

    Parameters are named as in ``torch.nn.MultiheadAttention`` (``in_proj_weight`` ``(3E, E)`` holding
    ``W_q; W_k; W_v``, ``in_proj_bias``, ``out_proj``), so weights copy across.

    Shapes: ``forward(x (B, T, E), mask) -> (B, T, E)``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        *,
        dropout: float = 0.0,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.d_model = check_int(owner, "d_model", d_model, minimum=1)
        self.num_heads = check_int(owner, "num_heads", num_heads, minimum=1)
        if d_model % num_heads:
            raise ValueError(f"{owner}: num_heads must divide d_model; got d_model={d_model}, num_heads={num_heads}")
        self.dropout = check_probability(owner, "dropout", dropout, allow_one=False)
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model, device=device, dtype=dtype))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model, device=device, dtype=dtype)) if bias else None
        self.out_proj = nn.Linear(d_model, d_model, bias=bias, device=device, dtype=dtype)
        # torch.nn.MultiheadAttention's initialisation: Xavier-uniform projections, zero biases.
        nn.init.xavier_uniform_(self.in_proj_weight)
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        batch, steps, _ = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        # (B, T, E) -> (B, h, T, d_k)
        q, k, v = (t.view(batch, steps, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))
        heads = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )  # (B, h, T, d_k)
        out: Tensor = self.out_proj(heads.transpose(1, 2).reshape(batch, steps, self.d_model))
        return out

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, dropout={self.dropout}"
