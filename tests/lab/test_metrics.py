"""Exact match and token accuracy: hand-computed cases, and translation_scores() decoding
free-running; any input answered with scores or a named error."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnx import seq2seq
from rnnx.lab.metrics import score_batch, translation_scores
from tests.seq2seq.common import reverse_task, trained_model
from tests.seq2seq.test_fuzz import SOURCE

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


def test_translation_scores_decode_free_running_and_restore_mode() -> None:
    model = trained_model("context").train()
    task = reverse_task()
    result = translation_scores(model, task.test[:20])
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
    assert translation_scores(model, batches)["exact_match"] == pytest.approx(
        translation_scores(model, task.test, batch_size=13)["exact_match"]
    )


def test_translation_scores_need_vocabularies_for_pairs() -> None:
    model = trained_model("context")
    bare = seq2seq.Seq2Seq(model.encoder, model.decoder, bridge=model.bridge)
    with pytest.raises(ValueError, match=r"translation_scores: pairs need a model with src_vocab and tgt_vocab"):
        translation_scores(bare, [("ab", "ba")])
    with pytest.raises(
        TypeError,
        match=r"translation_scores: data must be all \(source, target\) pairs or all TranslationBatch objects; got a mix",
    ):
        translation_scores(model, [("ab", "ba"), *reverse_task().batches("test", batch_size=8)])
    with pytest.raises(ValueError, match=r"translation_scores: data must not be empty"):
        translation_scores(model, [])
    with pytest.raises(TypeError, match=r"translation_scores: model must be an rnnx.seq2seq.Seq2Seq; got Linear"):
        translation_scores(torch.nn.Linear(2, 2), [("ab", "ba")])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "error", "pattern"),
    [
        (
            None,
            TypeError,
            r"translation_scores: data must be a list of \(source, target\) pairs or of TranslationBatch objects; "
            "got NoneType",
        ),
        ("ab", TypeError, r"translation_scores: data must be a list .* got str"),
        (
            [("ab", "ba"), None],
            TypeError,
            r"translation_scores: data\[1\] must be a \(source, target\) pair; got NoneType",
        ),
        (
            [("ab", 3)],
            TypeError,
            r"translation_scores: data\[0\]\[1\] must be a str or a list/tuple of token strs; got int",
        ),
        ([("ab", "")], ValueError, r"translation_scores: data\[0\] has an empty target"),
    ],
)
def test_bad_data_is_named(data: object, error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        translation_scores(trained_model("context"), data)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(data=st.one_of(SOURCE, st.lists(st.tuples(SOURCE, SOURCE), max_size=3), st.lists(SOURCE, max_size=3)))
def test_translation_scores_answer_any_input(data: Any) -> None:
    model = trained_model("context")
    try:
        scores = translation_scores(model, data, max_len=8)
    except (TypeError, ValueError) as error:
        message = str(error)
    else:
        assert 0.0 <= scores["exact_match"] <= 1.0
        assert 0.0 <= scores["token_accuracy"] <= 1.0
        assert scores["sequences"] == len(data)
        return
    assert message.startswith("translation_scores: "), message
