"""Attention against the papers' formulas written as plain loops; pads get weight exactly 0."""

from __future__ import annotations

import pytest
import torch

from rnnx.seq2seq import Attention

N, T, S, Q, M = 2, 3, 5, 4, 6
LENGTHS = [5, 2]


def plain_scores(attention: Attention, query: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """score(h_t, h̄_s) one pair at a time (Luong et al. 2015 eq. 8; Bahdanau et al. 2015)."""
    scores = torch.empty(N, T, S)
    for n in range(N):
        for t in range(T):
            for s in range(S):
                h, hbar = query[n, t], values[n, s]
                if attention.kind == "dot":
                    scores[n, t, s] = h @ hbar
                elif attention.kind == "general":
                    scores[n, t, s] = h @ (attention.memory_proj.weight @ hbar)
                else:
                    inner = (
                        attention.query_proj.weight @ h
                        + attention.memory_proj.weight @ hbar
                        + attention.memory_proj.bias
                    )
                    scores[n, t, s] = attention.v @ torch.tanh(inner)
    return scores


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_matches_plain_formulas_and_masks_padding(kind: str) -> None:
    torch.manual_seed(0)
    memory_size = Q if kind == "dot" else M
    attention = Attention(kind, Q, memory_size)
    query = torch.randn(N, T, Q)
    values = torch.randn(N, S, memory_size)
    mask = torch.arange(S)[None, :] < torch.tensor(LENGTHS)[:, None]
    context, weights = attention(query, attention.prepare(values, mask))

    scores = plain_scores(attention, query, values)
    expected = torch.zeros(N, T, S)
    for n, length in enumerate(LENGTHS):
        expected[n, :, :length] = torch.softmax(scores[n, :, :length], dim=-1)  # only real tokens compete
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(context, expected @ values)
    assert torch.all(weights[1, :, 2:] == 0)  # exactly zero, not merely small

    # Whatever sits at the padded positions cannot reach the context.
    garbage = values.clone()
    garbage[1, 2:] = 1e6
    context2, weights2 = attention(query, attention.prepare(garbage, mask))
    torch.testing.assert_close(context2, context)
    torch.testing.assert_close(weights2, weights)


def test_additive_size_and_repr() -> None:
    attention = Attention("additive", Q, M, attention_size=3)
    assert attention.v.shape == (3,)
    assert "attention_size=3" in repr(attention)


@pytest.mark.parametrize(
    ("args", "kwargs", "pattern"),
    [
        (("luong", Q, M), {}, r"Attention: kind must be one of \('dot', 'general', 'additive'\); got 'luong'"),
        (("dot", Q, M), {}, r"Attention: 'dot' needs query_size == memory_size; got 4 and 6"),
        (
            ("general", Q, M),
            {"attention_size": 3},
            r"Attention: attention_size is only used by 'additive'; got 3 for 'general'",
        ),
    ],
)
def test_bad_arguments(args: tuple[object, ...], kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        Attention(*args, **kwargs)  # type: ignore[arg-type]
