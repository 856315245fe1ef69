"""Claim 6: the encoder-decoder's fixed context vector loses information on long inputs;
attention fixes it.

Measured on the lab's string reversal task, inputs of mixed lengths: two GRU encoder-decoders
(:class:`rnnx.seq2seq.Seq2Seq`) of the same size, trained by the lab's
:func:`~rnnx.lab.train.train` for the same number of steps, one passing only the encoder's final
state to the decoder (Sutskever, Vinyals & Le 2014; Cho et al. 2014) and one also attending over
every encoder state (Luong, Pham & Manning 2015, "general" score). Then greedy decoding on the
validation pairs, token accuracy per source length (:func:`~rnnx.lab.metrics.translation_scores`;
Bahdanau, Cho & Bengio 2015 show the fixed vector's accuracy falling with length).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from rnnx.claims.base import DEPENDS, FAILS, HOLDS, UNDECIDED, Claim, Settings, Verdict, combine
from rnnx.inspection.plots import new_figure, save_figure
from rnnx.lab.config import TrainConfig
from rnnx.lab.metrics import translation_scores
from rnnx.lab.tasks import get_task
from rnnx.lab.train import train
from rnnx.seq2seq import Seq2Seq, Seq2SeqConfig

MODELS = {"context vector": None, "attention": "general"}
DROP = 0.10  # a fall in token accuracy of 10 points from the shortest to the longest inputs is a loss
LEARNED = 0.5  # token accuracy on the shortest inputs below this: the model did not learn the task


def measure(settings: Settings) -> dict[str, Any]:
    low, high = (4, 15) if settings.quick else (4, 31)
    steps = 500 if settings.quick else 3000
    options = {"min_length": low, "max_length": high, "train_size": 6000, "valid_size": 600, "test_size": 10}
    task = get_task("reverse", **options)
    pairs = task.info["pairs"]
    by_length: dict[int, list[tuple[str, str]]] = {}
    for pair in pairs.valid:
        by_length.setdefault(len(pair[0]), []).append(pair)
    buckets = [(a, min(a + 3, high)) for a in range(low, high + 1, 4)]  # 4 lengths per bucket
    accuracy: dict[str, dict[str, float]] = {}
    for label, attention in MODELS.items():
        scores: dict[str, list[float]] = {f"{a}-{b}": [] for a, b in buckets}
        for seed in range(settings.seeds):
            torch.manual_seed(seed)
            config = Seq2SeqConfig(cell="gru", embedding_dim=32, hidden_size=64, attention=attention)
            model = Seq2Seq.from_config(config, pairs.src_vocab, pairs.tgt_vocab)
            run = TrainConfig(
                task="reverse",
                task_options=options,
                model=f"gru:attention={attention or 'none'}",  # labels the run; the model is the one above
                hidden_size=64,
                epochs=math.ceil(steps * 64 / options["train_size"]),  # the passes that hold `steps` batches
                batch_size=64,
                lr=3e-3,
                schedule="constant",
                seed=seed,
            )
            train(run, model=model, max_steps=steps)
            for a, b in buckets:
                chosen = [p for n in range(a, b + 1) for p in by_length.get(n, [])]
                scores[f"{a}-{b}"].append(translation_scores(model, chosen)["token_accuracy"])
        accuracy[label] = {k: sum(v) / len(v) for k, v in scores.items()}
    return {
        "lengths": [low, high],
        "train_steps": steps,
        "buckets": [f"{a}-{b}" for a, b in buckets],
        "accuracy": accuracy,
    }


def verdict(numbers: dict[str, Any]) -> Verdict:
    """Two parts: without attention the token accuracy falls by ``DROP`` or more from the
    shortest to the longest inputs; with attention it falls by less than half as much and ends
    higher. A model that did not learn the task even on the shortest inputs (token accuracy
    under ``LEARNED``) cannot show a loss with length: that part cannot be decided."""
    first, last = numbers["buckets"][0], numbers["buckets"][-1]
    plain, attended = numbers["accuracy"]["context vector"], numbers["accuracy"]["attention"]
    fall = plain[first] - plain[last]
    fall_attended = attended[first] - attended[last]
    span = f"lengths {first} -> {last}"
    if plain[first] < LEARNED:
        untrained = f"the context-vector model did not learn the task ({plain[first]:.2f} on lengths {first})"
        return combine(
            [
                ("context vector loses", Verdict(UNDECIDED, untrained)),
                ("attention fixes", Verdict(UNDECIDED, untrained)),
            ]
        )
    if fall >= DROP:
        loses = Verdict(HOLDS, f"accuracy {plain[first]:.2f} -> {plain[last]:.2f} over {span}")
    else:
        loses = Verdict(FAILS, f"accuracy {plain[first]:.2f} -> {plain[last]:.2f} over {span}, a fall under {DROP:g}")
    if fall < DROP:
        fixes = Verdict(FAILS, "nothing to fix: the context vector did not lose accuracy with length")
    elif fall_attended < fall / 2 and attended[last] > plain[last]:
        fixes = Verdict(HOLDS, f"attention {attended[first]:.2f} -> {attended[last]:.2f}")
    elif attended[last] > plain[last]:
        fixes = Verdict(DEPENDS, f"attention helps on long inputs ({attended[last]:.2f}) but also falls with length")
    else:
        fixes = Verdict(FAILS, f"attention {attended[last]:.2f} on the longest inputs, not better")
    return combine([("context vector loses", loses), ("attention fixes", fixes)])


def summary(numbers: dict[str, Any]) -> str:
    parts = [
        f"{label}: " + ", ".join(f"{k}: {v:.2f}" for k, v in acc.items()) for label, acc in numbers["accuracy"].items()
    ]
    return f"reversal token accuracy by source length ({numbers['train_steps']} steps, GRU H=64): " + "; ".join(parts)


def plot(numbers: dict[str, Any], path: Path) -> None:
    figure = new_figure(6.5, 4.0)
    ax = figure.add_subplot()
    for label, acc in numbers["accuracy"].items():
        ax.plot(list(acc), list(acc.values()), "o-", label=label)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("source length")
    ax.set_ylabel("token accuracy (greedy)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    figure.suptitle("Claim 6: context vector vs attention (string reversal)")
    save_figure(figure, path)


CLAIM = Claim(
    number=6,
    title="attention",
    statement="The encoder-decoder's fixed context vector loses information on long inputs; attention fixes it.",
    measure=measure,
    verdict=verdict,
    summary=summary,
    plot=plot,
)
