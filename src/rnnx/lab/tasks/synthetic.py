"""Generated tasks: ``sine`` forecasting and the long-memory benchmarks ``adding`` and ``copy``.

Every split is drawn from its own ``torch.Generator`` seeded from ``seed``, so a task is the
same on every machine and every run with the same options.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnx._checks import check_int
from rnnx.lab.tasks.base import Split, Task, train_mean_mse

SPLITS = ("train", "valid", "test")


def _generators(seed: int) -> dict[str, torch.Generator]:
    return {name: torch.Generator().manual_seed(seed * 3 + k) for k, name in enumerate(SPLITS)}


def _check_common(owner: str, seq_len: int, train_size: int, valid_size: int, test_size: int, seed: int) -> None:
    check_int(owner, "seq_len", seq_len, minimum=2)
    for name, value in (("train_size", train_size), ("valid_size", valid_size), ("test_size", test_size)):
        check_int(owner, name, value, minimum=1)
    check_int(owner, "seed", seed, minimum=0)


def sine(
    *,
    seq_len: int = 50,
    horizon: int = 5,
    noise: float = 0.1,
    train_size: int = 4000,
    valid_size: int = 500,
    test_size: int = 500,
    seed: int = 0,
) -> Task:
    r"""Forecast the next ``horizon`` values of a noisy sine wave from its last ``seq_len`` values.

    Each series is :math:`x_t = A \sin(\omega t + \varphi) + \epsilon_t` with
    :math:`A \sim U(0.5, 1.5)`, :math:`\omega \sim U(0.1, 0.6)`, :math:`\varphi \sim U(0, 2\pi)`,
    :math:`\epsilon_t \sim N(0, \text{noise}^2)`. Inputs ``(N, seq_len, 1)``, targets ``(N, horizon)``
    (noisy, so the best possible MSE is ``noise**2``). Baseline: predict the training mean.
    """
    _check_common("sine", seq_len, train_size, valid_size, test_size, seed)
    check_int("sine", "horizon", horizon, minimum=1)
    if not isinstance(noise, int | float) or isinstance(noise, bool) or not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"sine: noise must be a finite number >= 0; got {noise!r}")
    splits = {}
    for (name, g), n in zip(_generators(seed).items(), (train_size, valid_size, test_size), strict=True):
        amplitude = 0.5 + torch.rand(n, 1, generator=g)
        omega = 0.1 + 0.5 * torch.rand(n, 1, generator=g)
        phase = 2 * math.pi * torch.rand(n, 1, generator=g)
        t = torch.arange(seq_len + horizon, dtype=torch.float32)
        series = amplitude * torch.sin(omega * t + phase) + noise * torch.randn(n, seq_len + horizon, generator=g)
        splits[name] = Split(series[:, :seq_len, None], series[:, seq_len:].contiguous())
    baseline = train_mean_mse(splits["train"].targets, splits["valid"].targets)
    options = {"seq_len": seq_len, "horizon": horizon, "noise": noise, "seed": seed}
    options |= {"train_size": train_size, "valid_size": valid_size, "test_size": test_size}
    return Task(
        "sine",
        "regression",
        "mse",
        baseline,
        "MSE of predicting the training mean (computed on the validation split)",
        input_size=1,
        output_size=horizon,
        seq_len=seq_len,
        tokens=False,
        per_step=False,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        options=options,
    )


def adding_problem(n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` adding-problem sequences: inputs ``(n, seq_len, 2)`` (a value in ``U(0, 1)`` and a
    0/1 marker), targets ``(n, 1)`` = the sum of the two marked values. One marker falls in the
    first half, one in the second, as in Le et al. (2015) and Arjovsky et al. (2016)."""
    values = torch.rand(n, seq_len, generator=generator)
    half = seq_len // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, seq_len, (n,), generator=generator)
    markers = torch.zeros(n, seq_len)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = (values[rows, first] + values[rows, second])[:, None]
    return torch.stack([values, markers], dim=-1), targets


def adding(
    *, seq_len: int = 50, train_size: int = 10000, valid_size: int = 1000, test_size: int = 1000, seed: int = 0
) -> Task:
    """The adding problem (Hochreiter & Schmidhuber 1997): among ``seq_len`` random values two are
    marked; output their sum (MSE). Predicting the mean scores the target's variance, 1/6
    (the sum of two ``U(0, 1)``); the baseline is that MSE measured on the validation split."""
    _check_common("adding", seq_len, train_size, valid_size, test_size, seed)
    sizes = (train_size, valid_size, test_size)
    pairs = zip(_generators(seed).items(), sizes, strict=True)
    splits = {name: Split(*adding_problem(n, seq_len, g)) for (name, g), n in pairs}
    baseline = train_mean_mse(splits["train"].targets, splits["valid"].targets)
    options = {"seq_len": seq_len, "seed": seed, "train_size": train_size, "valid_size": valid_size}
    options["test_size"] = test_size
    return Task(
        "adding",
        "regression",
        "mse",
        baseline,
        "MSE of predicting the training mean (about 1/6, the variance of the target)",
        input_size=2,
        output_size=1,
        seq_len=seq_len,
        tokens=False,
        per_step=False,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        options=options,
    )


COPY_BLANK, COPY_DELIMITER = 0, 9
COPY_SYMBOLS, COPY_LENGTH = 8, 10


def copy_problem(n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` copy-memory sequences (Arjovsky et al. 2016) of ``seq_len + 20`` steps.

    Input: 10 symbols from ``1..8``, ``seq_len - 1`` blanks (0), the delimiter (9), 10 blanks.
    Target: ``seq_len + 10`` blanks, then the 10 symbols. Both ``(n, seq_len + 20)`` token ids.
    """
    symbols = torch.randint(1, COPY_SYMBOLS + 1, (n, COPY_LENGTH), generator=generator)
    total = seq_len + 2 * COPY_LENGTH
    inputs = torch.full((n, total), COPY_BLANK, dtype=torch.long)
    inputs[:, :COPY_LENGTH] = symbols
    inputs[:, COPY_LENGTH + seq_len - 1] = COPY_DELIMITER
    targets = torch.full((n, total), COPY_BLANK, dtype=torch.long)
    targets[:, -COPY_LENGTH:] = symbols
    return inputs, targets


def copy_baseline(seq_len: int) -> float:
    """Cross-entropy per step of the best memoryless strategy: blanks with certainty, then a uniform
    guess among the 8 symbols for the last 10 steps, ``10 ln(8) / (seq_len + 20)``."""
    return COPY_LENGTH * math.log(COPY_SYMBOLS) / (seq_len + 2 * COPY_LENGTH)


def copy(
    *, seq_len: int = 50, train_size: int = 10000, valid_size: int = 1000, test_size: int = 1000, seed: int = 0
) -> Task:
    """The copy-memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016; Bai et al. 2018):
    remember 10 symbols across ``seq_len`` blanks, then output them (cross-entropy per step, nats)."""
    _check_common("copy", seq_len, train_size, valid_size, test_size, seed)
    sizes = (train_size, valid_size, test_size)
    pairs = zip(_generators(seed).items(), sizes, strict=True)
    splits = {name: Split(*copy_problem(n, seq_len, g)) for (name, g), n in pairs}
    options = {"seq_len": seq_len, "seed": seed, "train_size": train_size, "valid_size": valid_size}
    options["test_size"] = test_size
    return Task(
        "copy",
        "classification",
        "cross_entropy",
        copy_baseline(seq_len),
        "memoryless: blanks, then a uniform guess among 8 symbols, 10 ln(8) / (T + 20)",
        input_size=COPY_DELIMITER + 1,
        output_size=COPY_DELIMITER + 1,
        seq_len=seq_len + 2 * COPY_LENGTH,
        tokens=True,
        per_step=True,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        options=options,
    )
