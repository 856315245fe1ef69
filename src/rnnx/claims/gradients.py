"""Claim 3: with recurrent weights of spectral radius below 1 gradients decay exponentially with
distance, above 1 they explode; LSTM and GRU mitigate the vanishing.

Measured with :func:`rnnx.gradient_flow`: :math:`\\lVert \\partial L / \\partial h_t \\rVert`
for a loss that reads only the last step, on adding-problem inputs (Hochreiter & Schmidhuber
1997). Models: a tanh RNN whose ``W_hh`` is a random orthogonal matrix times 0.5, 0.9, 1.0 and
1.1 (spectral radius = that factor; Saxe et al. 2014, Le et al. 2015), and RNN, LSTM and GRU
with their default initialisation, at initialisation and after a short training on the adding
problem. From each curve: the ratio of the gradient at the furthest step to the one at the loss,
the mean factor per step, and how well a straight line fits ``log norm`` against distance
(exponential decay or growth is a straight line there; Bengio et al. 1994, Pascanu et al. 2013).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnx.claims.base import DEPENDS, FAILS, HOLDS, Claim, Settings, Verdict, combine
from rnnx.inspection.gradients import gradient_flow
from rnnx.inspection.plots import new_figure, save_figure
from rnnx.lab.tasks.synthetic import adding_problem
from rnnx.modules import GRU, LSTM, RNN

SCALES = (0.5, 0.9, 1.0, 1.1)
GATED = ("LSTM", "GRU")
HIDDEN, BATCH = 64, 32
EXPONENTIAL_FIT = 0.9  # R^2 of log norm against distance above which the change is called exponential
MITIGATES = 10.0  # a gated model mitigates vanishing if 10x more gradient reaches the furthest step


class Regressor(nn.Module):
    """A recurrent layer and a linear read-out of its last step: ``(T, B, 2) -> (B, 1)``."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        result: Tensor = self.head(out[-1])
        return result


def scaled_orthogonal_rnn(scale: float) -> RNN:
    rnn = RNN(2, HIDDEN)
    weight = rnn.get_parameter("weight_hh_l0")
    with torch.no_grad():
        nn.init.orthogonal_(weight)
        weight.mul_(scale)
    return rnn


def curve_stats(norms: list[float]) -> dict[str, float]:
    """Ratio furthest/last, mean factor per step, and the R^2 of a line through log norm."""
    values = torch.tensor(norms, dtype=torch.float64).clamp_min(1e-300)
    steps = values.numel()
    distance = torch.arange(steps - 1, -1, -1, dtype=torch.float64)
    logs = values.log()
    slope = float(
        ((distance - distance.mean()) * (logs - logs.mean())).sum() / (distance - distance.mean()).pow(2).sum()
    )
    fitted = logs.mean() + slope * (distance - distance.mean())
    total = float((logs - logs.mean()).pow(2).sum())
    r2 = 1.0 - float((logs - fitted).pow(2).sum()) / total if total > 0 else 1.0
    ratio = float(values[0] / values[-1])
    return {"ratio": ratio, "per_step": math.exp(slope), "r2": r2}


def norms_of(model: Regressor, x: Tensor) -> list[float]:
    """The gradient norm at every step, measured on a float64 copy: at radius 0.5 it falls by
    ~1e-30 over 100 steps, below float32's normal range."""
    probe = copy.deepcopy(model).double()
    weights = torch.linspace(-1.0, 1.0, x.shape[1], dtype=torch.float64).unsqueeze(1)
    flow = gradient_flow(probe, x.double(), lambda y: (y * weights).sum())
    return [float(v) for v in flow.get("rnn").norms]


def train(model: Regressor, steps: int, seq_len: int, seed: int) -> float:
    """Adam on fresh adding-problem batches; returns the last batch's MSE."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss = torch.zeros(())
    for _ in range(steps):
        x, y = adding_problem(BATCH, seq_len, generator)
        loss = nn.functional.mse_loss(model(x.transpose(0, 1)), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return float(loss.detach())


def measure(settings: Settings) -> dict[str, Any]:
    seq_len = 50 if settings.quick else 100
    steps = 150 if settings.quick else 1500
    torch.manual_seed(0)
    x = adding_problem(BATCH, seq_len, torch.Generator().manual_seed(1))[0].transpose(0, 1)  # (T, B, 2)
    curves: dict[str, list[float]] = {}
    for scale in SCALES:
        curves[f"RNN, orthogonal x {scale}"] = norms_of(Regressor(scaled_orthogonal_rnn(scale)), x)
    losses: dict[str, float] = {}
    for kind, layer in (("RNN", RNN), ("LSTM", LSTM), ("GRU", GRU)):
        torch.manual_seed(0)
        model = Regressor(layer(2, HIDDEN))
        curves[f"{kind}, init"] = norms_of(model, x)
        losses[kind] = train(model, steps, seq_len, seed=2)
        curves[f"{kind}, trained"] = norms_of(model, x)
    return {
        "seq_len": seq_len,
        "train_steps": steps,
        "final_train_mse": losses,
        "curves": curves,
        "stats": {name: curve_stats(norms) for name, norms in curves.items()},
    }


def verdict(numbers: dict[str, Any]) -> Verdict:
    """Three parts: decay below radius 1 (both 0.5 and 0.9: per-step factor < 1 with a good
    exponential fit), explosion above (1.1: the furthest gradient larger than the nearest),
    and LSTM/GRU keeping ``MITIGATES`` times more gradient at the furthest step than the plain
    RNN, at init and after training."""
    stats = numbers["stats"]
    below = {s: stats[f"RNN, orthogonal x {s}"] for s in SCALES if s < 1}
    decays = [s for s, v in below.items() if v["per_step"] < 1 and v["r2"] >= EXPONENTIAL_FIT]
    if len(decays) == len(below):
        decay = Verdict(HOLDS, "exponential decay at radius " + ", ".join(map(str, below)))
    elif decays:
        decay = Verdict(DEPENDS, f"exponential decay only at radius {', '.join(map(str, decays))}")
    else:
        decay = Verdict(FAILS, "no exponential decay below radius 1")
    above = {s: stats[f"RNN, orthogonal x {s}"] for s in SCALES if s > 1}
    grows = [s for s, v in above.items() if v["ratio"] > 1]
    if len(grows) == len(above):
        explode = Verdict(HOLDS, "the gradient grows with distance at radius " + ", ".join(map(str, above)))
    elif grows:
        explode = Verdict(DEPENDS, f"the gradient grows only at radius {', '.join(map(str, grows))}")
    else:
        worst = max(v["ratio"] for v in above.values())
        explode = Verdict(FAILS, f"no growth with distance above radius 1 (furthest/last {worst:.2g})")
    wins = {
        f"{kind} {state}": stats[f"{kind}, {state}"]["ratio"] > MITIGATES * stats[f"RNN, {state}"]["ratio"]
        for kind in GATED
        for state in ("init", "trained")
    }
    held = [k for k, ok in wins.items() if ok]
    if len(held) == len(wins):
        gated = Verdict(HOLDS, f"LSTM and GRU keep >{MITIGATES:g}x the RNN's gradient, at init and trained")
    elif held:
        gated = Verdict(DEPENDS, f">{MITIGATES:g}x the RNN's gradient only for {', '.join(held)}")
    else:
        gated = Verdict(FAILS, f"LSTM and GRU keep less than {MITIGATES:g}x the RNN's gradient")
    return combine([("radius < 1", decay), ("radius > 1", explode), ("gated", gated)])


def summary(numbers: dict[str, Any]) -> str:
    stats = numbers["stats"]
    shown = [f"x{s}: {stats[f'RNN, orthogonal x {s}']['ratio']:.1e}" for s in SCALES]
    shown += [
        f"{k} {state}: {stats[f'{k}, {state}']['ratio']:.1e}" for k in ("RNN", *GATED) for state in ("init", "trained")
    ]
    mse = ", ".join(f"{k} {v:.3f}" for k, v in numbers["final_train_mse"].items())
    head = f"gradient at distance {numbers['seq_len'] - 1} / at the loss: "
    return head + ", ".join(shown) + f" (trained {numbers['train_steps']} steps; MSE {mse}, baseline 0.167)"


def plot(numbers: dict[str, Any], path: Path) -> None:
    figure = new_figure(11.0, 4.2)
    axes = figure.subplots(1, 2, sharey=True)
    for ax, keep in zip(axes, ("orthogonal", ("init", "trained")), strict=True):
        for name, norms in numbers["curves"].items():
            if (keep == "orthogonal") == ("orthogonal" in name):
                distance = list(range(len(norms) - 1, -1, -1))
                ax.plot(distance, norms, label=name)
        ax.set_yscale("log")
        ax.set_xlabel("distance from the loss (steps)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("‖∂L/∂h_t‖")
    axes[0].set_title("tanh RNN, scaled orthogonal W_hh")
    axes[1].set_title("default init and after training (adding problem)")
    figure.suptitle("Claim 3: vanishing and exploding gradients")
    save_figure(figure, path)


CLAIM = Claim(
    number=3,
    title="vanishing/exploding gradients",
    statement="With recurrent weights of spectral radius < 1 gradients decay exponentially with distance, "
    "> 1 they explode; LSTM and GRU mitigate vanishing.",
    measure=measure,
    verdict=verdict,
    summary=summary,
    plot=plot,
)
