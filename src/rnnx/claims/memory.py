"""Claim 2: a plain RNN captures only short-range dependencies, LSTM longer ones, GRU less long
than LSTM, and a Transformer the longest.

Measured with the lab on two memory tasks at growing lengths ``T``: the adding problem (two
marked numbers anywhere in the sequence; Hochreiter & Schmidhuber 1997, Le et al. 2015) and the
copy-memory task (recall 10 symbols after ``T`` blanks; Arjovsky et al. 2016). Every model gets
the same budget of optimizer steps and about the same number of parameters (matched to the
LSTM's); a length counts as solved when the best validation metric is at most ``SOLVED`` times
the task's memoryless baseline. The range of a model is the longest length it solves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnx.claims.base import Claim, Settings, Verdict, combine, over_conditions
from rnnx.inspection.plots import new_figure, save_figure
from rnnx.lab.config import TrainConfig
from rnnx.lab.models import build_model, count_parameters
from rnnx.lab.tasks import get_task
from rnnx.lab.train import train

MODELS = ("rnn", "gru", "lstm", "transformer")
TASKS = ("adding", "copy")
SOLVED = 0.5  # the best validation loss must halve the memoryless baseline
HIDDEN = 32


def measure(settings: Settings) -> dict[str, Any]:
    lengths = [10, 30, 100] if settings.quick else [10, 30, 100, 200, 400]
    steps = 400 if settings.quick else 2000
    sizes = {"train_size": 4000, "valid_size": 300, "test_size": 100}
    budget = count_parameters(build_model("lstm", get_task("adding", seq_len=10, **sizes), hidden_size=HIDDEN))
    metric: dict[str, dict[str, dict[str, float]]] = {t: {m: {} for m in MODELS} for t in TASKS}
    baseline: dict[str, dict[str, float]] = {t: {} for t in TASKS}
    for task in TASKS:
        for length in lengths:
            for model in MODELS:
                best = float("inf")
                for seed in range(settings.seeds):
                    config = TrainConfig(
                        task=task,
                        task_options={"seq_len": length, **sizes},
                        model=model,
                        match_params=budget,
                        epochs=10,
                        steps_per_epoch=steps // 10,
                        lr=1e-2 if model != "transformer" else 3e-3,
                        seed=seed,
                    )
                    result = train(config)
                    best = min(best, result.best_metric)
                    baseline[task][str(length)] = result.baseline
                metric[task][model][str(length)] = best
    return {
        "lengths": lengths,
        "train_steps": steps,
        "parameters": budget,
        "metric": metric,
        "baseline": baseline,
        "longest": {t: {m: longest(metric[t][m], baseline[t]) for m in MODELS} for t in TASKS},
    }


def longest(metric: dict[str, float], baseline: dict[str, float]) -> int:
    """The longest length solved (0 if none): best metric <= ``SOLVED`` x baseline."""
    solved = [int(t) for t, value in metric.items() if value <= SOLVED * baseline[t]]
    return max(solved, default=0)


def verdict(numbers: dict[str, Any]) -> Verdict:
    """Each ordering checked on both tasks; a tie (e.g. both solve every length tried) does not
    show the claimed difference, so it counts against the claim."""
    far = numbers["longest"]
    tasks = list(far)
    return combine(
        [
            ("LSTM > RNN", over_conditions("LSTM reaches further", {t: far[t]["lstm"] > far[t]["rnn"] for t in tasks})),
            ("GRU < LSTM", over_conditions("GRU falls short", {t: far[t]["gru"] < far[t]["lstm"] for t in tasks})),
            (
                "Transformer longest",
                over_conditions(
                    "Transformer reaches furthest",
                    {t: far[t]["transformer"] > max(far[t][m] for m in ("rnn", "gru", "lstm")) for t in tasks},
                ),
            ),
        ]
    )


def summary(numbers: dict[str, Any]) -> str:
    parts = [
        f"{t}: " + ", ".join(f"{m.upper() if m != 'transformer' else 'Transformer'} {v}" for m, v in far.items())
        for t, far in numbers["longest"].items()
    ]
    return (
        f"longest T solved (best valid <= {SOLVED:g} x baseline, {numbers['train_steps']} steps, "
        f"~{numbers['parameters']} params; of {numbers['lengths']}): " + "; ".join(parts)
    )


def plot(numbers: dict[str, Any], path: Path) -> None:
    figure = new_figure(10.0, 4.0)
    axes = figure.subplots(1, 2)
    lengths = numbers["lengths"]
    for ax, task in zip(axes, numbers["metric"], strict=True):
        for model, values in numbers["metric"][task].items():
            base = numbers["baseline"][task]
            ax.plot(lengths, [values[str(t)] / base[str(t)] for t in lengths], "o-", label=model)
        ax.axhline(SOLVED, color="gray", linestyle="--", label="solved below")
        ax.set_xscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel("best validation loss / baseline")
        ax.set_title(task)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle("Claim 2: range of memory")
    save_figure(figure, path)


CLAIM = Claim(
    number=2,
    title="range of memory",
    statement="A plain RNN captures only short-range dependencies; LSTM longer; GRU less long than LSTM; "
    "a Transformer the longest.",
    measure=measure,
    verdict=verdict,
    summary=summary,
    plot=plot,
)
