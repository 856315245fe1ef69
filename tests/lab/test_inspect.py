"""`rnnx inspect` on a real (tiny) lab run: the PNGs it promises, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnx.cli import main
from rnnx.lab.config import TrainConfig
from rnnx.lab.inspect import parse_selection
from rnnx.lab.train import train

SIZES = {"seq_len": 10, "train_size": 64, "valid_size": 16, "test_size": 16}


def make_run(folder: Path, model: str) -> Path:
    config = TrainConfig(task="adding", task_options=SIZES, model=model, hidden_size=8, epochs=1, steps_per_epoch=2)
    train(config, out_dir=folder)
    return folder


def test_inspect_writes_gates_per_layer_direction_and_the_gradient_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path / "run", "lstm")
    out = tmp_path / "plots"
    assert main(["inspect", "--checkpoint", str(run), "--input", "valid:2-5", "--out", str(out)]) == 0
    written = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in written) == ["gradient_flow.png", "trace_encoder.rnn_l0.png"]
    for path in written:
        assert Path(path).read_bytes().startswith(b"\x89PNG")


def test_inspect_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--checkpoint", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    run = make_run(tmp_path / "run", "transformer")
    assert main(["inspect", "--checkpoint", str(run)]) == 2
    assert "(model 'transformer') has no rnnx recurrent layer to inspect" in capsys.readouterr().err
    assert main(["inspect", "--checkpoint", str(run), "--input", "valid:99"]) == 2
    assert "--input: valid has 16 sequences; got index 99" in capsys.readouterr().err


def test_parse_selection() -> None:
    assert parse_selection("valid:0") == ("valid", [0])
    assert parse_selection("test:2-4") == ("test", [2, 3, 4])
    with pytest.raises(ValueError, match=r"--input must be SPLIT:INDEX or SPLIT:FIRST-LAST"):
        parse_selection("dev:1")
    with pytest.raises(ValueError, match="the range 4-2 is empty"):
        parse_selection("train:4-2")
