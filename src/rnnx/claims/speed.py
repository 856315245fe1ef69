"""Claim 1: a plain RNN is faster than LSTM and GRU, GRU faster than LSTM, and a Transformer
faster than all three because it processes the sequence in parallel.

Measured: the wall time of one forward and backward pass (``out.sum().backward()``) of one
layer of each kind on ``(T, B, I)`` inputs, for ``T`` from 10 to 1000, at equal hidden size and
at equal parameter count (each model's width chosen so its parameter count is closest to the
LSTM's). rnnx layers run with ``backend="auto"``, as a user gets them; the Transformer is one
pre-norm encoder block (:class:`rnnx.TransformerEncoder`, Vaswani et al. 2017). Each time is
the minimum over rounds after a warm-up, the models interleaved within each round.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnx.claims.base import FASTER, Claim, Settings, Verdict, combine, over_conditions
from rnnx.inspection.plots import new_figure, save_figure
from rnnx.lab.models import count_parameters, match_hidden_size
from rnnx.modules import GRU, LSTM, RNN, TransformerEncoder

MODELS = ("RNN", "GRU", "LSTM", "Transformer")
SETTINGS = ("equal H", "equal params")
INPUT, HIDDEN, BATCH, HEADS = 32, 64, 8, 4


def build(kind: str, hidden: int) -> nn.Module:
    """One layer of ``kind`` with width ``hidden`` reading ``INPUT`` features."""
    if kind == "Transformer":
        return TransformerEncoder(INPUT, hidden, num_layers=1, num_heads=HEADS)
    layer: type[nn.Module] = {"RNN": RNN, "GRU": GRU, "LSTM": LSTM}[kind]
    return layer(INPUT, hidden)


def widths() -> dict[str, dict[str, int]]:
    """Per setting, the width of each model: ``HIDDEN``, or matched to the LSTM's parameters."""
    target = count_parameters(build("LSTM", HIDDEN))
    matched = {}
    for kind in MODELS:

        def count(h: int, kind: str = kind) -> int:
            return count_parameters(build(kind, h))

        matched[kind] = match_hidden_size(count, target, step=HEADS if kind == "Transformer" else 1)
    return {SETTINGS[0]: dict.fromkeys(MODELS, HIDDEN), SETTINGS[1]: matched}


def time_rounds(calls: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Minimum seconds per call of each function, in interleaved rounds after one warm-up."""
    best = dict.fromkeys(calls, float("inf"))
    for fn in calls.values():
        fn()
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def forward_backward(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()
        model.zero_grad(set_to_none=True)

    return run


def measure(settings: Settings) -> dict[str, Any]:
    lengths = [10, 100, 1000] if settings.quick else [10, 30, 100, 300, 1000]
    repeats = 3 if settings.quick else 7
    torch.manual_seed(0)
    width = widths()
    seconds: dict[str, dict[str, dict[str, float]]] = {}
    params: dict[str, dict[str, int]] = {}
    for setting, sizes in width.items():
        models = {kind: build(kind, sizes[kind]) for kind in MODELS}
        params[setting] = {kind: count_parameters(m) for kind, m in models.items()}
        seconds[setting] = {kind: {} for kind in MODELS}
        for steps in lengths:
            x = torch.randn(steps, BATCH, INPUT)
            best = time_rounds({kind: forward_backward(m, x) for kind, m in models.items()}, repeats)
            for kind, value in best.items():
                seconds[setting][kind][str(steps)] = value
    return {
        "lengths": lengths,
        "batch": BATCH,
        "input_size": INPUT,
        "widths": width,
        "parameters": params,
        "seconds": seconds,
        "threads": torch.get_num_threads(),
    }


def verdict(numbers: dict[str, Any]) -> Verdict:
    """Each part checked at every length and both settings, with a margin of ``FASTER``."""
    seconds = numbers["seconds"]
    lengths = [str(t) for t in numbers["lengths"]]
    conditions = [(s, t) for s in seconds for t in lengths]

    def where(faster: Callable[[dict[str, float]], bool]) -> dict[str, bool]:
        return {f"({s}) T={t}": faster({k: seconds[s][k][t] for k in MODELS}) for s, t in conditions}

    rnn = where(lambda s: s["RNN"] < FASTER * min(s["LSTM"], s["GRU"]))
    gru = where(lambda s: s["GRU"] < FASTER * s["LSTM"])
    transformer = where(lambda s: s["Transformer"] < FASTER * min(s["RNN"], s["GRU"], s["LSTM"]))
    return combine(
        [
            ("RNN vs LSTM/GRU", over_conditions("RNN faster", rnn)),
            ("GRU vs LSTM", over_conditions("GRU faster", gru)),
            ("Transformer vs all", over_conditions("Transformer fastest", transformer)),
        ]
    )


def summary(numbers: dict[str, Any]) -> str:
    parts = []
    for steps in (numbers["lengths"][0], numbers["lengths"][-1]):
        times = numbers["seconds"][SETTINGS[0]]
        parts.append(f"T={steps}: " + ", ".join(f"{k} {times[k][str(steps)] * 1e3:.2g}" for k in MODELS))
    return f"fwd+bwd ms, H={HIDDEN}, B={numbers['batch']}: " + "; ".join(parts)


def plot(numbers: dict[str, Any], path: Path) -> None:
    figure = new_figure(10.0, 4.0)
    axes = figure.subplots(1, 2, sharey=True)
    for ax, setting in zip(axes, SETTINGS, strict=True):
        for kind in MODELS:
            times = numbers["seconds"][setting][kind]
            width = numbers["widths"][setting][kind]
            params = numbers["parameters"][setting][kind]
            ax.plot(
                numbers["lengths"],
                [times[str(t)] * 1e3 for t in numbers["lengths"]],
                "o-",
                label=f"{kind} (width {width}, {params} params)",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_title(setting)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("forward + backward, ms")
    figure.suptitle("Claim 1: speed")
    save_figure(figure, path)


CLAIM = Claim(
    number=1,
    title="speed",
    statement="An RNN is faster than LSTM and GRU; GRU is faster than LSTM; a Transformer is faster than all "
    "three because it processes the sequence in parallel.",
    measure=measure,
    verdict=verdict,
    summary=summary,
    plot=plot,
)
