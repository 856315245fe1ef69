"""`rnnx bench` and the benchmark script run end to end; ratios are to each group's baseline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rnnx
from rnnx import benchmark
from rnnx.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_table_ratios_are_relative_to_the_group_baseline() -> None:
    timings = benchmark.run(["gru"], [(3, 2, 4, 5)], repeats=1)
    assert [t.implementation for t in timings] == ["torch.nn", "rnnx auto", "rnnx reference"]
    table = benchmark.format_table(timings)
    baseline_row = next(line for line in table.splitlines() if "| torch.nn |" in line)
    assert baseline_row.count("| 1.00 |") == 2


def test_interleaved_rounds_vary_the_order_so_no_job_always_follows_the_same_one() -> None:
    calls: list[str] = []
    jobs = {name: (lambda name=name: calls.append(name)) for name in "abcd"}
    best = benchmark.interleaved_minimum(jobs, repeats=12, warmup=1)
    assert set(best) == set("abcd")
    assert all(v >= 0 for v in best.values())
    rounds = [calls[4 + 4 * i : 8 + 4 * i] for i in range(12)]  # after one warm-up call each
    assert rounds[0] == list("abcd")
    assert all(sorted(r) == list("abcd") for r in rounds)
    for job in "abcd":
        predecessors = {r[r.index(job) - 1] for r in rounds if r.index(job) > 0}
        assert len(predecessors) >= 2, (job, rounds)
    calls.clear()
    benchmark.interleaved_minimum(jobs, repeats=12, warmup=1)
    assert [calls[4 + 4 * i : 8 + 4 * i] for i in range(12)] == rounds  # the same in every run


def test_dispatch_overhead_times_both() -> None:
    theirs, ours = benchmark.dispatch_overhead("lstm", calls=20, repeats=1)
    assert 0 < theirs < 1
    assert 0 < ours < 1


def test_unknown_group() -> None:
    with pytest.raises(ValueError, match=r"benchmark: group must be one of .*; got 'cnn'"):
        benchmark.run(["cnn"], [(3, 2, 4, 5)], repeats=1)


def test_rnnx_bench_variants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--suite", "variants", "--shapes", "4,2,3,5", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("LayerNorm-LSTM fused", "LayerNorm-LSTM eager loop", "LSTM zoneout=0.1 fused", "torch.nn.LSTM"):
        assert f"| lstm variants | 4, 2, 3, 5 | {name} |" in out
    assert out.count("| gru | 4, 2, 3, 5 |") == 3


def test_script_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "core.py"), "--shapes", "4,2,3,5", "--repeats", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.count("| lstm | 4, 2, 3, 5 |") == 4  # torch.nn, auto, reference, fused
    assert result.stdout.count("| rnn | 4, 2, 3, 5 |") == 3
    assert "| lstm | " in result.stdout.split("Per-call dispatch")[1]


@pytest.mark.skipif(rnnx.fused.unavailable_reason() is not None, reason="no C++ compiler")
def test_small_gemm_script_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "small_gemm.py")], capture_output=True, text=True, check=True
    )
    rows = [
        line for line in result.stdout.splitlines() if line.startswith("| forward") or line.startswith("| backward")
    ]
    assert len(rows) == 14  # both passes at each of the script's seven shapes
    assert all(float(row.split("|")[-2]) > 0 for row in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "--shapes", "4,2,3"], "expected four positive integers T,B,I,H; got '4,2,3'"),
        (["bench", "--repeats", "0"], "expected a positive integer; got '0'"),
        (["bench", "--suite", "fast"], "invalid choice: 'fast'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "rnnx.cli", *args], capture_output=True, text=True)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("rnnx")
    assert message in line


def test_lab_commands_without_the_lab_extra_stop_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert main(["compare", "--task", "adding", "--models", "gru", "--out", "unused"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert (
        line
        == "rnnx compare: error: needs the lab extra (matplotlib not installed); install it with: pip install 'rnnx[lab]'"
    )


def test_every_table_starts_with_the_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--suite", "layers", "--shapes", "4,2,3,5", "--repeats", "1"]) == 0
    first, *rest = capsys.readouterr().out.splitlines()
    capability = torch.backends.cpu.get_cpu_capability()
    assert (
        first
        == f"CPU: {benchmark.cpu_name()}; torch {torch.__version__} detects {capability}; {torch.get_num_threads()} threads"
    )
    names = ("torch.nn", "rnnx auto", "rnnx fused", "LayerNorm-LSTM fused")
    for name in names:
        assert any(f"| lstm 2-layer bidirectional | 4, 2, 3, 5 | {name} |" in line for line in rest)


def test_packed_groups_time_a_packed_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    original = benchmark._forward

    def spy(module: object, x: object) -> object:
        seen.append(x)
        return original(module, x)  # type: ignore[arg-type]

    monkeypatch.setattr(benchmark, "_forward", spy)
    timings = benchmark.run(["lstm packed", "gru packed"], [(6, 3, 4, 5)], repeats=1)
    assert [t.implementation for t in timings] == ["torch.nn", "rnnx auto", "rnnx reference"] * 2
    assert all(isinstance(x, torch.nn.utils.rnn.PackedSequence) for x in seen)
    lengths = torch.nn.utils.rnn.pad_packed_sequence(seen[0])[1]  # type: ignore[arg-type]
    assert 1 <= int(lengths.min()) <= int(lengths.max()) <= 6


def test_default_shapes_are_the_peer_tables() -> None:
    assert benchmark.SHAPES == (
        (100, 32, 64, 128),
        (500, 8, 32, 64),
        (100, 64, 256, 256),
        (50, 128, 512, 512),
        (1000, 1, 32, 128),
    )


def test_rnnx_bench_inference_times_onnxruntime_beside(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    assert main(["bench", "--suite", "inference", "--shapes", "6,2,3,5", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for group, names in (
        ("lstm", ("torch.nn", "onnxruntime", "rnnx auto", "rnnx fused", "rnnx step kernel")),
        ("gru", ("torch.nn", "onnxruntime", "rnnx auto", "rnnx fused", "rnnx step kernel")),
        ("layernorm-lstm", ("onnxruntime", "rnnx auto", "rnnx fused", "rnnx step kernel")),
    ):
        for name in names:
            assert f"| {group} | 6, 2, 3, 5 | {name} |" in out
        assert f"| {group} | 6, 2, 3, 5 | onnxruntime | " in out
        row = next(line for line in out.splitlines() if line.startswith(f"| {group} | 6, 2, 3, 5 | onnxruntime |"))
        assert row.endswith("| 1.00 |")  # the baseline
