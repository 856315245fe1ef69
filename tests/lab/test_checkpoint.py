"""Checkpoint pieces: RNG states round-trip, atomic writes, strict weight loading."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rnnx.lab.checkpoint import atomic_write, load_weights, rng_states, save_weights, set_rng_states


def draws() -> tuple[list[float], list[float], list[float]]:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    np.random.randn()  # leaves a cached Gaussian in numpy's state
    torch.save(rng_states(), tmp_path / "rng.pt")
    expected = draws()
    draws()
    set_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert draws() == expected


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")

    def fail(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_weights_must_fit(tmp_path: Path) -> None:
    save_weights(tmp_path / "w.safetensors", nn.Linear(2, 3))
    other = nn.Linear(2, 3)
    load_weights(tmp_path / "w.safetensors", other)
    with pytest.raises(
        ValueError, match=r"do not fit the model: missing \['1.weight', '1.bias'\], unexpected \['bias', 'weight'\]"
    ):
        load_weights(tmp_path / "w.safetensors", nn.Sequential(nn.Identity(), nn.Linear(2, 3)))
