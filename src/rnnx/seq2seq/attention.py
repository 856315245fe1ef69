"""Global attention over the encoder outputs, with padding masked (Luong et al. 2015;
Bahdanau et al. 2015)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnx._checks import check_choice, check_int

KINDS: tuple[str, ...] = ("dot", "general", "additive")


@dataclass
class Memory:
    """The encoder outputs prepared once per source batch for every decoding step.

    Attributes:
        values: ``(N, S, M)`` encoder outputs ``h̄_s``.
        mask: ``(N, S)`` bool, true at real source tokens.
        keys: ``(N, S, K)`` the part of the score that depends only on ``h̄_s`` (``W_a h̄_s``
            for ``general``, ``W_2 h̄_s`` for ``additive``; ``h̄_s`` itself for ``dot``).
    """

    values: Tensor
    mask: Tensor
    keys: Tensor

    def index_select(self, rows: Tensor) -> Memory:
        """The memory of rows ``rows`` (e.g. each source repeated once per beam)."""
        return Memory(
            self.values.index_select(0, rows), self.mask.index_select(0, rows), self.keys.index_select(0, rows)
        )


class Attention(nn.Module):
    r"""Score each source position against the decoder's query, softmax, and average.

    With query :math:`h_t` (``Q`` wide) and encoder outputs :math:`\bar h_s` (``M`` wide):

    - ``"dot"`` (Luong 2015): :math:`score = h_t^\top \bar h_s` (needs ``Q == M``),
    - ``"general"`` (Luong 2015): :math:`score = h_t^\top W_a \bar h_s`,
    - ``"additive"`` (Bahdanau 2015, Luong's *concat*):
      :math:`score = v_a^\top \tanh(W_1 h_t + W_2 \bar h_s)`, ``attention_size`` wide.

    Then :math:`a_t(s) = \mathrm{softmax}_s(score)` with every padded position set to
    :math:`-\infty` before the softmax, so its weight is exactly 0, and the context is
    :math:`c_t = \sum_s a_t(s) \bar h_s`.

    Args:
        kind: ``"dot"``, ``"general"`` or ``"additive"``.
        query_size: ``Q``, the decoder's output width.
        memory_size: ``M``, the encoder's output width.
        attention_size: ``A`` for ``"additive"`` (default ``Q``); must be left ``None`` otherwise.

    Raises:
        ValueError: an unknown ``kind``; ``"dot"`` with ``Q != M``; ``attention_size`` for a
            kind without one.
    """

    def __init__(self, kind: str, query_size: int, memory_size: int, *, attention_size: int | None = None) -> None:
        super().__init__()
        self.kind = check_choice("Attention", "kind", kind, KINDS)
        self.query_size = check_int("Attention", "query_size", query_size, minimum=1)
        self.memory_size = check_int("Attention", "memory_size", memory_size, minimum=1)
        if kind == "dot" and query_size != memory_size:
            raise ValueError(
                f"Attention: 'dot' needs query_size == memory_size; got {query_size} and {memory_size} "
                f"(use 'general' or 'additive' for different sizes)"
            )
        if attention_size is not None and kind != "additive":
            raise ValueError(f"Attention: attention_size is only used by 'additive'; got {attention_size} for {kind!r}")
        self.attention_size = 0
        if kind == "general":
            self.memory_proj = nn.Linear(memory_size, query_size, bias=False)  # W_a
        elif kind == "additive":
            size = (
                query_size
                if attention_size is None
                else check_int("Attention", "attention_size", attention_size, minimum=1)
            )
            self.attention_size = size
            self.query_proj = nn.Linear(query_size, size, bias=False)  # W_1
            self.memory_proj = nn.Linear(memory_size, size, bias=True)  # W_2 (and the bias)
            self.v = nn.Parameter(torch.empty(size).uniform_(-1 / math.sqrt(size), 1 / math.sqrt(size)))

    def extra_repr(self) -> str:
        extra = f", attention_size={self.attention_size}" if self.kind == "additive" else ""
        return f"{self.kind!r}, query_size={self.query_size}, memory_size={self.memory_size}{extra}"

    def prepare(self, values: Tensor, mask: Tensor) -> Memory:
        """Compute the query-independent part of the score once per source batch.

        Args:
            values: ``(N, S, M)`` encoder outputs. mask: ``(N, S)`` bool, true at real tokens.
        """
        keys = values if self.kind == "dot" else self.memory_proj(values)
        return Memory(values, mask, keys)

    def forward(self, query: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        """Attend from every query to the memory.

        Args:
            query: ``(N, T, Q)`` decoder outputs (``T`` target steps at once, or 1).
            memory: from :meth:`prepare`.

        Returns:
            ``(context, weights)``: ``(N, T, M)`` and ``(N, T, S)``; weights sum to 1 over
            the real tokens and are exactly 0 at pads.
        """
        if self.kind == "additive":
            # (N, T, 1, A) + (N, 1, S, A) -> (N, T, S)
            hidden = torch.tanh(self.query_proj(query).unsqueeze(2) + memory.keys.unsqueeze(1))
            scores = hidden @ self.v
        else:
            scores = query @ memory.keys.transpose(1, 2)  # (N, T, S)
        scores = scores.masked_fill(~memory.mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ memory.values, weights
