"""Data parallelism: ``torchrun`` with 2 CPU processes (gloo) equals one process on the same
global batch: each process computes the gradient of its half-batch mean, DDP averages them,
which is the gradient of the whole batch's mean; only summation order differs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ARGS = ["train", "--task", "adding", "--seq-len", "8", "--train-size", "64", "--valid-size", "16"]
ARGS += ["--test-size", "16", "--model", "gru", "--hidden-size", "6", "--epochs", "2", "--batch-size", "16"]
ARGS += ["--lr", "0.01", "--threads", "1"]


def test_two_processes_equal_one_on_the_same_global_batch(tmp_path: Path) -> None:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    two = subprocess.run(
        [*launch, "--module", "rnnx.cli", *ARGS, "--out", "two"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert two.returncode == 0, two.stderr
    assert len(two.stdout.splitlines()) == 1  # one summary, from process 0
    one = subprocess.run(
        [sys.executable, "-m", "rnnx.cli", *ARGS, "--out", "one"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert one.returncode == 0, one.stderr
    a = json.loads((tmp_path / "one" / "result.json").read_text())
    b = json.loads((tmp_path / "two" / "result.json").read_text())
    assert (a["world_size"], b["world_size"]) == (1, 2)
    assert a["steps"] == b["steps"] == 8
    assert b["curve"] == pytest.approx(a["curve"], rel=1e-5)
    assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
    wa = load_file(str(tmp_path / "one" / "checkpoints" / "epoch-0002" / "model.safetensors"))
    wb = load_file(str(tmp_path / "two" / "checkpoints" / "epoch-0002" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], atol=1e-6, rtol=1e-5)
    assert not torch.equal(wa["encoder.rnn.weight_hh_l0"], torch.zeros_like(wa["encoder.rnn.weight_hh_l0"]))
