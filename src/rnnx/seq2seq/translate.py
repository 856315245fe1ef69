"""Strings in, strings out: encode with the model's vocabularies, generate, decode."""

from __future__ import annotations

from collections.abc import Sequence

from rnnx._checks import check_int
from rnnx.seq2seq._inputs import pad_ids
from rnnx.seq2seq.model import Seq2Seq


def translate(
    model: Seq2Seq,
    sources: Sequence[str] | Sequence[Sequence[str]],
    *,
    strategy: str = "greedy",
    beam_size: int = 5,
    max_len: int | None = None,
    min_len: int = 0,
    length_penalty: float = 0.0,
    batch_size: int = 64,
) -> list[list[str]]:
    """The model's best output tokens for each source (a string is read as characters).

    Runs in eval mode (restored afterwards). Unknown source tokens become ``<unk>``; the
    output stops before ``<eos>``. Options as in :meth:`Seq2Seq.generate`.

    Raises:
        ValueError: a model without ``src_vocab``/``tgt_vocab``, or an empty source.
    """
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"translate: model must be an rnnx.seq2seq.Seq2Seq; got {type(model).__name__}")
    if model.src_vocab is None or model.tgt_vocab is None:
        raise ValueError(
            "translate: the model needs src_vocab and tgt_vocab (give them to Seq2Seq or load a saved model)"
        )
    check_int("translate", "batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[list[str]] = []
    try:
        for start in range(0, len(sources), batch_size):
            chunk = sources[start : start + batch_size]
            for index, source in enumerate(chunk, start):
                if len(source) == 0:
                    raise ValueError(f"translate: source {index} is empty; every source needs at least one token")
            src, lengths = pad_ids(
                [model.src_vocab.encode(s, add_eos=False) for s in chunk], pad_id=model.src_vocab.pad_id
            )
            out = model.generate(
                src.to(device),
                lengths,
                strategy=strategy,
                beam_size=beam_size,
                max_len=max_len,
                min_len=min_len,
                length_penalty=length_penalty,
            )
            results.extend(model.tgt_vocab.decode(row.tolist()) for row in out.tokens[:, 0])
    finally:
        model.train(was_training)
    return results
