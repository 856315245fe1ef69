"""The seq2seq tasks in the lab: the generated pairs as tensors, the baseline, the model, the score."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest
import torch

from rnnx.lab.metrics import translation_scores
from rnnx.lab.models import build_model
from rnnx.lab.tasks import get_task
from rnnx.lab.tasks.translation import generate_pairs
from rnnx.lab.train import evaluate
from rnnx.seq2seq import Seq2Seq

SIZES = {"train_size": 60, "valid_size": 20, "test_size": 20}


@pytest.mark.parametrize(
    ("name", "options"), [("reverse", {}), ("sort", {"max_length": 6}), ("addition", {"max_digits": 2}), ("dates", {})]
)
def test_splits_hold_the_generated_pairs(name: str, options: dict[str, int]) -> None:
    task = get_task(name, seed=3, **SIZES, **options)
    source = generate_pairs(name, seed=3, **SIZES, **options)
    assert task.info["pairs"] == source
    src_vocab, tgt_vocab = task.info["src_vocab"], task.info["tgt_vocab"]
    for split in ("train", "valid", "test"):
        data = task.split(split)
        pairs = getattr(source, split)
        assert len(data) == len(pairs)
        for k, (src, tgt) in enumerate(pairs[:5]):
            assert "".join(src_vocab.decode(data.inputs[k, : data.lengths[k]].tolist())) == src
            assert "".join(tgt_vocab.decode(data.targets[k].tolist())) == tgt
    common = Counter(t for _, t in source.train).most_common(1)[0][0]
    assert task.baseline == sum(t == common for _, t in source.valid) / len(source.valid)
    assert (task.kind, task.metric, task.lower_is_better) == ("seq2seq", "exact_match", False)


def test_model_step_and_score_against_translation_scores() -> None:
    task = get_task("reverse", **SIZES)
    torch.manual_seed(0)
    model = build_model("gru:attention=dot,layer_norm", task, hidden_size=8)
    assert isinstance(model, Seq2Seq)
    assert model.encoder.rnn.cell.layer_norm
    batch = next(task.batches("train", 8))
    loss = task.loss(task.forward(model, batch), batch)
    loss.backward()
    assert torch.isfinite(loss)
    for p in model.parameters():
        p.data.add_(0.5 * torch.randn_like(p))  # some non-trivial predictions
    oracle = translation_scores(model, generate_pairs("reverse", **SIZES).valid)["exact_match"]
    assert evaluate(model, task, "valid", batch_size=7) == pytest.approx(oracle)


def test_seq2seq_model_errors() -> None:
    task = get_task("reverse", **SIZES)
    with pytest.raises(
        ValueError,
        match=r"seq2seq task 'reverse' needs a recurrent model \(rnn, lstm, gru, indrnn\); got 'transformer'",
    ):
        build_model("transformer", task, hidden_size=8)
    with pytest.raises(
        ValueError, match="model options attention are for seq2seq tasks; task 'adding' is a regression"
    ):
        build_model("lstm:attention=dot", get_task("adding", seq_len=4, **SIZES), hidden_size=8)
    with pytest.raises(ValueError, match="model option init is for the lab's sequence models; seq2seq task 'reverse'"):
        build_model("rnn:init=identity", task, hidden_size=8)


def test_reverse_source_reaches_the_model_and_survives_a_reload(tmp_path: Path) -> None:
    from rnnx.lab.config import TrainConfig
    from rnnx.lab.runs import load_run
    from rnnx.lab.train import train

    options = {"reverse_source": True, "max_digits": 2, **SIZES}
    task = get_task("addition", **options)
    model = build_model("lstm:attention=none", task, hidden_size=8)
    assert isinstance(model, Seq2Seq)
    assert model.encoder.reverse_source
    assert not build_model("lstm", get_task("addition", max_digits=2, **SIZES), hidden_size=8).encoder.reverse_source
    # the data stay as written: the model reverses
    plain = get_task("addition", max_digits=2, **SIZES)
    assert torch.equal(task.split("train").inputs, plain.split("train").inputs)
    config = TrainConfig(task="addition", task_options=options, model="gru", hidden_size=8, epochs=1)
    train(config, out_dir=tmp_path / "run")
    loaded, _, saved = load_run(tmp_path / "run")
    assert isinstance(loaded, Seq2Seq)
    assert loaded.encoder.reverse_source
    assert saved.task_options["reverse_source"] is True


def test_reverse_source_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"task 'reverse': reverse_source must be a bool; got str 'yes'"):
        get_task("reverse", reverse_source="yes", **SIZES)


@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0])
def test_teacher_forcing_reaches_the_model_s_forward(ratio: float) -> None:
    task = get_task("reverse", teacher_forcing=ratio, **SIZES)
    assert task.info["teacher_forcing"] == ratio
    model = build_model("gru:attention=dot", task, hidden_size=8)
    (batch,) = list(task.batches("train", 4))[:1]
    torch.manual_seed(3)
    got = task.forward(model, batch)
    torch.manual_seed(3)  # the oracle: the model's own forward with that ratio, same draws
    expected = model(batch.inputs, batch.lengths, batch.targets, teacher_forcing=ratio).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    if ratio < 1.0:  # feeding predictions changes the logits after the first step
        torch.manual_seed(3)
        forced = model(batch.inputs, batch.lengths, batch.targets).logits
        assert not torch.equal(got[:, 1:], forced[:, 1:])


def test_teacher_forcing_trains_and_resumes_exactly(tmp_path: Path) -> None:
    # Scheduled sampling draws from torch's generator: a run killed after an epoch and resumed
    # takes the uninterrupted run's steps.
    from rnnx.lab.config import TrainConfig
    from rnnx.lab.loop import ProgressEvent
    from rnnx.lab.train import train

    class KilledError(Exception):
        pass

    def kill_after_first(event: ProgressEvent) -> None:
        if event.kind == "epoch" and event.epoch == 1:
            raise KilledError

    options = {"teacher_forcing": 0.5, **SIZES}
    config = TrainConfig(task="reverse", task_options=options, model="gru", hidden_size=8, epochs=2, seed=1)
    whole = train(config, out_dir=tmp_path / "whole")
    with pytest.raises(KilledError):
        train(config, out_dir=tmp_path / "killed", progress=kill_after_first)
    resumed = train(config, out_dir=tmp_path / "killed", resume=True)
    assert resumed.train_loss == whole.train_loss
    assert resumed.curve == whole.curve
    forced = train(dataclasses.replace(config, task_options=SIZES), out_dir=tmp_path / "forced")
    assert forced.train_loss != whole.train_loss


@pytest.mark.parametrize("value", [1.5, -0.1])
def test_teacher_forcing_must_be_a_probability(value: float) -> None:
    with pytest.raises(ValueError, match=rf"task 'reverse': teacher_forcing must be in \[0, 1\]; got {value}"):
        get_task("reverse", teacher_forcing=value, **SIZES)
