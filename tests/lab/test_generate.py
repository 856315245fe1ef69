"""Sampling: the drawn characters follow softmax(logits / temperature); greedy at 0; bad input."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from rnnx.lab.config import TrainConfig
from rnnx.lab.generate import load_run, sample
from rnnx.lab.tasks import Task, get_task
from rnnx.lab.train import train


class FixedLogits(nn.Module):
    """Next-character logits that depend only on the last input character: ``table[last]``."""

    def __init__(self, table: Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table)
        self.windows: list[int] = []

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        self.windows.append(ids.shape[1])
        return self.table[ids]  # (B, T, V)


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    path = tmp_path_factory.mktemp("text") / "t.txt"
    path.write_text("abc" * 100, encoding="utf-8")
    return get_task("chars", path=str(path), seq_len=4)


def test_frequencies_follow_the_tempered_softmax(task: Task) -> None:
    table = torch.tensor([[0.0, 1.0, 2.0], [2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    model = FixedLogits(table)
    generator = torch.Generator().manual_seed(0)
    for temperature in (0.5, 2.0):
        text = sample(model, task, "a", 3000, temperature=temperature, generator=generator)
        pairs = Counter(itertools.pairwise(text))
        for k, previous in enumerate("abc"):
            expected = torch.softmax(table[k].double() / temperature, 0)
            total = sum(pairs[(previous, c)] for c in "abc")
            observed = torch.tensor([pairs[(previous, c)] / total for c in "abc"], dtype=torch.float64)
            assert torch.allclose(observed, expected, atol=4 / total**0.5), (temperature, previous, observed, expected)
    assert max(model.windows) == 4  # the model reads at most seq_len characters


def test_greedy_at_temperature_zero(task: Task) -> None:
    table = torch.tensor([[0.0, 1.0, 0.5], [0.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    assert sample(FixedLogits(table), task, "b", 6, temperature=0) == "bcabcab"


def test_bad_input(task: Task) -> None:
    model = FixedLogits(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="sample: prime has characters the model never saw: 'xz'"):
        sample(model, task, "zax", 3)
    with pytest.raises(ValueError, match="sample: prime must hold at least one character"):
        sample(model, task, "", 3)
    with pytest.raises(ValueError, match="sample: temperature must be >= 0; got -1"):
        sample(model, task, "a", 3, temperature=-1)
    with pytest.raises(ValueError, match="sample: task 'adding' is not a character language model"):
        sample(model, get_task("adding", train_size=4, valid_size=4, test_size=4), "a", 3)


def test_load_run_restores_the_best_weights(tmp_path: Path, task: Task) -> None:
    path = task.options["path"]
    config = TrainConfig(task="chars", task_options={"path": path, "seq_len": 4}, model="gru", hidden_size=4, epochs=2)
    result = train(config, out_dir=tmp_path / "run")
    model, loaded_task, loaded = load_run(tmp_path / "run")
    assert loaded == config.resolve()
    assert loaded_task.vocab == ("a", "b", "c")
    for a, b in zip(model.state_dict().values(), result.network.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the best epoch is the last one here
    Path(path).write_text("xyz" * 100, encoding="utf-8")
    with pytest.raises(ValueError, match="the data of task 'chars' changed since"):
        load_run(tmp_path / "run")
