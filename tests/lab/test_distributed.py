"""Data parallelism: ``torchrun`` with 2 CPU processes (gloo, loopback) equals one process on the
same global batch: each process computes the gradient of its half-batch mean, DDP averages them,
which is the gradient of the whole batch's mean; only summation order differs. With rnnx's
random regularisers on too: each sample's masks are keyed by its global index
(``rnnx.sample_offset``). A frozen peer makes the others stop after ``--timeout`` seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.lab import ddp_case

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def loopback_env() -> dict[str, str]:
    """Two CPU processes on this machine only: gloo on the loopback interface (``lo`` on Linux)."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = os.environ | {"OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "PYTHONPATH": path}
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    return env


ARGS = ["train", "--task", "adding", "--seq-len", "8", "--train-size", "64", "--valid-size", "16"]
ARGS += ["--test-size", "16", "--model", "gru:zoneout=0.2,recurrent_dropout=0.2,weight_drop=0.2"]
ARGS += ["--hidden-size", "6", "--epochs", "2", "--batch-size", "16", "--dropout", "0.2"]
ARGS += ["--lr", "0.01", "--threads", "1"]


def test_two_processes_equal_one_on_the_same_global_batch(tmp_path: Path) -> None:
    """The lab's runs, with zoneout, recurrent dropout and weight drop on the GRU and dropout
    (rnnx.SampleDropout) before the head."""
    env = loopback_env()
    two = subprocess.run(
        [*LAUNCH, "--module", "rnnx.cli", *ARGS, "--out", "two"], cwd=tmp_path, capture_output=True, text=True, env=env
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


def test_every_regulariser_two_processes_equal_one_on_the_global_batch(tmp_path: Path) -> None:
    """Dropout between 2 layers, zoneout, recurrent dropout and weight drop, on the native,
    fused and reference backends, packed input: the weights after 3 DDP steps on 2 processes
    equal one process's on the whole batch, to float64 rounding."""
    out = tmp_path / "two.pt"
    started = time.monotonic()
    two = subprocess.run(
        [*LAUNCH, "-m", "tests.lab.ddp_case", "train", str(out)],
        cwd=tmp_path, capture_output=True, text=True, env=loopback_env(), timeout=120,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr
    assert time.monotonic() - started < 60
    one = ddp_case.build()
    before = {k: v.clone() for k, v in one.state_dict().items()}
    ddp_case.train(one)
    theirs = torch.load(out, weights_only=True)
    assert theirs.keys() == before.keys()
    for key, value in one.state_dict().items():
        torch.testing.assert_close(theirs[key], value, rtol=1e-12, atol=1e-12, msg=key)
        assert not torch.equal(value, before[key]), key  # every weight was trained
    # The same in one process emulating the two; without the global numbering, the second shard
    # draws the first shard's masks and the result differs.
    numbered, positional = ddp_case.build(), ddp_case.build()
    ddp_case.train_emulated(numbered, world=2, offsets=True)
    ddp_case.train_emulated(positional, world=2, offsets=False)
    for key, value in one.state_dict().items():
        torch.testing.assert_close(numbered.state_dict()[key], value, rtol=1e-12, atol=1e-12, msg=key)
    assert not torch.allclose(positional.state_dict()["gru.weight_hh_l0"], one.state_dict()["gru.weight_hh_l0"])


def test_a_frozen_peer_stops_the_others_after_the_timeout(tmp_path: Path) -> None:
    """Process 1 joins and never reaches a collective: process 0 stops after --timeout 2 with
    one line naming the timeout, exit code 2, instead of waiting forever."""
    started = time.monotonic()
    run = subprocess.run(
        [*LAUNCH, "-m", "tests.lab.ddp_case", "frozen", *ARGS, "--out", "run", "--timeout", "2"],
        cwd=tmp_path, capture_output=True, text=True, env=loopback_env(), timeout=60,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert run.returncode != 0
    expected = (
        "rnnx train: error: process 0 waited more than timeout=2 s (--timeout) for the other processes of the "
        "data-parallel run: one of them is frozen or has died"
    )
    assert expected in run.stderr.splitlines(), run.stderr
    assert elapsed < 25  # process 1 sleeps 25 s: torchrun stopped it once process 0 failed


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "soon"])
def test_train_refuses_a_bad_timeout(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from rnnx.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([*ARGS, "--out", "never", "--timeout", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--timeout" in err
