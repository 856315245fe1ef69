"""The acceptance run: ``rnnx compare --quick`` of rnn, lstm, gru and transformer on the adding
problem with T = 50 finishes well within 3 minutes on 2 CPU cores, and LSTM and GRU beat the
trivial baseline (predicting the mean, MSE about 1/6) in the table it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def test_quick_compare_on_adding(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "rnnx.cli", "compare", "--task", "adding", "--seq-len", "50"]
    command += ["--models", "rnn,lstm,gru,transformer", "--quick", "--threads", "1", "--out", str(tmp_path)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert seconds < 180
    results = json.loads((tmp_path / "results.json").read_text())
    baseline = results["baseline"]
    assert abs(baseline - 1 / 6) < 0.02
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("| ")}
    for model in ("lstm", "gru"):
        final = results["models"][model]["final"]["mean"]
        assert final < baseline / 2, (model, final, baseline)
        assert f"| {final:.4g} |" in rows[model]  # the printed table shows it
    assert set(rows) >= {"rnn", "lstm", "gru", "transformer"}
    for name in ("curves.png", "wallclock.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_a_budget_too_small_to_decide_says_so(tmp_path: Path) -> None:
    # lr 0: nothing learns, as with --quick on copy at T = 100; the line must not name a winner
    command = [sys.executable, "-m", "rnnx.cli", "compare", "--task", "copy", "--seq-len", "10", "--lr", "0"]
    command += ["--models", "rnn,gru", "--quick", "--epochs", "1", "--threads", "1", "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("cannot decide: no model reached baseline/2"), last
    assert "this budget is too small to tell them apart; train longer (without --quick" in last
    assert "winner" not in result.stdout
