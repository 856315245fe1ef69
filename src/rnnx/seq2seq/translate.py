"""Strings in, strings out: encode with the model's vocabularies, generate, decode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from rnnx._checks import check_int
from rnnx.seq2seq._inputs import Source, check_source, pad_ids
from rnnx.seq2seq.model import Seq2Seq


def _check_sources(sources: object) -> tuple[list[Source], bool]:
    """The sources as a list, and whether one source was given (a ``str``)."""
    if isinstance(sources, str):
        batch: list[object] = [sources]
    elif isinstance(sources, list | tuple):
        batch = list(sources)
    else:
        raise TypeError(
            f"translate: sources must be a str (one source) or a list/tuple of sources; got {type(sources).__name__}"
        )
    checked = [check_source("translate", f"sources[{i}]", s) for i, s in enumerate(batch)]
    for index, source in enumerate(checked):
        if len(source) == 0:
            raise ValueError(f"translate: sources[{index}] is empty; every source needs at least one token")
    return checked, isinstance(sources, str)


@overload
def translate(  # type: ignore[overload-overlap]  # a str is one source, though also a Sequence[str]
    model: Seq2Seq,
    sources: str,
    *,
    strategy: str = ...,
    beam_size: int = ...,
    max_len: int | None = ...,
    min_len: int = ...,
    length_penalty: float = ...,
    batch_size: int = ...,
) -> list[str]: ...


@overload
def translate(
    model: Seq2Seq,
    sources: Sequence[str | Sequence[str]],
    *,
    strategy: str = ...,
    beam_size: int = ...,
    max_len: int | None = ...,
    min_len: int = ...,
    length_penalty: float = ...,
    batch_size: int = ...,
) -> list[list[str]]: ...


def translate(
    model: Seq2Seq,
    sources: str | Sequence[str | Sequence[str]],
    *,
    strategy: str = "greedy",
    beam_size: int = 5,
    max_len: int | None = None,
    min_len: int = 0,
    length_penalty: float = 0.0,
    batch_size: int = 64,
) -> list[str] | list[list[str]]:
    """The model's best output tokens for one source or for a batch of sources.

    A source is a ``str`` (its characters are the tokens, as for the character tasks) or a
    list/tuple of token strings. ``translate(model, "abc")`` translates the one source
    ``"abc"`` and returns its output tokens; ``translate(model, ["abc", "de"])`` (a list or tuple
    of sources) returns one token list per source, in order.

    Runs in eval mode (restored afterwards). Unknown source tokens become ``<unk>``; the
    output stops before ``<eos>``. Options as in :meth:`Seq2Seq.generate`.

    Raises:
        TypeError: ``model`` is not a :class:`Seq2Seq`; ``sources`` is not a str, list or
            tuple; a source that is not a str or a list/tuple of strs (``None`` included) or a
            token that is not a str, naming its position (``sources[2]``).
        ValueError: a model without ``src_vocab``/``tgt_vocab``, no sources, or an empty
            source (named by position).
    """
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"translate: model must be an rnnx.seq2seq.Seq2Seq; got {type(model).__name__}")
    if model.src_vocab is None or model.tgt_vocab is None:
        raise ValueError(
            "translate: the model needs src_vocab and tgt_vocab (give them to Seq2Seq or load a saved model)"
        )
    checked, single = _check_sources(sources)
    if not checked:
        raise ValueError("translate: sources must not be empty; give a str or a non-empty list of sources")
    check_int("translate", "batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[list[str]] = []
    try:
        for start in range(0, len(checked), batch_size):
            chunk = checked[start : start + batch_size]
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
    return results[0] if single else results
