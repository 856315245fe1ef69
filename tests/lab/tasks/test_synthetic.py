"""sine, adding and copy: shapes, determinism by seed, targets and baselines against plain oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnx.lab.tasks import get_task
from rnnx.lab.tasks.synthetic import copy_baseline

SMALL = {"train_size": 64, "valid_size": 32, "test_size": 16}


@pytest.mark.parametrize("name", ["sine", "adding", "copy"])
def test_determinism_by_seed(name: str) -> None:
    a, b, c = (get_task(name, seq_len=12, seed=s, **SMALL) for s in (3, 3, 4))
    for split in ("train", "valid", "test"):
        assert torch.equal(a.split(split).inputs, b.split(split).inputs)
        assert torch.equal(a.split(split).targets, b.split(split).targets)
    assert not torch.equal(a.train.inputs, c.train.inputs)
    assert not torch.equal(a.train.inputs, a.valid.inputs[: len(a.train)]) or len(a.valid) < len(a.train)


def test_adding_targets_are_the_sum_of_the_two_marked_values() -> None:
    task = get_task("adding", seq_len=20, seed=1, **SMALL)
    assert task.train.inputs.shape == (64, 20, 2)
    assert task.train.targets.shape == (64, 1)
    x = task.train.inputs.numpy()
    for row, target in zip(x, task.train.targets.numpy(), strict=True):
        marked = np.flatnonzero(row[:, 1])
        assert len(marked) == 2
        assert marked[0] < 10 <= marked[1]  # one in each half
        assert target[0] == pytest.approx(row[marked, 0].sum(), abs=1e-6)


def test_adding_baseline_is_the_mse_of_predicting_the_training_mean() -> None:
    task = get_task("adding", seq_len=10, train_size=4000, valid_size=4000, test_size=1)
    mean = task.train.targets.double().mean()
    oracle = float(((task.valid.targets.double() - mean) ** 2).mean())
    assert task.baseline == pytest.approx(oracle, rel=1e-12)
    assert task.baseline == pytest.approx(1 / 6, abs=0.01)  # the variance of U(0,1) + U(0,1)
    assert (task.metric, task.lower_is_better, task.halfway) == ("mse", True, task.baseline / 2)


def test_copy_layout() -> None:
    task = get_task("copy", seq_len=5, seed=0, **SMALL)
    x, y = task.train.inputs, task.train.targets
    assert x.shape == y.shape == (64, 25)
    assert task.seq_len == 25
    assert ((x[:, :10] >= 1) & (x[:, :10] <= 8)).all()
    assert (x[:, 10:14] == 0).all()
    assert (x[:, 14] == 9).all()  # the delimiter after T - 1 blanks
    assert (x[:, 15:] == 0).all()
    assert (y[:, :15] == 0).all()
    assert torch.equal(y[:, 15:], x[:, :10])


def test_copy_baseline_is_the_memoryless_cross_entropy() -> None:
    T = 30  # noqa: N806 - the papers call the delay T
    task = get_task("copy", seq_len=T, **SMALL)
    assert task.baseline == pytest.approx(10 * math.log(8) / (T + 20), rel=1e-12)
    assert copy_baseline(T) == task.baseline
    # The memoryless predictor: a blank for sure, then uniform over the 8 symbols for the last 10.
    probabilities = torch.zeros(T + 20, 10, dtype=torch.float64)
    probabilities[: T + 10, 0] = 1.0
    probabilities[T + 10 :, 1:9] = 1 / 8
    y = task.valid.targets
    picked = probabilities[torch.arange(T + 20), y]  # (N, T + 20)
    assert float(-picked.log().mean()) == pytest.approx(task.baseline, rel=1e-12)


def test_sine_windows_and_baseline() -> None:
    task = get_task("sine", seq_len=16, horizon=3, noise=0.0, **SMALL)
    assert task.train.inputs.shape == (64, 16, 1)
    assert task.train.targets.shape == (64, 3)
    # Without noise each row is one sine: a*sin(w t + p) satisfies x[t+1] + x[t-1] = 2 cos(w) x[t].
    row = torch.cat([task.train.inputs[0, :, 0], task.train.targets[0]]).double()
    ratio = (row[2:] + row[:-2]) / row[1:-1]
    good = row[1:-1].abs() > 0.1
    assert float(ratio[good].std()) < 1e-4
    oracle = float(((task.valid.targets.double() - task.train.targets.double().mean(0)) ** 2).mean())
    assert task.baseline == pytest.approx(oracle, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "options", "error", "match"),
    [
        ("adding", {"seq_len": 1}, ValueError, "adding: seq_len must be >= 2; got 1"),
        ("copy", {"train_size": 0}, ValueError, "copy: train_size must be >= 1; got 0"),
        ("sine", {"horizon": 2.5}, TypeError, "sine: horizon must be an int; got float 2.5"),
        ("sine", {"noise": -1}, ValueError, "sine: noise must be a finite number >= 0; got -1"),
        ("sine", {"noise": float("nan")}, ValueError, "sine: noise must be a finite number >= 0; got nan"),
        ("sine", {"noise": float("inf")}, ValueError, "sine: noise must be a finite number >= 0; got inf"),
        ("adding", {"window": 3}, ValueError, "task 'adding' does not take window; it takes seq_len, "),
        ("nope", {}, ValueError, "unknown task 'nope'; choose one of sine, adding, copy"),
    ],
)
def test_bad_options(name: str, options: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        get_task(name, **options)


def test_batches_shuffle_by_seed_and_epoch_and_shard() -> None:
    task = get_task("adding", seq_len=4, **SMALL)
    first = [b.targets for b in task.batches("train", 16, shuffle=True, seed=1, epoch=0)]
    again = [b.targets for b in task.batches("train", 16, shuffle=True, seed=1, epoch=0)]
    other = [b.targets for b in task.batches("train", 16, shuffle=True, seed=1, epoch=1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(torch.cat(first), torch.cat(other))
    assert torch.equal(torch.cat(first).sort(0).values, task.train.targets.sort(0).values)  # a permutation
    shards = [list(task.batches("train", 16, shuffle=True, seed=1, epoch=0, rank=r, world_size=2)) for r in (0, 1)]
    for whole, a, b in zip(first, *shards, strict=True):
        assert torch.equal(torch.cat([a.targets, b.targets]), whole)
    with pytest.raises(ValueError, match="batch_size 15 must be a multiple of world_size 2"):
        next(task.batches("train", 15, world_size=2))
    assert [len(b.targets) for b in task.batches("valid", 20)] == [20, 12]
    assert [len(b.targets) for b in task.batches("valid", 20, drop_last=True)] == [20]
