"""Old import paths kept for one release: each warns (DeprecationWarning, naming the new path and
"will be removed in rnnx 0.3") and gives the object the new path gives; importing rnnx.seq2seq
itself warns about nothing and does not import the lab."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any

import pytest

import rnnx.seq2seq
from rnnx.lab import metrics
from rnnx.lab.tasks import translation
from rnnx.seq2seq import Vocab, sequence_loss

REMOVED = "will be removed in rnnx 0.3"

MOVED: list[tuple[str, str, Any, str]] = [
    # old module, old name, the object it gives now, its new path
    ("rnnx.seq2seq", "get_task", translation.generate_pairs, "rnnx.lab.tasks.translation.generate_pairs"),
    ("rnnx.seq2seq", "Task", translation.TranslationData, "rnnx.lab.tasks.translation.TranslationData"),
    ("rnnx.seq2seq", "Batch", translation.TranslationBatch, "rnnx.lab.tasks.translation.TranslationBatch"),
    ("rnnx.seq2seq", "make_batches", translation.make_batches, "rnnx.lab.tasks.translation.make_batches"),
    ("rnnx.seq2seq", "evaluate", metrics.translation_scores, "rnnx.lab.metrics.translation_scores"),
    ("rnnx.seq2seq.tasks", "get_task", translation.generate_pairs, "rnnx.lab.tasks.translation.generate_pairs"),
    ("rnnx.seq2seq.tasks", "Task", translation.TranslationData, "rnnx.lab.tasks.translation.TranslationData"),
    ("rnnx.seq2seq.tasks", "Batch", translation.TranslationBatch, "rnnx.lab.tasks.translation.TranslationBatch"),
    ("rnnx.seq2seq.tasks", "make_batches", translation.make_batches, "rnnx.lab.tasks.translation.make_batches"),
    ("rnnx.seq2seq.tasks", "TASKS", translation.NAMES, "rnnx.lab.tasks.translation.NAMES"),
    ("rnnx.seq2seq.tasks", "Pair", translation.Pair, "rnnx.lab.tasks.translation.Pair"),
    ("rnnx.seq2seq.tasks", "DATE_FORMATS", translation.DATE_FORMATS, "rnnx.lab.tasks.translation.DATE_FORMATS"),
    ("rnnx.seq2seq.tasks", "MONTHS", translation.MONTHS, "rnnx.lab.tasks.translation.MONTHS"),
    ("rnnx.seq2seq.tasks", "WEEKDAYS", translation.WEEKDAYS, "rnnx.lab.tasks.translation.WEEKDAYS"),
    ("rnnx.seq2seq.tasks", "FIRST_DATE", translation.FIRST_DATE, "rnnx.lab.tasks.translation.FIRST_DATE"),
    ("rnnx.seq2seq.tasks", "LAST_DATE", translation.LAST_DATE, "rnnx.lab.tasks.translation.LAST_DATE"),
    ("rnnx.seq2seq.tasks", "Vocab", Vocab, "rnnx.seq2seq.Vocab"),
    ("rnnx.seq2seq.metrics", "evaluate", metrics.translation_scores, "rnnx.lab.metrics.translation_scores"),
    ("rnnx.seq2seq.metrics", "score_batch", metrics.score_batch, "rnnx.lab.metrics.score_batch"),
    ("rnnx.seq2seq.training", "sequence_loss", sequence_loss, "rnnx.seq2seq.sequence_loss"),
]
OLD_MODULES = {
    "rnnx.seq2seq.tasks": "rnnx.lab.tasks.translation",
    "rnnx.seq2seq.metrics": "rnnx.lab.metrics",
    "rnnx.seq2seq.training": "rnnx.lab.train.train",
}


def forget(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make the next import of ``module`` run it again (undone after the test)."""
    package, _, name = module.rpartition(".")
    monkeypatch.delitem(sys.modules, module, raising=False)
    if name in vars(sys.modules[package]):  # not hasattr: that would import it through __getattr__
        monkeypatch.delattr(sys.modules[package], name)


def old_module(name: str) -> Any:
    """The old module, imported (with its warning) unless it already was."""
    if name not in sys.modules:
        with pytest.warns(DeprecationWarning, match=rf"^{name} is deprecated"):
            importlib.import_module(name)
    return sys.modules[name]


def test_importing_rnnx_seq2seq_warns_about_nothing_and_leaves_the_lab_alone() -> None:
    code = (
        "import json, sys, rnnx, rnnx.seq2seq\n"
        "from rnnx.seq2seq import Seq2Seq, Vocab, sequence_loss, translate\n"
        "assert not hasattr(rnnx.seq2seq, 'no_such_name')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('rnnx.lab', 'rnnx.seq2seq.')))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    imported = set(json.loads(done.stdout))  # the rnnx.seq2seq submodules it loaded, and no lab module
    assert "rnnx.seq2seq.model" in imported
    assert not {m for m in imported if m.startswith("rnnx.lab")}
    assert not set(OLD_MODULES) & imported


@pytest.mark.parametrize(("module", "name", "new", "path"), MOVED, ids=[f"{m}.{n}" for m, n, _, _ in MOVED])
def test_each_old_name_warns_and_gives_the_new_object(module: str, name: str, new: Any, path: str) -> None:
    old = old_module(module)
    with pytest.warns(DeprecationWarning, match=rf"^{module}\.{name} is deprecated and {REMOVED}; use {path}") as seen:
        got = getattr(old, name)
    assert got is new
    assert {w.filename for w in seen} == {__file__}  # the warning names the line that used the old path


def test_from_import_of_an_old_name_warns() -> None:
    namespace: dict[str, Any] = {}
    with pytest.warns(DeprecationWarning, match=r"rnnx\.seq2seq\.get_task is deprecated .*translation\.generate_pairs"):
        exec("from rnnx.seq2seq import get_task, Seq2Seq", namespace)
    assert namespace["get_task"] is translation.generate_pairs
    assert namespace["Seq2Seq"] is rnnx.seq2seq.Seq2Seq


@pytest.mark.parametrize(("module", "new"), OLD_MODULES.items())
def test_importing_an_old_module_warns(monkeypatch: pytest.MonkeyPatch, module: str, new: str) -> None:
    forget(monkeypatch, module)
    with pytest.warns(DeprecationWarning, match=rf"^{module} is deprecated and {REMOVED}; .*{new}") as seen:
        importlib.import_module(module)
    assert __file__ in {w.filename for w in seen}
    forget(monkeypatch, module)
    short = module.rpartition(".")[2]
    with pytest.warns(DeprecationWarning, match=rf"^{module} is deprecated"):  # rnnx.seq2seq.tasks, never imported
        assert getattr(rnnx.seq2seq, short) is sys.modules[module]
    forget(monkeypatch, module)
    with pytest.warns(DeprecationWarning, match=rf"^{module} is deprecated"):
        exec(f"from rnnx.seq2seq import {short}", {})


def test_the_old_train_still_trains_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=rf"rnnx\.seq2seq\.train is deprecated and {REMOVED}; use rnnx\.lab"):
        train = rnnx.seq2seq.train
    with pytest.warns(DeprecationWarning, match=r"rnnx\.seq2seq\.TrainConfig is deprecated .* rnnx\.lab\.config"):
        config = rnnx.seq2seq.TrainConfig(steps=3, batch_size=4, seed=1)
    with pytest.warns(DeprecationWarning, match=r"rnnx\.seq2seq\.training\.train is deprecated"):
        assert old_module("rnnx.seq2seq.training").train is train
    data = translation.generate_pairs("reverse", train_size=10, valid_size=2, test_size=2)
    model = rnnx.seq2seq.Seq2Seq.from_config(rnnx.seq2seq.Seq2SeqConfig(hidden_size=4), data.src_vocab, data.tgt_vocab)
    steps: list[int] = []
    losses = train(model, data.train, config, callback=lambda step, loss: steps.append(step))
    assert len(losses) == 3
    assert steps == [1, 2, 3]


def test_a_name_that_never_was_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"module 'rnnx.seq2seq' has no attribute 'get_tasks'"):
        rnnx.seq2seq.get_tasks  # noqa: B018
    with pytest.raises(AttributeError, match=r"module 'rnnx.seq2seq.tasks' has no attribute 'generate_pairs'"):
        old_module("rnnx.seq2seq.tasks").generate_pairs  # noqa: B018
