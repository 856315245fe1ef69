"""Decoding strategies: greedy and beam search, batched, over any step function.

Both strategies talk to the model through a :class:`Stepper`, so they can be tested on a
hand-built distribution and run unchanged on :class:`~rnnx.seq2seq.Seq2Seq`.

Hypothesis scores use the GNMT length penalty (Wu et al. 2016):
:math:`s(Y) = \\log P(Y \\mid X) / lp(Y)`, :math:`lp(Y) = ((5 + |Y|) / 6)^\\alpha`, where
``|Y|`` counts the generated tokens including ``<eos>``. ``alpha = 0`` ranks by log-probability;
larger ``alpha`` favours longer outputs. Generation never emits ``<pad>`` or ``<sos>``, and
``<eos>`` only after ``min_len`` other tokens (fairseq's convention).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from rnnx._checks import check_int


class Stepper(Protocol):
    """What a search needs from a model: the next-token log-probabilities of each row, and a
    way to keep, reorder or repeat rows."""

    def step(self, tokens: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(N,)`` previous tokens -> ``(N, V)`` log-probabilities and ``(N, S)`` attention
        weights (or ``None``), advancing each row's state by one token."""
        ...

    def select(self, rows: Tensor) -> None:
        """Keep rows ``rows`` (``(N',)`` int64 indices into the current rows) of the state."""
        ...


@dataclass
class Generation:
    """The output of a search, best hypothesis first.

    Attributes:
        tokens: ``(B, n_best, T)`` int64 generated ids (``<sos>`` excluded, ``<eos>`` included
            where generated, ``<pad>`` after it).
        lengths: ``(B, n_best)`` generated tokens including ``<eos>``.
        scores: ``(B, n_best)`` length-penalised scores ``log P / lp`` used for ranking.
        log_probs: ``(B, n_best)`` summed log-probabilities ``log P(Y | X)``.
        attention: ``(B, n_best, T, S)`` attention weights at each generated token (zeros
            after the end), or ``None`` for a model without attention.
    """

    tokens: Tensor
    lengths: Tensor
    scores: Tensor
    log_probs: Tensor
    attention: Tensor | None


@dataclass(frozen=True)
class SearchOptions:
    """The checked options of a search (see :func:`check_options` for the rules)."""

    sos_id: int
    eos_id: int
    pad_id: int
    max_len: int
    min_len: int = 0
    length_penalty: float = 0.0


def check_options(
    owner: str, *, max_len: object, min_len: object, length_penalty: object, sos_id: int, eos_id: int, pad_id: int
) -> SearchOptions:
    """Check ``max_len >= 1``, ``0 <= min_len < max_len`` (room for ``<eos>``) and a real ``length_penalty >= 0``."""
    max_len = check_int(owner, "max_len", max_len, minimum=1)
    min_len = check_int(owner, "min_len", min_len, minimum=0)
    if min_len >= max_len:
        raise ValueError(f"{owner}: min_len must be < max_len={max_len} (min_len tokens, then <eos>); got {min_len}")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, numbers.Real):
        raise TypeError(f"{owner}: length_penalty must be a number >= 0; got {type(length_penalty).__name__}")
    if not float(length_penalty) >= 0:
        raise ValueError(f"{owner}: length_penalty must be >= 0; got {length_penalty}")
    return SearchOptions(sos_id, eos_id, pad_id, max_len, min_len, float(length_penalty))


def length_penalty(lengths: Tensor, alpha: float) -> Tensor:
    """GNMT's :math:`lp = ((5 + |Y|) / 6)^\\alpha` (Wu et al. 2016), as a float tensor."""
    return ((5.0 + lengths.to(torch.float64)) / 6.0) ** alpha


def _mask_specials(logp: Tensor, step: int, options: SearchOptions) -> Tensor:
    """Forbid ``<pad>`` and ``<sos>`` always, and ``<eos>`` until ``min_len`` tokens came before it."""
    logp = logp.clone()
    logp[:, [options.pad_id, options.sos_id]] = float("-inf")
    if step < options.min_len:
        logp[:, options.eos_id] = float("-inf")
    return logp


def _zero_after_end(attention: Tensor, lengths: Tensor) -> Tensor:
    """Zero the attention of the steps after each hypothesis ended: ``(..., T, S)``."""
    steps = torch.arange(attention.shape[-2], device=attention.device)
    keep = steps < lengths.to(attention.device).unsqueeze(-1)
    return attention * keep.unsqueeze(-1)


def greedy_search(
    stepper: Stepper, batch: int, options: SearchOptions, *, device: torch.device | None = None
) -> Generation:
    """Pick the most probable token at every step, all ``batch`` rows together; a row stops
    growing at its ``<eos>``, the search at the last row's ``<eos>`` or ``max_len``.

    Returns:
        :class:`Generation` with ``n_best = 1``.
    """
    tokens = torch.full((batch,), options.sos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    total = torch.zeros(batch, dtype=torch.float64, device=device)
    out: list[Tensor] = []
    attention: list[Tensor] = []
    for t in range(options.max_len):
        logp, weights = stepper.step(tokens)
        logp = _mask_specials(logp, t, options)
        best = logp.argmax(dim=-1)
        gained = logp.gather(1, best.unsqueeze(1)).squeeze(1).to(torch.float64)
        tokens = torch.where(finished, torch.full_like(best, options.pad_id), best)
        total = total + torch.where(finished, torch.zeros_like(gained), gained)
        lengths = lengths + (~finished).long()
        out.append(tokens)
        if weights is not None:
            attention.append(weights)
        finished = finished | (tokens == options.eos_id)
        if bool(finished.all()):
            break
    scores = total / length_penalty(lengths, options.length_penalty)
    attn = _zero_after_end(torch.stack(attention, 1), lengths).unsqueeze(1) if attention else None
    return Generation(
        torch.stack(out, 1).unsqueeze(1), lengths.unsqueeze(1), scores.unsqueeze(1), total.unsqueeze(1), attn
    )


def beam_search(
    stepper: Stepper,
    batch: int,
    options: SearchOptions,
    *,
    beam_size: int,
    n_best: int = 1,
    device: torch.device | None = None,
) -> Generation:
    """Keep the ``beam_size`` best hypotheses per source, all sources decoded together.

    The beams live as ``batch * beam_size`` rows of the stepper (row ``b * K + k`` is beam
    ``k`` of source ``b``). At each step every hypothesis is extended by every token and the
    ``K`` best candidates of each source by length-penalised score survive. A finished
    hypothesis (it emitted ``<eos>``) stops growing: its only continuation is ``<pad>`` at no
    cost, so it keeps its score and length and stays in the beam until ``K`` better ones push
    it out. The search stops when every beam of every source is finished, or at ``max_len``.

    With ``beam_size = 1`` this is :func:`greedy_search`.

    Raises:
        ValueError: ``beam_size < 1`` or ``n_best`` outside ``[1, beam_size]``.
    """
    k = check_int("beam_search", "beam_size", beam_size, minimum=1)
    n_best = check_int("beam_search", "n_best", n_best, minimum=1)
    if n_best > k:
        raise ValueError(f"beam_search: n_best must be <= beam_size={k}; got {n_best}")
    rows_total = batch * k
    stepper.select(torch.arange(batch, device=device).repeat_interleave(k))
    tokens = torch.full((rows_total,), options.sos_id, dtype=torch.long, device=device)
    # Only beam 0 is live at the start; the others would duplicate it.
    total = torch.zeros(batch, k, dtype=torch.float64, device=device)
    total[:, 1:] = float("-inf")
    finished = torch.zeros(batch, k, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, k, dtype=torch.long, device=device)
    history = torch.zeros(rows_total, 0, dtype=torch.long, device=device)
    attention: Tensor | None = None
    offsets = (torch.arange(batch, device=device) * k).unsqueeze(1)
    for t in range(options.max_len):
        logp, weights = stepper.step(tokens)
        logp = _mask_specials(logp, t, options).to(torch.float64)
        vocab = logp.shape[1]
        done = finished.view(-1)
        logp[done] = float("-inf")
        logp[done, options.pad_id] = 0.0
        candidates = total.view(-1, 1) + logp  # (B*K, V)
        cand_len = torch.where(done, lengths.view(-1), torch.full_like(lengths.view(-1), t + 1))
        cand_score = candidates / length_penalty(cand_len, options.length_penalty).unsqueeze(1)
        _, index = cand_score.view(batch, k * vocab).topk(k, dim=1)  # (B, K), best first
        rows = (offsets + index // vocab).view(-1)  # the parent row of each survivor
        new_tokens = index % vocab
        total = candidates.view(batch, k * vocab).gather(1, index)
        parent_done = finished.view(-1)[rows].view(batch, k)
        lengths = lengths.view(-1)[rows].view(batch, k) + (~parent_done).long()
        # A -inf hypothesis (more beams than finite candidates) can never win: let it end too.
        finished = parent_done | (new_tokens == options.eos_id) | torch.isneginf(total)
        tokens = new_tokens.view(-1)
        history = torch.cat([history[rows], tokens.unsqueeze(1)], 1)
        if weights is not None:
            step_attention = weights[rows].unsqueeze(1)
            attention = step_attention if attention is None else torch.cat([attention[rows], step_attention], 1)
        stepper.select(rows)
        if bool(finished.all()):
            break
    scores = total / length_penalty(lengths, options.length_penalty)
    order = scores.argsort(dim=1, descending=True, stable=True)[:, :n_best]  # (B, n_best)
    pick = (offsets + order).view(-1)
    steps = history.shape[1]
    best_lengths = lengths.gather(1, order)
    attn = None
    if attention is not None:
        attn = _zero_after_end(attention[pick].view(batch, n_best, steps, -1), best_lengths)
    return Generation(
        history[pick].view(batch, n_best, steps),
        best_lengths,
        scores.gather(1, order),
        total.gather(1, order),
        attn,
    )
