"""digits: pixel and row modes, the permuted variant, splits and the majority baseline."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from rnnx.lab.tasks import get_task


def test_pixel_and_row_modes_hold_the_same_images() -> None:
    pixel, row = get_task("digits"), get_task("digits", mode="row")
    assert pixel.train.inputs.shape == (1257, 64, 1)
    assert row.train.inputs.shape == (1257, 8, 8)
    assert (len(pixel.valid), len(pixel.test)) == (270, 270)
    assert torch.equal(pixel.train.inputs.reshape(-1, 8, 8), row.train.inputs)
    assert (pixel.input_size, pixel.seq_len, row.input_size, row.seq_len) == (1, 64, 8, 8)
    data = load_digits()
    images = {tuple(np.round(x / 16, 6)) for x in data.data}
    assert all(tuple(np.round(x.numpy().ravel(), 6)) in images for x in pixel.valid.inputs[:20])
    splits = torch.cat([pixel.train.targets, pixel.valid.targets, pixel.test.targets])
    assert Counter(splits.tolist()) == Counter(data.target.tolist())


def test_permute_applies_one_fixed_pixel_permutation() -> None:
    plain = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
    task = get_task("digits", permute=True, seed=2)
    x = task.train.inputs[:, :, 0]
    # Find each permuted image's original by its sorted pixels, then a column map that fits them all.
    index = {tuple(r.tolist()): i for i, r in enumerate(plain.sort(1).values)}
    rows = [index[tuple(r.tolist())] for r in x.sort(1).values[:50]]
    source = plain[rows]  # (50, 64) the same images unpermuted
    permutation = [int(torch.nonzero((source == x[:50, j : j + 1]).all(0))[0]) for j in range(64)]
    assert permutation != list(range(64))
    assert torch.equal(source[:, permutation], x[:50])
    assert not torch.equal(task.train.inputs, get_task("digits", seed=2).train.inputs)


def test_majority_baseline() -> None:
    task = get_task("digits", seed=5)
    majority = Counter(task.train.targets.tolist()).most_common(1)[0][0]
    assert task.baseline == pytest.approx(float((task.valid.targets == majority).double().mean()))
    assert (task.metric, task.lower_is_better) == ("accuracy", False)
    assert task.halfway == pytest.approx(1 - (1 - task.baseline) / 2)


def test_bad_mode() -> None:
    with pytest.raises(ValueError, match=r"digits: mode must be one of \('pixel', 'row'\); got 'col'"):
        get_task("digits", mode="col")
