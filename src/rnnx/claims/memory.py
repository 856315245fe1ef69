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
EVAL_EVERY = 100  # optimizer steps between validations (a run stops at the first that solves)


def measure(settings: Settings) -> dict[str, Any]:
    """Every model on every task at growing lengths, shortest first, each run stopped as soon as
    it solves its length (``TrainConfig.target``). Seeds are tried in turn until one solves; a
    model that no seed gets to solve a length is not trained on longer ones (``None`` there):
    the range is the longest length solved either way, and the budget goes where it decides."""
    lengths = [10, 30, 100] if settings.quick else [10, 30, 100, 200, 400]
    steps = 1000 if settings.quick else 4000
    sizes = {"train_size": 4000, "valid_size": 300, "test_size": 100}
    budget = count_parameters(build_model("lstm", get_task("adding", seq_len=10, **sizes), hidden_size=HIDDEN))
    metric: dict[str, dict[str, dict[str, float | None]]] = {t: {m: {} for m in MODELS} for t in TASKS}
    steps_used: dict[str, dict[str, dict[str, int]]] = {t: {m: {} for m in MODELS} for t in TASKS}
    baseline: dict[str, dict[str, float]] = {t: {} for t in TASKS}
    for task in TASKS:
        for length in lengths:
            options = {"seq_len": length, **sizes}
            baseline[task][str(length)] = get_task(task, **options).baseline
        for model in MODELS:
            failed = False
            for length in lengths:
                key = str(length)
                if failed:
                    metric[task][model][key] = None
                    continue
                best, used = float("inf"), 0
                for seed in range(settings.seeds):
                    config = TrainConfig(
                        task=task,
                        task_options={"seq_len": length, **sizes},
                        model=model,
                        match_params=budget,
                        epochs=steps // EVAL_EVERY,
                        steps_per_epoch=EVAL_EVERY,
                        lr=1e-2 if model != "transformer" else 3e-3,
                        target=SOLVED * baseline[task][key],
                        seed=seed,
                    )
                    result = train(config)
                    best, used = min(best, result.best_metric), used + len(result.curve) * EVAL_EVERY
                    if best <= SOLVED * baseline[task][key]:
                        break
                metric[task][model][key] = best
                steps_used[task][model][key] = used
                failed = best > SOLVED * baseline[task][key]
    return {
        "lengths": lengths,
        "train_steps": steps,
        "seeds": settings.seeds,
        "parameters": budget,
        "metric": metric,
        "steps_used": steps_used,
        "baseline": baseline,
        "longest": {t: {m: longest(metric[t][m], baseline[t]) for m in MODELS} for t in TASKS},
    }


def longest(metric: dict[str, float | None], baseline: dict[str, float]) -> int:
    """The longest length solved (0 if none): best metric <= ``SOLVED`` x baseline."""
    solved = [int(t) for t, value in metric.items() if value is not None and value <= SOLVED * baseline[t]]
    return max(solved, default=0)


def _further(a: int, b: int, top: int) -> bool | None:
    """Whether range ``a`` exceeds range ``b``; ``None`` (cannot tell) when neither solved any
    length (the budget taught neither the task) or both solved the longest length tried."""
    if (a == 0 and b == 0) or (a >= top and b >= top):
        return None
    return a > b


def verdict(numbers: dict[str, Any]) -> Verdict:
    """Each ordering checked on both tasks; a tie between lengths that were decided (e.g. both
    solve 30 and fail 100) does not show the claimed difference, so it counts against the
    claim. A task where neither side solved anything, or both solved every length tried, cannot
    tell them apart: it is left out and named (:data:`~rnnx.claims.base.UNDECIDED` if no task
    decides)."""
    far: dict[str, dict[str, int]] = numbers["longest"]
    top: int = max(numbers["lengths"])
    tasks = list(far)

    def best_recurrent(t: str) -> int:
        return max(far[t][m] for m in ("rnn", "gru", "lstm"))

    return combine(
        [
            (
                "LSTM > RNN",
                over_conditions(
                    "LSTM reaches further", {t: _further(far[t]["lstm"], far[t]["rnn"], top) for t in tasks}
                ),
            ),
            (
                "GRU < LSTM",
                over_conditions("GRU falls short", {t: _further(far[t]["lstm"], far[t]["gru"], top) for t in tasks}),
            ),
            (
                "Transformer longest",
                over_conditions(
                    "Transformer reaches furthest",
                    {t: _further(far[t]["transformer"], best_recurrent(t), top) for t in tasks},
                ),
            ),
        ]
    )


def summary(numbers: dict[str, Any]) -> str:
    parts = [
        f"{t}: " + ", ".join(f"{m.upper() if m != 'transformer' else 'Transformer'} {v}" for m, v in far.items())
        for t, far in numbers["longest"].items()
    ]
    seeds = numbers.get("seeds", 1)
    return (
        f"longest T solved (best valid <= {SOLVED:g} x baseline within {numbers['train_steps']} steps"
        f"{f', best of {seeds} seeds' if seeds > 1 else ''}, ~{numbers['parameters']} params; of "
        f"{numbers['lengths']}): " + "; ".join(parts)
    )


def plot(numbers: dict[str, Any], path: Path) -> None:
    figure = new_figure(10.0, 4.0)
    axes = figure.subplots(1, 2)
    lengths = numbers["lengths"]
    for ax, task in zip(axes, numbers["metric"], strict=True):
        for model, values in numbers["metric"][task].items():
            base = numbers["baseline"][task]
            tried = [t for t in lengths if values.get(str(t)) is not None]  # longer ones: failed shorter
            ax.plot(tried, [values[str(t)] / base[str(t)] for t in tried], "o-", label=model)
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
