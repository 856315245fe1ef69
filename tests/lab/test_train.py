"""train(): the schedule, evaluation, exact resume after a kill, early stopping, run directories."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnx.lab.checkpoint import STATE_TYPES, latest_checkpoint
from rnnx.lab.config import TrainConfig
from rnnx.lab.train import ProgressEvent, RunState, TrainingDivergedError, evaluate, learning_rate, train

TINY = {"seq_len": 6, "train_size": 96, "valid_size": 32, "test_size": 32}


def config(**changes: object) -> TrainConfig:
    settings: dict[str, object] = {
        "task": "adding",
        "task_options": dict(TINY),
        "model": "lstm",
        "hidden_size": 6,
        "epochs": 4,
        "batch_size": 16,
        "lr": 0.01,
    }
    return TrainConfig(**(settings | changes))  # type: ignore[arg-type]


class KilledError(Exception):
    pass


def kill_after(epoch: int):  # type: ignore[no-untyped-def]
    def progress(event: ProgressEvent) -> None:
        if event.kind == "epoch" and event.epoch == epoch:
            raise KilledError

    return progress


@pytest.mark.parametrize("spec", ["lstm:zoneout=0.2,recurrent_dropout=0.2", "transformer"])
def test_resume_after_a_kill_reproduces_the_uninterrupted_run(tmp_path: Path, spec: str) -> None:
    # Dropout and zoneout draw from the torch RNG, so this also checks that its state is restored.
    cfg = config(model=spec, hidden_size=8, dropout=0.2, schedule="cosine", warmup_steps=3)
    whole = train(cfg, out_dir=tmp_path / "whole")
    with pytest.raises(KilledError):
        train(cfg, out_dir=tmp_path / "killed", progress=kill_after(2))
    assert latest_checkpoint(tmp_path / "killed").name == "epoch-0002"
    resumed = train(cfg, out_dir=tmp_path / "killed", resume=True)
    assert resumed.curve == whole.curve
    assert resumed.train_loss == whole.train_loss
    assert (resumed.best_metric, resumed.test_metric, resumed.steps) == (
        whole.best_metric,
        whole.test_metric,
        whole.steps,
    )
    a = load_file(str(tmp_path / "whole" / "checkpoints" / "epoch-0004" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "checkpoints" / "epoch-0004" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in (tmp_path / "killed" / "checkpoints").iterdir()) == ["epoch-0004"]
    again = train(cfg, out_dir=tmp_path / "killed", resume=True)  # a finished run is read back
    assert again.curve == whole.curve


def test_run_directory_contents(tmp_path: Path) -> None:
    result = train(config(), out_dir=tmp_path / "run")
    run = tmp_path / "run"
    saved = json.loads((run / "config.json").read_text())
    assert saved == config().resolve().to_dict()
    assert json.loads((run / "result.json").read_text()) == json.loads(json.dumps(result.to_dict()))
    trainer = torch.load(run / "checkpoints" / "epoch-0004" / "trainer.pt", weights_only=True)
    assert set(trainer["rng"]) == {"torch", "cuda", "numpy", "numpy_gauss", "python"}
    assert len(trainer["optimizer"]["state"]) == len(list(result.network.parameters()))
    state = json.loads((run / "checkpoints" / "epoch-0004" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (4, 24)
    # state.json holds the loop's RunState, key for key, in the order runs have always written
    assert list(state) == list(STATE_TYPES) == [f.name for f in dataclasses.fields(RunState)]
    assert RunState.from_json(state).to_json() == state
    assert (state["curve"], state["best_metric"]) == (result.curve, result.best_metric)
    assert not list(run.rglob("*.tmp"))
    with pytest.raises(
        ValueError, match=r"already holds a run \(last checkpoint epoch-0004\); continue it with resume"
    ):
        train(config(), out_dir=run)
    with pytest.raises(ValueError, match=r"cannot resume .* with a different config \(lr: 0.01 -> 0.02\)"):
        train(config(lr=0.02), out_dir=run, resume=True)
    with pytest.raises(FileNotFoundError, match="is not an rnnx training run directory"):
        train(config(), out_dir=tmp_path / "empty", resume=True)


def test_result_fields_and_evaluation() -> None:
    result = train(config())
    assert result.network is not None
    assert len(result.curve) == len(result.epoch_seconds) == len(result.train_loss) == 4
    assert result.steps == 4 * 6
    assert result.final_metric == result.curve[-1]
    assert result.best_metric == min(result.curve)
    assert result.curve[result.best_epoch - 1] == result.best_metric
    assert result.params == sum(p.numel() for p in result.network.parameters())
    assert result.samples_per_second == pytest.approx(4 * 96 / result.train_seconds)
    assert result.peak_memory_bytes >= 0
    assert result.peak_memory_measure
    # The metric is the plain MSE over the whole validation split.
    from rnnx.lab.tasks import get_task

    task = get_task("adding", **TINY)
    with torch.no_grad():
        oracle = float(((result.network(task.valid.inputs) - task.valid.targets) ** 2).mean())
    assert evaluate(result.network, task, "valid", batch_size=7) == pytest.approx(oracle, rel=1e-5)
    assert result.final_metric == pytest.approx(oracle, rel=1e-5)


def test_steps_to_halfway_and_early_stopping() -> None:
    sine = {"seq_len": 6, "horizon": 1, "train_size": 96, "valid_size": 32, "test_size": 32}
    learnt = train(config(task="sine", model="gru", hidden_size=8, epochs=6, lr=0.03, task_options=sine))
    halfway = learnt.baseline / 2
    first = next(e for e, m in enumerate(learnt.curve) if m <= halfway)
    assert learnt.steps_to_halfway == (first + 1) * 6
    assert first < 5  # reached within the run, and later epochs did not overwrite the first crossing
    on_target = train(
        config(task="sine", model="gru", hidden_size=8, epochs=6, lr=0.03, task_options=sine, target=halfway)
    )
    assert on_target.stopped_early
    assert on_target.curve == learnt.curve[: first + 1]  # the same run, stopped after the epoch that reached it
    frozen = train(config(lr=0.0, epochs=10, patience=2))  # nothing changes, so nothing improves
    assert frozen.stopped_early
    assert len(frozen.curve) == 3
    assert frozen.steps_to_halfway is None


def test_target_is_checked_and_old_configs_without_it_load(tmp_path: Path) -> None:
    for bad in (float("nan"), "0.1", True):
        with pytest.raises(TypeError, match=r"TrainConfig: target must be a finite number or None; got"):
            config(target=bad).resolve()
    saved = config().resolve().to_dict()
    del saved["target"]  # a run saved before the field existed
    assert TrainConfig.from_dict(saved, complete=True).target is None


def test_learning_rate_schedule() -> None:
    cosine = config(lr=0.1, warmup_steps=4, schedule="cosine").resolve()
    assert [learning_rate(cosine, s, 24) for s in range(4)] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert learning_rate(cosine, 14, 24) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 10 / 20)))
    assert learning_rate(cosine, 24, 24) == pytest.approx(0.0)
    constant = config(lr=0.1, schedule="constant").resolve()
    assert {learning_rate(constant, s, 24) for s in range(24)} == {0.1}


def test_max_steps_and_steps_per_epoch() -> None:
    capped = train(config(steps_per_epoch=2), max_steps=5)
    assert (capped.steps, len(capped.curve)) == (5, 3)
    whole_split = train(config(batch_size=200, epochs=2))  # one short batch per epoch, like a DataLoader
    assert whole_split.steps == 2


def test_config_errors() -> None:
    with pytest.raises(ValueError, match=r"TrainConfig: schedule must be one of \('cosine', 'constant'\); got 'step'"):
        train(config(schedule="step"))
    with pytest.raises(ValueError, match="TrainConfig: epochs must be >= 1; got 0"):
        train(config(epochs=0))
    with pytest.raises(ValueError, match="TrainConfig: clip must be a finite number > 0 or None; got -1"):
        train(config(clip=-1))
    with pytest.raises(ValueError, match="unknown task 'addding'"):
        train(config(task="addding"))
    with pytest.raises(ValueError, match="resume=True needs out_dir"):
        train(config(), resume=True)


def test_an_injected_model_trains_like_the_built_one() -> None:
    from rnnx.lab.models import build_model
    from rnnx.lab.tasks import get_task

    built = train(config(model="gru", epochs=2))
    torch.manual_seed(0)
    mine = build_model("gru", get_task("adding", **TINY), hidden_size=6)
    injected = train(config(model="gru", epochs=2), model=mine)
    assert injected.network is mine
    assert injected.curve == built.curve  # same seed before building, so the same initial weights


def test_match_params_sizes_the_model() -> None:
    result = train(config(model="gru", match_params=400, epochs=1))
    from rnnx.lab.models import build_model
    from rnnx.lab.tasks import get_task

    task = get_task("adding", **TINY)
    count = lambda h: sum(p.numel() for p in build_model("gru", task, hidden_size=h).parameters())  # noqa: E731
    assert result.params == count(result.hidden_size)
    assert abs(result.params - 400) <= min(abs(count(result.hidden_size + d) - 400) for d in (-1, 1))


def test_progress_bars_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from rnnx.lab.progress import Bars

    with Bars(enabled=True) as bars:
        callback = bars.callback("gru seed 0")
        assert callback is not None
        train(config(model="gru", epochs=2), progress=callback)
    err = capsys.readouterr().err
    assert "gru seed 0" in err
    assert "12/12" in err  # 2 epochs of 6 steps
    with Bars(enabled=False) as quiet:
        assert quiet.callback("x") is None


class NanAfter(torch.nn.Module):
    """A built model whose training output turns NaN from its ``n``-th training forward on."""

    def __init__(self, inner: torch.nn.Module, n: int) -> None:
        super().__init__()
        self.inner, self.n, self.calls = inner, n, 0

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        out: torch.Tensor = self.inner(inputs, lengths)
        if self.training:
            self.calls += 1
            if self.calls >= self.n:
                return out * float("nan")
        return out


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    from rnnx.lab.models import build_model
    from rnnx.lab.tasks import get_task

    torch.manual_seed(0)
    model = NanAfter(build_model("lstm", get_task("adding", **TINY), hidden_size=6), n=9)  # epoch 2, batch 3
    run = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match=r"the training loss is nan at step 9 \(epoch 2, batch 3 of 6\)"):
        train(config(), out_dir=run, model=model)
    assert latest_checkpoint(run) == run / "checkpoints" / "epoch-0001"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(TrainingDivergedError, match="keeps its checkpoint of epoch 1 and its best weights"):
        train(config(), out_dir=run, model=NanAfter(model.inner, n=3), resume=True)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    with pytest.raises(TrainingDivergedError, match=r"at step 1 .* stopped before writing its first checkpoint"):
        train(config(), out_dir=tmp_path / "new", model=NanAfter(model.inner, n=1))
    with pytest.raises(TrainingDivergedError, match=r"the training loss is nan at step 1 .*; the run stopped\."):
        train(config(), model=NanAfter(model.inner, n=1))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr": float("inf")}, "TrainConfig: lr must be a finite number >= 0; got inf"),
        ({"lr": float("nan")}, "TrainConfig: lr must be a finite number >= 0; got nan"),
        ({"lr": -1e-3}, "TrainConfig: lr must be a finite number >= 0; got -0.001"),
        ({"weight_decay": float("nan")}, "TrainConfig: weight_decay must be a finite number >= 0"),
        ({"dropout": 1.0}, r"TrainConfig: dropout must be a finite number >= 0 and < 1; got 1.0"),
        ({"clip": float("inf")}, "TrainConfig: clip must be a finite number > 0 or None; got inf"),
        ({"device": "tpu"}, "TrainConfig: device must be auto, cpu, cuda, cuda:N or mps; got 'tpu'"),
        ({"task_options": [1]}, "TrainConfig: task_options must be a dict; got list"),
        ({"quick": "yes"}, "TrainConfig: quick must be a bool; got str 'yes'"),
    ],
)
def test_bad_values_are_refused_before_training(changes: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        train(config(**changes))


def test_a_device_that_is_not_here_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(
        ValueError, match=r"device 'cuda' is not available here \(torch.cuda.is_available\(\) is False\)"
    ):
        train(config(device="cuda"), out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
