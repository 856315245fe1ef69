"""Greedy and beam search on hand-built distributions with known answers, on real models
(greedy = beam of 1, batch = one by one), and their options and errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from rnnx import seq2seq
from rnnx.seq2seq.search import SearchOptions, beam_search, greedy_search
from tests.seq2seq.common import held_out_batch, source_batch, tiny_model, trained_model

PAD, SOS, EOS, A, B = 0, 1, 2, 3, 4
V = 5


class TreeStepper:
    """A stub model: the next-token distribution depends only on the prefix generated so far,
    read from ``table`` (prefix tuple -> {token: probability}); unlisted prefixes end."""

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]], batch: int = 1, floor: float = 1e-9) -> None:
        self.table = table
        self.floor = floor
        self.prefixes: list[tuple[int, ...]] = [() for _ in range(batch)]
        self.started = False

    def step(self, tokens: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.started:
            self.prefixes = [(*p, int(t)) for p, t in zip(self.prefixes, tokens, strict=True)]
        self.started = True
        rows = []
        for prefix in self.prefixes:
            probs = torch.full((V,), self.floor)
            for token, p in self.table.get(prefix, {EOS: 1.0}).items():
                probs[token] = p
            rows.append(torch.log(probs / probs.sum()))
        return torch.stack(rows), None

    def select(self, rows: Tensor) -> None:
        self.prefixes = [self.prefixes[int(r)] for r in rows]


def options(max_len: int = 5, min_len: int = 0, alpha: float = 0.0) -> SearchOptions:
    return SearchOptions(SOS, EOS, PAD, max_len, min_len, alpha)


# Greedy takes A (0.6) and then can only reach 0.6 * 0.34; B (0.4) then <eos> (0.9) is better.
TRAP = {(): {A: 0.6, B: 0.4}, (A,): {EOS: 0.34, A: 0.33, B: 0.33}, (B,): {EOS: 0.9, A: 0.1}}


def test_beam_finds_what_greedy_misses() -> None:
    greedy = greedy_search(TreeStepper(TRAP), 1, options())
    assert greedy.tokens[0, 0, : greedy.lengths[0, 0]].tolist() == [A, EOS]
    beam = beam_search(TreeStepper(TRAP), 1, options(), beam_size=2, n_best=2)
    assert beam.tokens[0, 0, : beam.lengths[0, 0]].tolist() == [B, EOS]
    assert beam.log_probs[0, 0].item() == pytest.approx(math.log(0.4 * 0.9), abs=1e-6)
    assert greedy.log_probs[0, 0].item() == pytest.approx(math.log(0.6 * 0.34), abs=1e-6)
    assert beam.tokens[0, 1, : beam.lengths[0, 1]].tolist() == [A, EOS]  # second best
    assert torch.all(beam.scores[0, :-1] >= beam.scores[0, 1:])


# "<eos>" now (0.5) beats "A <eos>" (0.5 * 0.9) on log-probability, not once normalised by length.
SHORT_OR_LONG = {(): {EOS: 0.5, A: 0.5}, (A,): {EOS: 0.9, B: 0.1}}


def test_length_penalty_orders_by_gnmt_normalised_score() -> None:
    plain = beam_search(TreeStepper(SHORT_OR_LONG), 1, options(alpha=0.0), beam_size=2, n_best=2)
    assert plain.lengths[0].tolist() == [1, 2]
    penalised = beam_search(TreeStepper(SHORT_OR_LONG), 1, options(alpha=1.0), beam_size=2, n_best=2)
    assert penalised.lengths[0].tolist() == [2, 1]
    lp = [((5 + n) / 6) ** 1.0 for n in (2, 1)]
    expected = [math.log(0.45) / lp[0], math.log(0.5) / lp[1]]
    assert penalised.scores[0].tolist() == pytest.approx(expected, abs=1e-6)
    assert penalised.log_probs[0].tolist() == pytest.approx([math.log(0.45), math.log(0.5)], abs=1e-6)
    assert seq2seq.length_penalty(torch.tensor([1, 2, 10]), 0.6).tolist() == pytest.approx(
        [1.0, (7 / 6) ** 0.6, 2.5**0.6]
    )


def test_min_len_forbids_early_eos() -> None:
    # min_len tokens must come before <eos> (fairseq's convention).
    for min_len, expected in ((1, [A, EOS]), (2, [A, B, EOS])):
        greedy = greedy_search(TreeStepper(SHORT_OR_LONG), 1, options(min_len=min_len))
        beam = beam_search(TreeStepper(SHORT_OR_LONG), 1, options(min_len=min_len), beam_size=2)
        for out in (greedy, beam):
            assert out.tokens[0, 0, : out.lengths[0, 0]].tolist() == expected


def test_finished_hypotheses_stop_growing_and_max_len_cuts() -> None:
    # Row 0 ends after one token; row 1 never ends (A forever) and is cut at max_len.
    forever = {tuple([A] * n): {A: 1.0} for n in range(10)}
    stepper = TreeStepper(forever | {(): {A: 1.0}}, batch=2)
    stepper.prefixes = [(9,), ()]  # row 0 starts from an unlisted prefix: <eos> at once
    out = greedy_search(stepper, 2, options(max_len=4))
    assert out.tokens[:, 0].tolist() == [[EOS, PAD, PAD, PAD], [A, A, A, A]]
    assert out.lengths[:, 0].tolist() == [1, 4]
    beam = beam_search(TreeStepper(TRAP), 1, options(max_len=6), beam_size=3, n_best=3)
    for k in range(3):
        n = int(beam.lengths[0, k])
        assert beam.tokens[0, k, n - 1] == EOS
        assert torch.all(beam.tokens[0, k, n:] == PAD)


@pytest.mark.parametrize("kind", ["attention", "context"])
def test_greedy_equals_beam_of_one(kind: str) -> None:
    model = trained_model(kind)
    batch = held_out_batch()
    greedy = model.generate(batch.src, batch.src_lengths, strategy="greedy", max_len=10, length_penalty=0.6)
    beam = model.generate(batch.src, batch.src_lengths, strategy="beam", beam_size=1, max_len=10, length_penalty=0.6)
    assert len(set(greedy.lengths[:, 0].tolist())) > 2  # outputs end at different steps
    assert torch.equal(greedy.tokens, beam.tokens)
    assert torch.equal(greedy.lengths, beam.lengths)
    torch.testing.assert_close(greedy.scores, beam.scores)
    torch.testing.assert_close(greedy.log_probs, beam.log_probs)
    if kind == "context":
        assert greedy.attention is None
        assert beam.attention is None
    else:
        assert greedy.attention is not None
        assert beam.attention is not None
        torch.testing.assert_close(greedy.attention, beam.attention)


@pytest.mark.parametrize(("strategy", "kind"), [("greedy", "attention"), ("beam", "attention"), ("beam", "context")])
def test_batch_equals_one_by_one(strategy: str, kind: str) -> None:
    model = trained_model(kind)
    batch = held_out_batch()
    lengths = batch.src_lengths.tolist()
    n_best = 1 if strategy == "greedy" else 2
    out = model.generate(batch.src, batch.src_lengths, strategy=strategy, beam_size=3, n_best=n_best, max_len=10)
    assert len(set(out.lengths[:, 0].tolist())) > 2
    for row, n in enumerate(lengths):
        alone = model.generate(
            batch.src[row : row + 1, :n], [n], strategy=strategy, beam_size=3, n_best=n_best, max_len=10
        )
        steps = alone.tokens.shape[-1]
        assert torch.equal(out.lengths[row], alone.lengths[0])
        assert torch.equal(out.tokens[row, :, :steps], alone.tokens[0])
        assert torch.all(out.tokens[row, :, steps:] == PAD)
        torch.testing.assert_close(
            out.scores[row], alone.scores[0], atol=1e-5, rtol=1e-5
        )  # float32 log-probs, summed in float64
        if kind == "attention":
            assert out.attention is not None
            assert alone.attention is not None
            torch.testing.assert_close(out.attention[row, :, :steps, :n], alone.attention[0])
            assert torch.all(out.attention[row, :, :, n:] == 0)  # padding never attended


def test_attention_rows_sum_to_one_until_the_end() -> None:
    batch = held_out_batch()
    out = trained_model("attention").generate(
        batch.src, batch.src_lengths, strategy="beam", beam_size=2, n_best=2, max_len=9
    )
    assert out.attention is not None
    sums = out.attention.sum(-1)  # (B, n_best, T)
    steps = torch.arange(sums.shape[-1])
    live = steps < out.lengths.unsqueeze(-1)
    torch.testing.assert_close(sums[live], torch.ones(int(live.sum())))
    assert torch.all(sums[~live] == 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"beam_size": 0, "strategy": "beam"}, ValueError, r"Seq2Seq.generate: beam_size must be >= 1; got 0"),
        ({"max_len": 0}, ValueError, r"Seq2Seq.generate: max_len must be >= 1; got 0"),
        (
            {"max_len": 3, "min_len": 3},
            ValueError,
            r"Seq2Seq.generate: min_len must be < max_len=3 \(min_len tokens, then <eos>\); got 3",
        ),
        (
            {"strategy": "sample"},
            ValueError,
            r"Seq2Seq.generate: strategy must be one of \('greedy', 'beam'\); got 'sample'",
        ),
        ({"n_best": 2}, ValueError, r"Seq2Seq.generate: n_best=2 needs strategy='beam'"),
        (
            {"strategy": "beam", "beam_size": 2, "n_best": 3},
            ValueError,
            r"Seq2Seq.generate: n_best must be <= beam_size=2; got 3",
        ),
        ({"length_penalty": -0.5}, ValueError, r"Seq2Seq.generate: length_penalty must be >= 0; got -0.5"),
        ({"max_len": 2.5}, TypeError, r"Seq2Seq.generate: max_len must be an int; got float 2.5"),
    ],
)
def test_bad_generate_options(kwargs: dict[str, object], error: type[Exception], pattern: str) -> None:
    model = tiny_model()
    with pytest.raises(error, match=pattern):
        model.generate(*source_batch([3]), **kwargs)  # type: ignore[arg-type]


def test_bad_generate_inputs() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match=r"Seq2Seq.generate: src holds token id 9, outside the vocabulary of size 9"):
        model.generate(torch.tensor([[4, 9]]), [2])
    with pytest.raises(
        ValueError, match=r"Encoder: src_lengths must be >= 1 \(empty sequences cannot be encoded\); got 0 at index 1"
    ):
        model.generate(torch.tensor([[4, 5], [0, 0]]), [2, 0])
    with pytest.raises(ValueError, match=r"beam_search: n_best must be <= beam_size=1; got 2"):
        beam_search(TreeStepper(TRAP), 1, options(), beam_size=1, n_best=2)


def test_more_beams_than_candidates_end_early_and_rank_last() -> None:
    # Tokens without probability are impossible (log 0 = -inf): a beam of 4 over at most three
    # possible outputs keeps an impossible hypothesis, which must not hold the search open.
    out = beam_search(TreeStepper(SHORT_OR_LONG, floor=0.0), 1, options(max_len=8), beam_size=4, n_best=4)
    assert out.tokens.shape[-1] == 3  # <eos> | A <eos> | A B <eos>: done after 3 steps, not max_len
    assert out.lengths[0, :3].tolist() == [1, 2, 3]
    assert out.log_probs[0, :3].tolist() == pytest.approx([math.log(0.5), math.log(0.45), math.log(0.05)], abs=1e-6)
    assert torch.isneginf(out.scores[0, 3])
