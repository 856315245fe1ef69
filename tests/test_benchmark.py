"""The benchmark script runs end to end and its ratios are relative to torch.nn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rnnx import benchmark

ROOT = Path(__file__).resolve().parents[1]


def test_table_ratios_are_relative_to_torch() -> None:
    timings = benchmark.run(["gru"], [(3, 2, 4, 5)], repeats=1)
    assert [t.implementation for t in timings] == ["torch.nn", "rnnx auto", "rnnx reference"]
    table = benchmark.format_table(timings)
    torch_row = next(line for line in table.splitlines() if "torch.nn" in line and "gru" in line)
    assert torch_row.count("| 1.00 |") == 2


def test_dispatch_overhead_times_both() -> None:
    theirs, ours = benchmark.dispatch_overhead("lstm", calls=20, repeats=1)
    assert 0 < theirs < 1
    assert 0 < ours < 1


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match=r"benchmark: mode must be one of \('lstm', 'gru', 'rnn'\); got 'cnn'"):
        benchmark.run(["cnn"], [(3, 2, 4, 5)], repeats=1)


def test_script_end_to_end() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "core.py"),
            "--modes",
            "lstm,rnn",
            "--shapes",
            "4,2,3,5",
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.count("| lstm | 4, 2, 3, 5 |") == 3
    assert result.stdout.count("| rnn | 4, 2, 3, 5 |") == 3
    assert "| lstm | " in result.stdout.split("Per-call dispatch")[1]


def test_script_rejects_bad_shape() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "core.py"), "--shapes", "4,2,3"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "expected four positive integers T,B,I,H; got '4,2,3'" in result.stderr
