"""Exact match and token accuracy: hand-computed cases, and evaluate() decoding free-running."""

from __future__ import annotations

import pytest
import torch

from rnnx import seq2seq
from rnnx.seq2seq.metrics import score_batch
from tests.seq2seq.common import reverse_task, trained_model

E, P = seq2seq.EOS_ID, seq2seq.PAD_ID


def test_score_batch_by_hand() -> None:
    reference = torch.tensor([[5, 6, 7, E], [5, 6, E, P], [5, E, P, P]])
    ref_lengths = torch.tensor([4, 3, 2])
    predicted = torch.tensor(
        [
            [5, 6, 7, E, P],  # exact: 4/4
            [5, 7, 6, E, P],  # too long, 1/3 right at positions 0..2
            [5, 6, 7, 8, 9],  # never ends: 1/2
        ]
    )
    pred_lengths = torch.tensor([4, 4, 5])
    exact, correct, total = score_batch(predicted, pred_lengths, reference, ref_lengths)
    assert (exact, correct, total) == (1, 4 + 1 + 1, 9)
    # A prediction that stops early cannot match positions after its end.
    short = torch.tensor([[5, 6, E], [5, 6, E], [5, E, P]])
    assert score_batch(short, torch.tensor([3, 3, 2]), reference, ref_lengths) == (2, 2 + 3 + 2, 9)


def test_evaluate_decodes_free_running_and_restores_mode() -> None:
    model = trained_model("context").train()
    task = reverse_task()
    result = seq2seq.evaluate(model, task.test[:20])
    assert model.training
    # Oracle: greedy generation, compared by hand with the reference strings.
    model.eval()
    predictions = seq2seq.translate(model, [s for s, _ in task.test[:20]])
    exact = sum("".join(p) == t for p, (_, t) in zip(predictions, task.test[:20], strict=True))
    assert result["exact_match"] == pytest.approx(exact / 20)
    assert result["sequences"] == 20
    assert result["tokens"] == sum(len(t) + 1 for _, t in task.test[:20])
    # Teacher forcing would score at least as well token by token; free-running is what is reported.
    batches = task.batches("test", batch_size=7)
    assert seq2seq.evaluate(model, batches)["exact_match"] == pytest.approx(
        seq2seq.evaluate(model, task.test, batch_size=13)["exact_match"]
    )


def test_evaluate_needs_vocabularies_for_pairs() -> None:
    model = trained_model("context")
    bare = seq2seq.Seq2Seq(model.encoder, model.decoder, bridge=model.bridge)
    with pytest.raises(ValueError, match=r"evaluate: pairs need a model with src_vocab and tgt_vocab"):
        seq2seq.evaluate(bare, [("ab", "ba")])
    with pytest.raises(
        TypeError, match=r"evaluate: data must be all \(source, target\) pairs or all Batch objects; got a mix"
    ):
        seq2seq.evaluate(model, [("ab", "ba"), *reverse_task().batches("test", batch_size=8)])
    with pytest.raises(ValueError, match=r"evaluate: data must not be empty"):
        seq2seq.evaluate(model, [])
    with pytest.raises(ValueError, match=r"translate: sources\[1\] is empty"):
        seq2seq.translate(model, ["ab", ""])
