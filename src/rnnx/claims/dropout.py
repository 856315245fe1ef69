"""Claim 7: dropout reduces overfitting.

Measured with the lab on a small dataset that a two-layer LSTM overfits quickly: character
language modelling on the bundled Declaration of Independence (``chars``; a few thousand
characters). The same model is trained with and without dropout on the encoder's output
(Srivastava et al. 2014; Zaremba, Sutskever & Vinyals 2014 place it between layers and before
the output, never on the recurrent connections). Overfitting is the generalisation gap: the
final validation bits per character minus the final training bits per character, both measured
in evaluation mode.
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean
from typing import Any

from rnnx.claims.base import DEPENDS, FAILS, HOLDS, UNDECIDED, Claim, Settings, Verdict
from rnnx.inspection.plots import new_figure, save_figure
from rnnx.lab.config import TrainConfig
from rnnx.lab.tasks import get_task
from rnnx.lab.train import evaluate, train

DROPOUT = 0.5
SMALLER_GAP = 0.9  # dropout must shrink the gap by at least 10% to count
OVERFITS = 0.1  # bits/char: a smaller gap without dropout leaves no overfitting to reduce


def measure(settings: Settings) -> dict[str, Any]:
    epochs = 100 if settings.quick else 300
    hidden = 128 if settings.quick else 256
    runs: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
    task_options = {"seq_len": 64}
    task = get_task("chars", **task_options)
    for seed in range(settings.seeds):
        for label, p in (("without", 0.0), ("with", DROPOUT)):
            config = TrainConfig(
                task="chars",
                task_options=task_options,
                model="lstm",
                hidden_size=hidden,
                num_layers=2,
                dropout=p,
                epochs=epochs,
                batch_size=16,
                lr=3e-3,
                seed=seed,
            )
            result = train(config)
            assert result.network is not None
            valid = float(evaluate(result.network, task, "valid"))
            trained = float(evaluate(result.network, task, "train"))
            runs[label].append(
                {"train": trained, "valid": valid, "gap": valid - trained, "best_valid": result.best_metric}
            )
    return {"dropout": DROPOUT, "epochs": epochs, "hidden_size": hidden, "metric": "bits per char", "runs": runs}


def verdict(numbers: dict[str, Any]) -> Verdict:
    """Holds when dropout shrinks the gap (by ``SMALLER_GAP``) in every seed, does not hold when
    in none, depends (on the seed) otherwise. Cannot decide when the model without dropout did
    not overfit (a mean gap under ``OVERFITS`` bits/char): there was nothing to reduce."""
    pairs = list(zip(numbers["runs"]["without"], numbers["runs"]["with"], strict=True))
    smaller = [w["gap"] < SMALLER_GAP * wo["gap"] for wo, w in pairs]
    gaps = f"gap {mean(wo['gap'] for wo, _ in pairs):.2f} -> {mean(w['gap'] for _, w in pairs):.2f} bits/char"
    if mean(wo["gap"] for wo, _ in pairs) < OVERFITS:
        return Verdict(UNDECIDED, f"{gaps}: the model without dropout did not overfit, so there was nothing to reduce")
    if all(smaller):
        return Verdict(HOLDS, f"{gaps} with dropout {numbers['dropout']}")
    if not any(smaller):
        return Verdict(FAILS, f"{gaps}: dropout {numbers['dropout']} did not shrink it")
    return Verdict(DEPENDS, f"{gaps}: smaller in {sum(smaller)} of {len(smaller)} seeds")


def summary(numbers: dict[str, Any]) -> str:
    parts = []
    for label in ("without", "with"):
        runs = numbers["runs"][label]
        parts.append(
            f"{label} dropout: train {mean(r['train'] for r in runs):.2f}, valid {mean(r['valid'] for r in runs):.2f}, "
            f"gap {mean(r['gap'] for r in runs):.2f}"
        )
    return f"chars, 2-layer LSTM H={numbers['hidden_size']}, {numbers['epochs']} epochs, bits/char: " + "; ".join(parts)


def plot(numbers: dict[str, Any], path: Path) -> None:
    figure = new_figure(6.0, 4.0)
    ax = figure.add_subplot()
    for k, label in enumerate(("without", "with")):
        runs = numbers["runs"][label]
        ax.bar([k - 0.2], [mean(r["train"] for r in runs)], width=0.4, color="C0", label="train" if k == 0 else None)
        ax.bar([k + 0.2], [mean(r["valid"] for r in runs)], width=0.4, color="C1", label="valid" if k == 0 else None)
    ax.set_xticks([0, 1], ["no dropout", f"dropout {numbers['dropout']}"])
    ax.set_ylabel("bits per character (lower is better)")
    ax.legend()
    figure.suptitle("Claim 7: dropout and the train/validation gap")
    save_figure(figure, path)


CLAIM = Claim(
    number=7,
    title="dropout",
    statement="Dropout reduces overfitting.",
    measure=measure,
    verdict=verdict,
    summary=summary,
    plot=plot,
)
