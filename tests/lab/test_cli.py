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


def exit_code(args: list[str]) -> object:
    """``main``'s exit code, also for argparse's errors (which exit)."""
    try:
        return main(args)
    except SystemExit as stop:
        return stop.code


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
        (["train", "--lr", "inf", "--out", "o"], "rnnx train: error: argument --lr: expected a finite number >= 0"),
        (["train", "--lr", "nan", "--out", "o"], "rnnx train: error: argument --lr: expected a finite number >= 0"),
        (["train", "--lr", "-1", "--out", "o"], "rnnx train: error: argument --lr: expected a finite number >= 0"),
        (
            ["train", "--dropout", "1", "--out", "o"],
            "rnnx train: error: argument --dropout: expected a number >= 0 and < 1",
        ),
        (
            ["train", "--clip", "inf", "--out", "o"],
            "rnnx train: error: argument --clip: expected a finite number > 0 or",
        ),
        (["train", "--weight-decay", "-0.1", "--out", "o"], "rnnx train: error: argument --weight-decay: expected a"),
        (["train", "--seed", "-1", "--out", "o"], "rnnx train: error: argument --seed: expected an integer >= 0"),
        (["train", "--warmup-steps", "-1", "--out", "o"], "rnnx train: error: argument --warmup-steps: expected an"),
        (
            ["train", "--seq-len", "0", "--out", "o"],
            "rnnx train: error: argument --seq-len: expected a positive integer",
        ),
        (
            ["train", "--task-option", "noise=nan", "--task", "sine", "--out", "o"],
            "rnnx train: error: sine: noise must",
        ),
        (["train", "--device", "tpu", "--out", "o"], "rnnx train: error: TrainConfig: device must be auto, cpu, cuda"),
        (["train", "--out", "f"], "rnnx train: error: --out 'f' is a file, not a directory; name a new or empty"),
        (["train", "--out", "mine"], "rnnx train: error: --out 'mine' is not empty and is not an rnnx training run"),
        (["compare", "--out", "mine"], "rnnx compare: error: --out 'mine' is not empty and is not an rnnx comparison"),
        (["claims", "--out", "mine"], "rnnx claims: error: --out 'mine' is not empty and is not an rnnx claims output"),
        (
            ["compare", "--seeds", "0", "--out", "o"],
            "rnnx compare: error: argument --seeds: expected a positive integer",
        ),
        (["generate", "x", "--temperature", "inf"], "rnnx generate: error: argument --temperature: expected a finite"),
        (
            ["train", "--config", "options.toml", "--out", "o"],
            "rnnx train: error: options.toml: task_options must be a",
        ),
        (
            ["train", "--config", "latin1.toml", "--out", "o"],
            "rnnx train: error: config file 'latin1.toml' is not UTF-8",
        ),
        (["train", "--config", "nan.toml", "--out", "o"], "rnnx train: error: TrainConfig: lr must be a finite number"),
        (["compare", "--config", "models.toml", "--out", "o"], "rnnx compare: error: models.toml: models must be a"),
        (["compare", "--config", "seeds.toml", "--out", "o"], "rnnx compare: error: seeds.toml: seeds must be a count"),
        (
            ["train", "--task", "csv", "--path", "nan.csv", "--column", "value", "--out", "o"],
            "rnnx train: error: csv: line 4 of '/.*/nan.csv': column 'value' holds 'nan'; every value must be a finite",
        ),
    ],
)
def test_more_bad_input_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text('colour = "red"\n')
    (tmp_path / "options.toml").write_text("task_options = 3\n")
    (tmp_path / "latin1.toml").write_bytes('model = "lstm" # café\n'.encode("latin-1"))
    (tmp_path / "nan.toml").write_text("lr = nan\n")
    (tmp_path / "models.toml").write_text("models = 3\n")
    (tmp_path / "seeds.toml").write_text('seeds = "many"\n')
    (tmp_path / "f").write_text("a file of the user's")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    (tmp_path / "nan.csv").write_text("t,value\n" + "".join(f"{k},{'nan' if k == 2 else k}\n" for k in range(60)))
    assert exit_code(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(message) or re.match(message, err), err
    assert not (tmp_path / "o").exists()
    assert (tmp_path / "f").read_text() == "a file of the user's"
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["keep.txt"]


def test_a_device_without_cuda_is_refused(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = rnnx("train", *TINY, "--device", "cuda", "--out", "o", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "rnnx train: error: TrainConfig: device 'cuda' is not available here (torch.cuda.is_available() is False); "
        "use device cpu or auto\n"
    )
    assert not (tmp_path / "o").exists()


def test_a_diverging_run_stops_with_exit_2_and_keeps_its_checkpoint(tmp_path: Path) -> None:
    args = ["train", *TINY, *SMALL, "--epochs", "3", "--lr", "1e30", "--clip", "none", "--out", "o"]
    result = rnnx(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert re.fullmatch(
        r"rnnx train: error: training diverged: the training loss is (inf|nan) at step \d+ \(epoch 1, batch \d of 4\); "
        r"the run stopped before writing its first checkpoint to 'o'\. Try a smaller lr, or clip\n",
        result.stderr,
    ), result.stderr
    assert not (tmp_path / "o" / "checkpoint.json").exists()


def test_resume_of_a_run_killed_before_its_first_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rnnx.lab.outputs import Output
    from rnnx.lab.train import ProgressEvent

    config = [*TINY, *SMALL]
    assert main(["train", *config, "--out", str(tmp_path / "whole")]) == 0
    whole = json.loads(capsys.readouterr().out)

    def kill(event: ProgressEvent) -> None:
        raise KeyboardInterrupt

    import rnnx.lab.progress as progress

    original = progress.Bars.callback
    progress.Bars.callback = lambda self, label: kill  # type: ignore[method-assign, assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            main(["train", *config, "--out", str(tmp_path / "run")])
    finally:
        progress.Bars.callback = original  # type: ignore[method-assign]
    Output.existing(tmp_path / "run", "run")
    assert main(["train", *config, "--out", str(tmp_path / "run")]) == 2
    assert "already holds a run (no checkpoint yet); continue it with resume=True (rnnx train --resume" in (
        capsys.readouterr().err
    )
    assert main(["train", "--resume", str(tmp_path / "run"), "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"rnnx train: {tmp_path / 'run'} has no checkpoint yet (stopped before its first epoch ended); "
        "starting it from step 0 with its saved config\n"
    )
    assert json.loads(captured.out) == whole | {"train_seconds": json.loads(captured.out)["train_seconds"]}


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


def test_an_unwritable_directory_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rnnx.lab import outputs

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / "o"))

    monkeypatch.setattr(outputs, "write_json", refuse)
    assert main(["train", *TINY, *SMALL, "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"rnnx train: error: [Errno 13] Permission denied: '{tmp_path / 'o'}'\n"
