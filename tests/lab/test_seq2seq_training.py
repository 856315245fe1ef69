"""The smoke test a broken model cannot pass: reversal learned by the lab's train to > 90% held-out
exact match, decoded free-running, well within a minute of 2 CPU cores; and the examples run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnx import seq2seq
from rnnx.lab.config import TrainConfig
from rnnx.lab.metrics import translation_scores
from rnnx.lab.tasks import get_task
from rnnx.lab.train import train

ROOT = Path(__file__).resolve().parents[2]
REVERSE = {"seed": 0, "train_size": 4000, "valid_size": 100, "test_size": 300, "min_length": 5, "max_length": 8}


def test_reversal_learns_to_over_90_percent_exact_match() -> None:
    # A fixed budget of 400 steps of 64 sequences: a few seconds on 2 idle cores (docs/seq2seq.md).
    # Wall or CPU time is not asserted: on a shared machine thread oversubscription inflates both.
    task = get_task("reverse", **REVERSE)
    pairs = task.info["pairs"]
    torch.manual_seed(0)
    config = seq2seq.Seq2SeqConfig(cell="gru", embedding_dim=32, hidden_size=64, attention="dot")
    model = seq2seq.Seq2Seq.from_config(config, pairs.src_vocab, pairs.tgt_vocab)
    before = translation_scores(model, pairs.test)
    run = TrainConfig(
        task="reverse",
        task_options=REVERSE,
        model="gru:attention=dot",
        hidden_size=64,
        epochs=7,
        batch_size=64,
        lr=5e-3,
        schedule="constant",
    )
    result = train(run, model=model, max_steps=400)
    after = translation_scores(model, pairs.test)
    assert result.steps == 400
    assert before["exact_match"] == 0.0
    assert result.train_loss[-1] < result.train_loss[0] / 10
    assert after["exact_match"] > 0.90, after
    assert after["token_accuracy"] > 0.95, after
    assert result.final_metric > 0.90  # the lab's own score: exact match on the validation split


def test_a_model_for_other_data_is_refused() -> None:
    other = get_task("reverse", **(REVERSE | {"num_symbols": 6}))
    config = seq2seq.Seq2SeqConfig(hidden_size=8)
    model = seq2seq.Seq2Seq.from_config(config, other.info["src_vocab"], other.info["tgt_vocab"])
    run = TrainConfig(task="reverse", task_options=REVERSE, model="gru", hidden_size=8, epochs=1)
    with pytest.raises(ValueError, match=r"model: its vocabularies are not those of task 'reverse' with these options"):
        train(run, model=model)
    task = get_task("reverse", **REVERSE)
    fits = seq2seq.Seq2Seq.from_config(config, task.info["src_vocab"], task.info["tgt_vocab"])
    bare = seq2seq.Seq2Seq(fits.encoder, fits.decoder, bridge=fits.bridge)  # no vocabularies: the task's ids
    assert train(run, model=bare, max_steps=2).steps == 2


def _run_example(name: str, *args: str) -> str:
    """The example's standard output, run as a user runs it."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return result.stdout


def test_examples_run(tmp_path: Path) -> None:
    dates = _run_example(
        "seq2seq_dates.py",
        *("--steps", "3", "--train-size", "300", "--test-size", "20", "--hidden", "16"),
        *("--save", str(tmp_path / "dates")),
    )
    assert "test exact match: greedy" in dates
    assert "'03/12/21'" in dates
    assert seq2seq.load(tmp_path / "dates").tgt_vocab is not None
    sweep = _run_example(
        "seq2seq_attention.py",
        *("--steps", "2", "--max-length", "12", "--train-size", "200", "--test-size", "40", "--hidden", "16"),
    )
    assert "exact match by source length" in sweep
    assert "context vector" in sweep
    assert "attention" in sweep
