"""The scores of an encoder-decoder on translation pairs: exact match and token accuracy, always
from free-running decoding (never teacher forcing).

:func:`score_batch` compares generated ids with reference ids; the lab's seq2seq tasks score
exact match with it (:meth:`rnnx.lab.tasks.Task.score`). :func:`translation_scores` decodes
``(source, target)`` pairs or :class:`~rnnx.lab.tasks.translation.TranslationBatch` objects and
reports both scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from rnnx._checks import check_int
from rnnx.lab.tasks.translation import Pair, TranslationBatch, make_batches
from rnnx.seq2seq._inputs import check_pairs
from rnnx.seq2seq.model import Seq2Seq


def score_batch(
    predicted: Tensor, predicted_lengths: Tensor, reference: Tensor, reference_lengths: Tensor
) -> tuple[int, int, int]:
    """Compare predictions with references, both ending with their ``<eos>``.

    Args:
        predicted: ``(B, T_p)`` generated ids; predicted_lengths: ``(B,)`` (``<eos>`` included).
        reference: ``(B, T_r)`` gold ids ending with ``<eos>``; reference_lengths: ``(B,)``.

    Returns:
        ``(exact, correct, total)``: sequences equal to their reference (same tokens, same
        length), reference positions ``t < |y|`` where the prediction has the same token, and
        the number of reference tokens ``sum |y|`` (``<eos>`` counts as a token).
    """
    batch, steps = reference.shape
    width = max(steps, predicted.shape[1])
    pred = predicted.new_full((batch, width), -1)
    pred[:, : predicted.shape[1]] = predicted
    positions = torch.arange(steps, device=reference.device).unsqueeze(0)
    in_reference = positions < reference_lengths.to(reference.device).unsqueeze(1)
    in_prediction = positions < predicted_lengths.to(reference.device).unsqueeze(1)
    same = (pred[:, :steps] == reference) & in_reference & in_prediction
    correct = same.sum(1)
    exact = (correct == reference_lengths.to(reference.device)) & (
        predicted_lengths.to(reference.device) == reference_lengths.to(reference.device)
    )
    return int(exact.sum()), int(correct.sum()), int(reference_lengths.sum())


def translation_scores(
    model: Seq2Seq,
    data: Sequence[Pair] | Iterable[TranslationBatch],
    *,
    batch_size: int = 128,
    strategy: str = "greedy",
    beam_size: int = 5,
    length_penalty: float = 0.0,
    max_len: int | None = None,
) -> dict[str, float]:
    """Decode every source free-running and score it against its target.

    The model runs in eval mode (its mode is restored afterwards) without gradients.

    Args:
        model: a :class:`~rnnx.seq2seq.Seq2Seq`.
        data: ``(source, target)`` pairs (then the model needs ``src_vocab`` and
            ``tgt_vocab``) or :class:`~rnnx.lab.tasks.translation.TranslationBatch` objects.
        batch_size: for pairs.
        strategy, beam_size, length_penalty: as in :meth:`rnnx.seq2seq.Seq2Seq.generate`.
        max_len: most generated tokens; default the batch's longest target (``<eos>``
            included), which is all either metric can look at.

    Returns:
        ``{"exact_match", "token_accuracy", "sequences", "tokens"}``: the fraction of
        sequences generated exactly (through ``<eos>``), the fraction of target tokens
        (``<eos>`` included) matched position by position, and the counts behind them.

    Raises:
        TypeError: ``data`` is not a list of pairs or of batches, or mixes them; a pair that is
            not ``(source, target)`` of strs or token lists, naming its position (``data[3][0]``).
        ValueError: pairs given to a model without vocabularies, no data, or an empty source or
            target.
    """
    owner = "translation_scores"
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"{owner}: model must be an rnnx.seq2seq.Seq2Seq; got {type(model).__name__}")
    check_int(owner, "batch_size", batch_size, minimum=1)
    given: object = data
    if not isinstance(given, Iterable) or isinstance(given, str | bytes):
        raise TypeError(
            f"{owner}: data must be a list of (source, target) pairs or of TranslationBatch objects; "
            f"got {type(given).__name__}"
        )
    items: list[object] = list(data)
    if not items:
        raise ValueError(f"{owner}: data must not be empty")
    batches = [item for item in items if isinstance(item, TranslationBatch)]
    if batches and len(batches) != len(items):
        raise TypeError(f"{owner}: data must be all (source, target) pairs or all TranslationBatch objects; got a mix")
    if not batches:
        if model.src_vocab is None or model.tgt_vocab is None:
            raise ValueError(
                f"{owner}: pairs need a model with src_vocab and tgt_vocab; pass TranslationBatch objects instead"
            )
        pairs = check_pairs(owner, "data", items)
        batches = make_batches(pairs, model.src_vocab, model.tgt_vocab, batch_size=batch_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    exact = correct = total = sequences = 0
    try:
        for batch in batches:
            reference = batch.tgt[:, 1:].to(device)  # drop <sos>
            ref_lengths = batch.tgt_lengths - 1
            out = model.generate(
                batch.src.to(device),
                batch.src_lengths,
                strategy=strategy,
                beam_size=beam_size,
                length_penalty=length_penalty,
                max_len=int(ref_lengths.max()) if max_len is None else max_len,
            )
            e, c, t = score_batch(out.tokens[:, 0], out.lengths[:, 0], reference, ref_lengths)
            exact, correct, total, sequences = exact + e, correct + c, total + t, sequences + batch.src.shape[0]
    finally:
        model.train(was_training)
    return {
        "exact_match": exact / sequences,
        "token_accuracy": correct / total,
        "sequences": sequences,
        "tokens": total,
    }
