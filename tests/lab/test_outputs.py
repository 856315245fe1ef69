"""The lab writes only into directories it made or found empty, and removes only what it made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnx.claims.base import Settings
from rnnx.claims.runner import run_claims
from rnnx.lab.checkpoint import latest_checkpoint
from rnnx.lab.compare import compare
from rnnx.lab.config import TrainConfig
from rnnx.lab.outputs import MARKER, Output, check_output
from rnnx.lab.train import ProgressEvent, train

TINY = {"seq_len": 5, "train_size": 48, "valid_size": 16, "test_size": 16}


def config(**changes: object) -> TrainConfig:
    settings: dict[str, object] = {"task": "adding", "task_options": dict(TINY), "model": "gru", "hidden_size": 4}
    return TrainConfig(**(settings | {"epochs": 3, "batch_size": 16, "lr": 0.01} | changes))  # type: ignore[arg-type]


class KilledError(Exception):
    pass


def kill_at(kind: str, epoch: int):  # type: ignore[no-untyped-def]
    def progress(event: ProgressEvent) -> None:
        if event.kind == kind and event.epoch == epoch:
            raise KilledError

    return progress


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def test_a_folder_of_the_users_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "checkpoints" / "sub").mkdir(parents=True)
    (mine / "checkpoints" / "sub" / "keep.txt").write_text("mine")
    (mine / "best.safetensors").write_bytes(b"my own weights")
    before = snapshot(mine)
    with pytest.raises(ValueError, match=r"--out '.*mine' is not empty and is not an rnnx training run directory"):
        train(config(), out_dir=mine)
    with pytest.raises(FileNotFoundError, match="is not an rnnx training run directory"):
        train(config(), out_dir=mine, resume=True)
    with pytest.raises(ValueError, match="is not empty and is not an rnnx comparison directory"):
        compare(config(), ["gru"], out_dir=mine, plots=False)
    with pytest.raises(ValueError, match="is not empty and is not an rnnx claims output directory"):
        run_claims([5], Settings(out_dir=mine))
    assert snapshot(mine) == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"--out '.*file' is a file, not a directory"):
        train(config(), out_dir=tmp_path / "file")
    with pytest.raises(ValueError, match=r"'.*file' is a file, not a directory"):
        train(config(), out_dir=tmp_path / "file" / "run")
    assert (tmp_path / "file").read_text() == "x"


def test_an_empty_folder_is_taken_and_marked(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    train(config(epochs=2), out_dir=tmp_path / "run")
    marker = json.loads((tmp_path / "run" / MARKER).read_text())
    assert marker == {"rnnx": "run", "version": 1, "created": ["checkpoints/epoch-0002"]}
    with pytest.raises(ValueError, match="holds an rnnx training run, not an rnnx comparison"):
        compare(config(), ["gru"], out_dir=tmp_path / "run", plots=False)


def test_only_what_the_run_made_is_removed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(KilledError):
        train(config(), out_dir=run, progress=kill_at("epoch", 1))
    # The user puts things of their own inside the run directory.
    (run / "checkpoints" / "sub").mkdir()
    (run / "checkpoints" / "sub" / "keep.txt").write_text("mine")
    (run / "checkpoints" / "epoch-0001" / "notes.txt").write_text("mine too")
    (run / "notes.md").write_text("my notes")
    train(config(), out_dir=run, resume=True)
    assert (run / "checkpoints" / "sub" / "keep.txt").read_text() == "mine"
    assert (run / "notes.md").read_text() == "my notes"
    # the old checkpoint's own files are gone; the folder stays for the user's file in it
    assert sorted(p.name for p in (run / "checkpoints" / "epoch-0001").iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-0001", "epoch-0003", "sub"]
    assert json.loads((run / MARKER).read_text())["created"] == ["checkpoints/epoch-0001", "checkpoints/epoch-0003"]


def test_a_checkpoint_folder_the_run_did_not_make_is_not_written(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(KilledError):
        train(config(), out_dir=run, progress=kill_at("epoch", 1))
    (run / "checkpoints" / "epoch-0002").mkdir()
    (run / "checkpoints" / "epoch-0002" / "model.safetensors").write_bytes(b"not the run's")
    with pytest.raises(ValueError, match=r"'.*epoch-0002' was not made by rnnx; it is left alone"):
        train(config(), out_dir=run, resume=True)
    assert (run / "checkpoints" / "epoch-0002" / "model.safetensors").read_bytes() == b"not the run's"
    assert latest_checkpoint(run) == run / "checkpoints" / "epoch-0001"


def test_a_checkpoint_half_written_by_a_killed_run_is_rewritten(tmp_path: Path) -> None:
    whole = train(config(), out_dir=tmp_path / "whole")
    run = tmp_path / "run"
    with pytest.raises(KilledError):
        train(config(), out_dir=run, progress=kill_at("epoch", 1))
    Output.existing(run, "run").make_dir("checkpoints/epoch-0002")  # recorded, then killed mid-write
    (run / "checkpoints" / "epoch-0002" / "model.safetensors").write_bytes(b"torn")
    (run / "checkpoints" / "epoch-0002" / ".trainer.pt.abc.tmp").write_bytes(b"torn")
    resumed = train(config(), out_dir=run, resume=True)
    assert resumed.curve == whole.curve
    assert not (run / "checkpoints" / "epoch-0002").exists()


def test_a_run_killed_before_its_first_checkpoint_can_be_restarted(tmp_path: Path) -> None:
    whole = train(config(), out_dir=tmp_path / "whole")
    run = tmp_path / "run"
    with pytest.raises(KilledError):
        train(config(), out_dir=run, progress=kill_at("step", 0))
    assert (run / "config.json").is_file()
    assert latest_checkpoint(run) is None
    with pytest.raises(ValueError, match=r"already holds a run \(no checkpoint yet\); continue it with resume=True"):
        train(config(), out_dir=run)
    resumed = train(config(), out_dir=run, resume=True)  # starts at step 0 with the saved config
    assert resumed.curve == whole.curve
    assert resumed.test_metric == whole.test_metric
    assert (run / "best.safetensors").read_bytes() == (tmp_path / "whole" / "best.safetensors").read_bytes()


def test_a_run_killed_before_writing_its_config_starts_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    Output.claim(run, "run")  # killed right after the marker
    assert check_output(run, "run")
    from rnnx.cli import main

    assert main(["train", "--resume", str(run)]) == 2
    assert capsys.readouterr().err == (
        f"rnnx train: error: --resume: {str(run)!r} stopped before it saved its config; start it again with --out {run}\n"
    )
    result = train(config(epochs=1), out_dir=run)
    assert len(result.curve) == 1


def test_compare_and_claims_reuse_only_their_own_directories(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    compare(config(epochs=1), ["gru"], out_dir=out, plots=False)
    assert json.loads((out / MARKER).read_text())["rnnx"] == "compare"
    assert json.loads((out / "runs" / "gru" / "seed-0" / MARKER).read_text())["rnnx"] == "run"
    claims = tmp_path / "claims"
    Output.claim(claims, "claims")
    assert Output.claim(claims, "claims").root == claims  # run again into its own folder
    with pytest.raises(ValueError, match="holds an rnnx claims output, not an rnnx training run"):
        train(config(), out_dir=claims)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("{", "rnnx.json: not valid JSON"),
        ('{"rnnx": "other", "version": 1, "created": []}', "'rnnx' must be one of run, compare, claims"),
        ('{"rnnx": "run", "version": 7, "created": []}', "version must be 1; got 7"),
        ('{"rnnx": "run", "version": 1, "created": ["../../home"]}', "'created' must be a list of relative folder"),
    ],
)
def test_a_damaged_marker_is_one_clear_error(tmp_path: Path, marker: str, message: str) -> None:
    (tmp_path / MARKER).write_text(marker)
    with pytest.raises(ValueError, match=message):
        train(config(), out_dir=tmp_path)


def test_inspect_writes_only_into_its_own_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rnnx.cli import main

    run = tmp_path / "run"
    train(config(model="lstm", epochs=1), out_dir=run)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "gradient_flow.png").write_bytes(b"my own plot")
    assert main(["inspect", "--checkpoint", str(run), "--out", str(mine)]) == 2
    assert "--out '" in capsys.readouterr().err
    assert (mine / "gradient_flow.png").read_bytes() == b"my own plot"
    assert main(["inspect", "--checkpoint", str(run), "--input", "valid:99", "--out", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()  # a failed inspection leaves nothing behind
    for _ in range(2):  # and runs again into its own folder
        assert main(["inspect", "--checkpoint", str(run)]) == 0
    written = sorted(p.name for p in (run / "inspect").iterdir())
    assert written == ["gradient_flow.png", MARKER, "trace_encoder.rnn_l0.png"]
