"""The lab's commands end to end in a temporary directory, and their one-line errors."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rnnx.cli import main

TINY = ["--task", "adding", "--seq-len", "5", "--train-size", "64", "--valid-size", "16", "--test-size", "16"]
SMALL = ["--hidden-size", "6", "--epochs", "2", "--batch-size", "16", "--threads", "1"]


def rnnx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "rnnx.cli", *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "--task", "nope", "--out", "o"],
            "rnnx train: error: unknown task 'nope'; choose one of sine, adding",
        ),
        (
            ["train", "--model", "lstn", "--out", "o"],
            "rnnx train: error: unknown model 'lstn' in 'lstn'; choose one of rnn",
        ),
        (
            ["train", "--task", "csv", "--path", "s.csv", "--column", "cost", "--out", "o"],
            r"rnnx train: error: csv: column 'cost' is not in '/.*/s.csv'; its columns are \['t', 'value'\]",
        ),
        (
            ["train", "--task", "chars", "--path", "empty.txt", "--out", "o"],
            r"rnnx train: error: chars: text file '/.*/empty.txt' is empty",
        ),
        (
            ["train", "--task", "chars", "--path", "gone.txt", "--out", "o"],
            "rnnx train: error: chars: text file 'gone.txt' does not exist",
        ),
        (
            ["train", "--epochs", "0", "--out", "o"],
            r"rnnx train: error: argument --epochs: expected a positive integer; got '0'",
        ),
        (
            ["compare", "--models", "lstm,gru", "--sweep", "seq_len", "--out", "o"],
            "rnnx compare: error: argument --sweep: expected OPTION=V1,V2",
        ),
    ],
)
def test_bad_flags_and_files_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "s.csv").write_text("t,value\n" + "".join(f"{k},{k}\n" for k in range(10)))
    (tmp_path / "empty.txt").write_text("")
    result = rnnx(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert re.match(message, result.stderr), result.stderr  # a pattern: data paths are shown absolute
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--resume", "nowhere"], "rnnx train: error: --resume: 'nowhere/config.json' does not exist"),
        (["train", "--task", "adding"], "rnnx train: error: --out DIR is required"),
        (
            ["train", "--config", "missing.toml", "--out", "o"],
            "rnnx train: error: config file 'missing.toml' does not exist",
        ),
        (
            ["train", "--config", "bad.toml", "--out", "o"],
            "rnnx train: error: bad.toml: unknown key(s) colour; valid keys are",
        ),
        (["train", "--task-option", "depth=3", "--out", "o"], "rnnx train: error: task 'adding' does not take depth"),
        (
            ["compare", "--models", "lstm", "--sweep", "window=1,2", "--out", "o"],
            "rnnx compare: error: compare: task 'adding' has no option 'window'",
        ),
        (["compare", "--models", "lstm,lstm", "--out", "o"], "rnnx compare: error: compare: models must be distinct"),
        (["generate", "nowhere"], "rnnx generate: error: 'nowhere' is not a run directory"),
    ],
)
def test_more_bad_input_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text('colour = "red"\n')
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(message)


def test_train_resume_and_generate_end_to_end(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("abcabcabd " * 40)
    toml = tmp_path / "run.toml"
    toml.write_text('model = "gru"\nepochs = 5\nbatch_size = 8\n[task_options]\nseq_len = 12\n')
    args = ["--task", "chars", "--path", "t.txt", "--config", str(toml), "--hidden-size", "8", "--epochs", "2"]
    result = rnnx("train", *args, "--threads", "1", "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not a terminal: no progress bars
    summary = json.loads(result.stdout)
    assert summary["model"] == "gru"
    assert summary["epochs"] == 2  # the flag overrides the file
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["model"], config["epochs"], config["batch_size"], config["hidden_size"]) == ("gru", 2, 8, 8)
    assert config["task_options"] == {"seq_len": 12, "path": str(text.resolve())}  # saved absolute
    again = rnnx("train", "--resume", "run", "--threads", "1", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["final_bits_per_char"] == summary["final_bits_per_char"]
    sampled = rnnx("generate", "run", "--prime", "ab", "--length", "30", "--temperature", "0.5", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    assert sampled.stdout.startswith("ab")
    assert len(sampled.stdout) == 2 + 30 + 1
    assert set(sampled.stdout[:-1]) <= set("abcd ")
    elsewhere = rnnx("generate", str(tmp_path / "run"), "--length", "5", cwd=tmp_path.parent)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert elsewhere.stdout.startswith("a")  # the default prime: the text's first character
    assert len(elsewhere.stdout) == 1 + 5 + 1


def test_compare_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", *TINY, *SMALL, "--models", "gru,conv", "--seeds", "2", "--out", str(tmp_path / "c")])
    assert code == 0
    table = capsys.readouterr().out
    assert "| model | params | final mse | best mse | train s | samples/s | peak MB | steps to baseline/2 |" in table
    results = json.loads((tmp_path / "c" / "results.json").read_text())
    assert set(results["models"]) == {"gru", "conv"}
    assert results["models"]["gru"]["seeds"] == [0, 1]
    for name in ("curves.png", "wallclock.png", "table.md"):
        assert (tmp_path / "c" / name).stat().st_size > 0
    assert (tmp_path / "c" / "runs" / "conv" / "seed-1" / "best.safetensors").is_file()


def test_train_and_translate_reverse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["train", "--task", "reverse", "--train-size", "1500", "--valid-size", "100", "--test-size", "100"]
    args += ["--model", "gru", "--hidden-size", "32", "--epochs", "5", "--lr", "0.01", "--out", str(tmp_path / "r")]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["best_exact_match"] > 0.5
    assert main(["translate", str(tmp_path / "r"), "abcdef", "hgfe", "--strategy", "beam"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert sum(a == b for a, b in zip(out, ["fedcba", "efgh"], strict=True)) >= 1
    monkeypatch.setattr(sys, "stdin", io.StringIO("abc\n\n"))
    assert main(["translate", str(tmp_path / "r")]) == 0  # one source per line of stdin
    assert len(capsys.readouterr().out.splitlines()) == 1
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["translate", str(tmp_path / "r")]) == 2  # no sources at all
    assert main(["generate", str(tmp_path / "r")]) == 2  # not a character model
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "rnnx generate: error: sample: task 'reverse' is not a character language model"
