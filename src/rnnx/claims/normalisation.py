"""Claim 4: batch normalisation is unstable with small batches and poor inside RNNs; layer
normalisation is stable with small batches and good for RNNs.

Measured on the lab's ``digits`` task read row by row (8 steps of 8 pixels, 10 classes;
accuracy): the same LSTM classifier with batch normalisation per time step
(:class:`~rnnx.claims.batchnorm.BatchNormLSTM`, Cooijmans et al. 2017), with
``layer_norm=True`` (Ba, Kiros & Hinton 2016) and without normalisation, trained the same number
of steps at batch sizes 2, 8 and 64, over several seeds; then the validation accuracy in
evaluation mode (batch norm with its running statistics). The lab's ``train`` builds models from
spec strings only, so the three models share this module's short loop over the lab's batches,
loss and :func:`~rnnx.lab.train.evaluate`.
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean, pstdev
from typing import Any

import torch
from torch import nn

from rnnx.claims.base import Claim, Settings, Verdict, combine, over_conditions
from rnnx.claims.batchnorm import BatchNormLSTM
from rnnx.inspection.plots import new_figure, save_figure
from rnnx.lab.networks import RecurrentEncoder, SequenceModel
from rnnx.lab.tasks import Task, get_task
from rnnx.lab.train import evaluate
from rnnx.modules import LSTM

NORMS = ("batch norm", "layer norm", "none")
BATCH_SIZES = (2, 8, 64)
HIDDEN = 64
MARGIN = 0.02  # accuracy differences under 2 points are noise at these sizes


def build(norm: str, task: Task) -> nn.Module:
    """The LSTM classifier with normalisation ``norm``."""
    if norm == "batch norm":
        rnn: nn.Module = BatchNormLSTM(task.input_size, HIDDEN, task.seq_len)
    else:
        rnn = LSTM(task.input_size, HIDDEN, batch_first=True, layer_norm=norm == "layer norm")
    return SequenceModel(RecurrentEncoder(rnn), nn.Linear(HIDDEN, task.output_size))


def fit(model: nn.Module, task: Task, *, batch_size: int, steps: int, seed: int) -> float:
    """AdamW for ``steps`` steps on shuffled training batches; the validation accuracy."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    step, epoch = 0, 0
    model.train()
    while step < steps:
        for batch in task.batches("train", batch_size, shuffle=True, seed=seed, epoch=epoch):
            loss = task.loss(model(batch.inputs, batch.lengths), batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            if step == steps:
                break
        epoch += 1
    return float(evaluate(model, task, "valid"))


def measure(settings: Settings) -> dict[str, Any]:
    steps = 200 if settings.quick else 1000
    seeds = max(settings.seeds, 2)  # a spread needs two runs at least
    task = get_task("digits", mode="row")
    accuracy: dict[str, dict[str, list[float]]] = {n: {str(b): [] for b in BATCH_SIZES} for n in NORMS}
    for batch_size in BATCH_SIZES:
        for norm in NORMS:
            for seed in range(seeds):
                torch.manual_seed(seed)
                model = build(norm, task)
                accuracy[norm][str(batch_size)].append(fit(model, task, batch_size=batch_size, steps=steps, seed=seed))
    return {
        "task": "digits (rows)",
        "steps": steps,
        "seeds": seeds,
        "batch_sizes": list(BATCH_SIZES),
        "accuracy": accuracy,
    }


def verdict(numbers: dict[str, Any]) -> Verdict:
    """Four parts, each against the unnormalised LSTM at the same batch size and steps (which
    sees fewer examples with smaller batches, so drops are compared with its drop):

    - BN unstable with small batches: its drop from the largest to the smallest batch exceeds
      the plain LSTM's by ``MARGIN``;
    - BN poor in RNNs: at the largest batch it beats the plain LSTM by less than ``MARGIN``;
    - LN stable with small batches: its drop exceeds the plain LSTM's by less than ``MARGIN``;
    - LN good for RNNs: it beats the plain LSTM by ``MARGIN`` at every batch size.
    """
    acc: dict[str, dict[str, float]] = {n: {b: mean(v) for b, v in by.items()} for n, by in numbers["accuracy"].items()}
    small, large = str(min(numbers["batch_sizes"])), str(max(numbers["batch_sizes"]))

    def drop(norm: str) -> float:
        return acc[norm][large] - acc[norm][small]

    bn_unstable = drop("batch norm") > drop("none") + MARGIN
    bn_poor = acc["batch norm"][large] < acc["none"][large] + MARGIN
    ln_stable = drop("layer norm") < drop("none") + MARGIN
    ln_good = {f"B={b}": acc["layer norm"][b] > acc["none"][b] + MARGIN for b in acc["none"]}
    bn_drop = f"drop B={large}->{small}: BN {drop('batch norm'):.2f}, none {drop('none'):.2f}"
    ln_drop = f"drop B={large}->{small}: LN {drop('layer norm'):.2f}, none {drop('none'):.2f}"
    at_large = f"B={large}: BN {acc['batch norm'][large]:.2f}, none {acc['none'][large]:.2f}"
    return combine(
        [
            ("BN unstable with small batches", over_conditions("", {bn_drop: bn_unstable})),
            ("BN poor in RNNs", over_conditions("", {at_large: bn_poor})),
            ("LN stable with small batches", over_conditions("", {ln_drop: ln_stable})),
            ("LN good for RNNs", over_conditions("LN beats no norm", ln_good)),
        ]
    )


def summary(numbers: dict[str, Any]) -> str:
    parts = []
    for norm, by in numbers["accuracy"].items():
        parts.append(f"{norm}: " + ", ".join(f"B={b} {mean(v):.2f}±{pstdev(v):.2f}" for b, v in by.items()))
    return (
        f"valid accuracy, {numbers['task']}, LSTM H={HIDDEN}, {numbers['steps']} steps, {numbers['seeds']} seeds: "
        + "; ".join(parts)
    )


def plot(numbers: dict[str, Any], path: Path) -> None:
    figure = new_figure(6.5, 4.0)
    ax = figure.add_subplot()
    sizes = numbers["batch_sizes"]
    for norm, by in numbers["accuracy"].items():
        means = [mean(by[str(b)]) for b in sizes]
        spreads = [pstdev(by[str(b)]) for b in sizes]
        ax.errorbar(sizes, means, yerr=spreads, marker="o", capsize=3, label=norm)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.set_xlabel("batch size")
    ax.set_ylabel("validation accuracy (mean ± sd over seeds)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    figure.suptitle("Claim 4: batch norm vs layer norm in an LSTM")
    save_figure(figure, path)


CLAIM = Claim(
    number=4,
    title="normalisation",
    statement="Batch normalisation is unstable with small batches and poor inside RNNs; layer normalisation "
    "is stable with small batches and good for RNNs.",
    measure=measure,
    verdict=verdict,
    summary=summary,
    plot=plot,
)
