"""TrainConfig resolution, TOML files and flags on top of them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rnnx.cli.flags import add_training_flags, settings_from_args
from rnnx.lab.config import TrainConfig, load_toml


def test_resolve_fills_only_unset_fields() -> None:
    plain = TrainConfig().resolve()
    assert (plain.epochs, plain.hidden_size, plain.lr, plain.task_options) == (20, 64, 3e-3, {})
    quick = TrainConfig(quick=True, epochs=3, task_options={"train_size": 10}).resolve()
    assert (quick.epochs, quick.hidden_size, quick.lr) == (3, 32, 1e-2)
    assert quick.task_options == {"train_size": 10, "valid_size": 500, "test_size": 500}
    digits = TrainConfig(task="digits", quick=True).resolve()
    assert digits.task_options == {}  # digits takes no sizes
    assert TrainConfig.from_dict(plain.to_dict()) == plain
    with pytest.raises(ValueError, match=r"run.toml: unknown key\(s\) epoch; valid keys are"):
        TrainConfig.from_dict({"epoch": 3}, source="run.toml")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_training_flags(parser, models=False)
    return parser.parse_args(argv)


def test_flags_override_the_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('task = "copy"\nmodel = "gru"\nepochs = 7\nlr = 0.5\n[task_options]\nseq_len = 30\nseed = 4\n')
    settings = settings_from_args(parse(["--config", str(path), "--lr", "0.1", "--seq-len", "9", "--quick"]))
    assert settings == {
        "task": "copy",
        "model": "gru",
        "epochs": 7,
        "lr": 0.1,
        "quick": True,
        "task_options": {"seq_len": 9, "seed": 4},
    }
    flags_only = settings_from_args(
        parse(["--task-option", "noise=0.5", "--permute", "--data-seed", "2", "--clip", "none"])
    )
    assert flags_only == {"clip": None, "task_options": {"noise": 0.5, "permute": True, "seed": 2}}


def test_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("epochs = = 3\n")
    with pytest.raises(ValueError, match=r"config file '.*bad.toml' is not valid TOML"):
        load_toml(path)
    with pytest.raises(FileNotFoundError, match=r"config file '.*none.toml' does not exist"):
        load_toml(tmp_path / "none.toml")


def test_resolve_refuses_options_the_task_does_not_take() -> None:
    with pytest.raises(ValueError, match="task 'adding' does not take depth; it takes seq_len"):
        TrainConfig(task="adding", task_options={"depth": 3}).resolve()
    with pytest.raises(ValueError, match="task 'adding' does not take depth"):
        TrainConfig(task="adding", task_options={"depth": 3}, quick=True).resolve()
