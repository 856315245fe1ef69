"""The Transformer encoder: the parallel alternative to a recurrent layer.

A recurrent layer reads ``T`` steps one after another; self-attention relates all ``T`` positions at
once, so a whole sequence is a few large matrix products (Vaswani et al. 2017). Each block is
pre-norm (Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture"), which trains
without learning-rate warm-up::

    x = x + Dropout(MultiHeadSelfAttention(LayerNorm_1(x), mask))
    x = x + Dropout(W_2 Dropout(act(W_1 LayerNorm_2(x) + b_1)) + b_2)

and the stack ends with a final LayerNorm. Parameter names follow ``torch.nn.TransformerEncoderLayer``
(``self_attn``, ``linear1``, ``linear2``, ``norm1``, ``norm2``), so its weights copy across.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnx._checks import check_bool, check_choice, check_int, check_matches, check_probability, check_tensor
from rnnx.modules.attention import MultiHeadSelfAttention, attention_mask
from rnnx.modules.positions import LearnedPositions, SinusoidalPositions

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


class TransformerBlock(nn.Module):
    """One pre-norm encoder block. Shapes: ``forward(x (B, T, E), mask) -> (B, T, E)``."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dim_feedforward: int,
        *,
        dropout: float = 0.0,
        activation: str = "gelu",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadSelfAttention(d_model, num_heads, dropout=dropout, device=device, dtype=dtype)
        self.linear1 = nn.Linear(d_model, dim_feedforward, device=device, dtype=dtype)
        self.linear2 = nn.Linear(dim_feedforward, d_model, device=device, dtype=dtype)
        self.norm1 = nn.LayerNorm(d_model, device=device, dtype=dtype)
        self.norm2 = nn.LayerNorm(d_model, device=device, dtype=dtype)
        self.dropout = nn.Dropout(dropout)
        self.activation = activation

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x + self.dropout(self.self_attn(self.norm1(x), mask))
        hidden = self.dropout(ACTIVATIONS[self.activation](self.linear1(self.norm2(x))))
        out: Tensor = x + self.dropout(self.linear2(hidden))
        return out


class TransformerEncoder(nn.Module):
    """A stack of pre-norm self-attention blocks over a sequence of feature vectors.

    Arguments:
        input_size: features ``I`` of each input step; projected to ``d_model`` by ``input_proj``.
        d_model: width ``E`` of every block and of the output.
        num_layers: number of blocks.
        num_heads: attention heads per block (must divide ``d_model``).
        dim_feedforward: hidden width of each block's feed-forward part (default ``4 * d_model``).
        dropout: on attention weights, the feed-forward hidden layer and each residual branch.
        causal: position ``t`` attends only to positions ``<= t`` (a left-to-right model, as for
            forecasting or language modelling); otherwise every position sees the whole sequence.
        positions: ``"sinusoidal"`` (fixed) or ``"learned"`` (see :mod:`rnnx.modules.positions`).
        max_len: longest sequence accepted.
        activation: ``"gelu"`` or ``"relu"`` in the feed-forward part.
        batch_first: inputs and outputs are ``(B, T, ...)`` instead of ``(T, B, ...)``.

    Shapes:
        ``forward(x, *, lengths=None)`` takes ``x`` of shape ``(T, B, I)`` (``(B, T, I)`` with
        ``batch_first``, or unbatched ``(T, I)``) and ``lengths`` ``(B,)`` of valid steps per
        sequence (keys past a sequence's length are never attended). It returns ``(T, B, E)`` in the
        input's layout; outputs at padded steps are zero.

    Raises:
        ValueError/TypeError: bad options; an input whose rank or features do not fit; lengths of the
            wrong shape, dtype or outside ``[1, T]``; more than ``max_len`` steps.
    """

    def __init__(
        self,
        input_size: int,
        d_model: int,
        num_layers: int = 2,
        *,
        num_heads: int = 4,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
        causal: bool = False,
        positions: str = "sinusoidal",
        max_len: int = 4096,
        activation: str = "gelu",
        batch_first: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.input_size = check_int(owner, "input_size", input_size, minimum=1)
        self.d_model = check_int(owner, "d_model", d_model, minimum=1)
        self.num_layers = check_int(owner, "num_layers", num_layers, minimum=1)
        self.num_heads = check_int(owner, "num_heads", num_heads, minimum=1)
        if d_model % num_heads:
            raise ValueError(f"{owner}: num_heads must divide d_model; got d_model={d_model}, num_heads={num_heads}")
        feedforward = 4 * d_model if dim_feedforward is None else dim_feedforward
        self.dim_feedforward = check_int(owner, "dim_feedforward", feedforward, minimum=1)
        self.dropout = check_probability(owner, "dropout", dropout, allow_one=False)
        self.causal = check_bool(owner, "causal", causal)
        self.positions_kind = check_choice(owner, "positions", positions, ("sinusoidal", "learned"))
        self.max_len = check_int(owner, "max_len", max_len, minimum=1)
        self.activation = check_choice(owner, "activation", activation, tuple(ACTIVATIONS))
        self.batch_first = check_bool(owner, "batch_first", batch_first)
        self.input_proj = nn.Linear(input_size, d_model, device=device, dtype=dtype)
        position_type = SinusoidalPositions if positions == "sinusoidal" else LearnedPositions
        self.positions = position_type(d_model, max_len=max_len, device=device, dtype=dtype)
        self.input_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            TransformerBlock(
                d_model,
                num_heads,
                self.dim_feedforward,
                dropout=dropout,
                activation=activation,
                device=device,
                dtype=dtype,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model, device=device, dtype=dtype)

    def forward(self, x: Tensor, *, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        owner = type(self).__name__
        check_tensor(owner, "input", x)
        weight = self.input_proj.weight
        check_matches(owner, "input", x, dtype=weight.dtype, device=weight.device, what="the parameters")
        if x.dim() not in (2, 3):
            raise ValueError(f"{owner}: input must be 2-D (T, I) or 3-D; got {x.dim()}-D of shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{owner}: input must have {self.input_size} features; got shape {tuple(x.shape)}")
        unbatched = x.dim() == 2
        batch_major = x.unsqueeze(0) if unbatched else (x if self.batch_first else x.transpose(0, 1))  # (B, T, I)
        batch, steps, _ = batch_major.shape
        if steps == 0:
            raise ValueError(f"{owner}: input has no time steps (shape {tuple(x.shape)})")
        valid = self._check_lengths(lengths, batch, steps, x.device)
        if batch == 0:  # nothing to attend over; the layout of an empty batch
            empty = batch_major.new_zeros(0, steps, self.d_model)
            return empty if self.batch_first else empty.transpose(0, 1)
        mask = attention_mask(valid, steps, causal=self.causal, device=x.device)

        h = self.input_dropout(self.positions(self.input_proj(batch_major)))  # (B, T, E)
        for block in self.layers:
            h = block(h, mask)
        h = self.norm(h)
        if valid is not None:
            h = h * (torch.arange(steps, device=x.device)[None, :] < valid[:, None]).unsqueeze(-1).to(h.dtype)
        out: Tensor = h.squeeze(0) if unbatched else (h if self.batch_first else h.transpose(0, 1))
        return out

    def _check_lengths(
        self, lengths: Tensor | Sequence[int] | None, batch: int, steps: int, device: torch.device
    ) -> Tensor | None:
        if lengths is None:
            return None
        owner = type(self).__name__
        valid = torch.as_tensor(lengths)
        if valid.dtype.is_floating_point or valid.dtype.is_complex or valid.dtype == torch.bool:
            raise TypeError(f"{owner}: lengths must hold integers; got dtype {valid.dtype}")
        if valid.shape != (batch,):
            raise ValueError(f"{owner}: lengths must have shape ({batch},), one per sequence; got {tuple(valid.shape)}")
        if batch and (int(valid.min()) < 1 or int(valid.max()) > steps):
            raise ValueError(f"{owner}: lengths must be in [1, {steps}] (the input's steps); got {valid.tolist()}")
        return valid.to(device)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.d_model}, num_layers={self.num_layers}, num_heads={self.num_heads}, "
            f"causal={self.causal}, positions={self.positions_kind!r}"
        )
