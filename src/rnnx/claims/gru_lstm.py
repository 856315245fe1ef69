"""Claim 5: GRU has fewer parameters than LSTM (3 gate blocks instead of 4) and trains faster
per epoch.

Measured with the lab (:func:`rnnx.lab.train.train`): the same task (the adding problem),
data, batch size and hidden size for ``gru`` and ``lstm``; the parameter count of each whole
model and the fastest epoch's training time (evaluation excluded), at several hidden sizes.
GRU: Cho et al. 2014; LSTM: Hochreiter & Schmidhuber 1997.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnx.claims.base import FASTER, Claim, Settings, Verdict, combine, over_conditions
from rnnx.inspection.plots import new_figure, save_figure
from rnnx.lab.config import TrainConfig
from rnnx.lab.train import train

MODELS = ("gru", "lstm")


def measure(settings: Settings) -> dict[str, Any]:
    hidden_sizes = [32, 128] if settings.quick else [32, 64, 128, 256]
    task_options = {"seq_len": 50, "train_size": 2000, "valid_size": 200, "test_size": 200}
    params: dict[str, dict[str, int]] = {m: {} for m in MODELS}
    epoch: dict[str, dict[str, float]] = {m: {} for m in MODELS}
    for hidden in hidden_sizes:
        for model in MODELS:
            best = float("inf")
            for seed in range(settings.seeds):
                config = TrainConfig(
                    task="adding",
                    task_options=task_options,
                    model=model,
                    hidden_size=hidden,
                    epochs=3,
                    steps_per_epoch=20 if settings.quick else 60,
                    seed=seed,
                )
                result = train(config)
                best = min(best, *result.epoch_seconds)
                params[model][str(hidden)] = result.params
            epoch[model][str(hidden)] = best
    return {"hidden_sizes": hidden_sizes, "parameters": params, "epoch_seconds": epoch, "task": "adding, T=50"}


def verdict(numbers: dict[str, Any]) -> Verdict:
    """Fewer parameters at every size, and an epoch shorter by the ``FASTER`` margin at every size."""
    sizes = [str(h) for h in numbers["hidden_sizes"]]
    params, epoch = numbers["parameters"], numbers["epoch_seconds"]
    fewer = {f"H={h}": params["gru"][h] < params["lstm"][h] for h in sizes}
    faster = {f"H={h}": epoch["gru"][h] < FASTER * epoch["lstm"][h] for h in sizes}
    return combine(
        [
            ("parameters", over_conditions("GRU smaller", fewer)),
            ("epoch time", over_conditions("GRU faster", faster)),
        ]
    )


def summary(numbers: dict[str, Any]) -> str:
    parts = []
    for h in map(str, numbers["hidden_sizes"]):
        p = numbers["parameters"]
        e = numbers["epoch_seconds"]
        parts.append(
            f"H={h}: params GRU/LSTM {p['gru'][h]}/{p['lstm'][h]} ({p['gru'][h] / p['lstm'][h]:.2f}x), "
            f"epoch {e['gru'][h] * 1e3:.0f}/{e['lstm'][h] * 1e3:.0f} ms ({e['gru'][h] / e['lstm'][h]:.2f}x)"
        )
    return "; ".join(parts)


def plot(numbers: dict[str, Any], path: Path) -> None:
    figure = new_figure(10.0, 4.0)
    axes = figure.subplots(1, 2)
    sizes = numbers["hidden_sizes"]
    for model in MODELS:
        axes[0].plot(sizes, [numbers["parameters"][model][str(h)] for h in sizes], "o-", label=model.upper())
        axes[1].plot(sizes, [numbers["epoch_seconds"][model][str(h)] * 1e3 for h in sizes], "o-", label=model.upper())
    axes[0].set_ylabel("parameters")
    axes[1].set_ylabel("fastest epoch, ms")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden size")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    figure.suptitle(f"Claim 5: GRU vs LSTM ({numbers['task']})")
    save_figure(figure, path)


CLAIM = Claim(
    number=5,
    title="GRU vs LSTM",
    statement="GRU has fewer parameters than LSTM (3 vs 4 gate blocks) and trains faster per epoch.",
    measure=measure,
    verdict=verdict,
    summary=summary,
    plot=plot,
)
