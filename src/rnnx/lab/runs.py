"""Reading back a finished (or interrupted) lab run: its config, its task and its trained model."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from rnnx.lab.checkpoint import latest_checkpoint, load_weights
from rnnx.lab.config import TrainConfig
from rnnx.lab.models import build_model, matched_hidden_size
from rnnx.lab.tasks import Task, get_task


def load_run(run_dir: str | Path, *, weights: str = "best") -> tuple[nn.Module, Task, TrainConfig]:
    """The model of a lab run directory with its ``best`` or ``latest`` weights, its task and config.

    Raises:
        FileNotFoundError: when ``run_dir`` is not a run directory or lacks the weights.
        ValueError: when the task's data changed since training (another vocabulary).
    """
    root = Path(run_dir)
    saved = root / "config.json"
    if not saved.is_file():
        raise FileNotFoundError(f"{str(root)!r} is not a run directory: {str(saved)!r} does not exist")
    config = TrainConfig.from_dict(json.loads(saved.read_text(encoding="utf-8")), source=str(saved))
    task = get_task(config.task, **config.task_options)
    vocab_file = root / "vocab.json"
    if vocab_file.is_file() and tuple(json.loads(vocab_file.read_text(encoding="utf-8"))) != task.vocab:
        raise ValueError(f"the data of task {task.name!r} changed since {str(root)!r} was trained (another vocabulary)")
    assert config.hidden_size is not None  # a saved config is resolved
    hidden = config.hidden_size
    if config.match_params is not None:
        hidden = matched_hidden_size(config.model, task, config.match_params, num_layers=config.num_layers)
    model = build_model(config.model, task, hidden_size=hidden, num_layers=config.num_layers, dropout=config.dropout)
    if weights == "best":
        path = root / "best.safetensors"
    elif weights == "latest":
        folder = latest_checkpoint(root)
        path = root / "missing" if folder is None else folder / "model.safetensors"
    else:
        raise ValueError(f"load_run: weights must be 'best' or 'latest'; got {weights!r}")
    if not path.is_file():
        raise FileNotFoundError(f"{str(root)!r} has no {weights} weights yet ({str(path)!r} does not exist)")
    load_weights(path, model)
    return model, task, config
