"""Reading back a finished (or interrupted) lab run: its config, its task and its trained model.

Every file read is checked: ``config.json`` against :class:`TrainConfig`, ``vocab.json`` against
the task's data, and the weights against the SHA-256 that ``checkpoint.json`` recorded for them.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from rnnx._files import FileFormatError, read_json
from rnnx.lab.checkpoint import CHECKPOINTS, MODEL, best_weights_file, load_weights, read_pointer
from rnnx.lab.config import TrainConfig, read_saved_config
from rnnx.lab.models import build_model, matched_hidden_size
from rnnx.lab.outputs import Output
from rnnx.lab.tasks import Task, get_task


def saved_task(config: TrainConfig, source: Path) -> Task:
    """The task of a saved config; an error building it names the config file it came from.

    Raises:
        FileNotFoundError: the task's data file is gone; ValueError: a bad option or data.
    """
    try:
        return get_task(config.task, **config.task_options)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{source}: {error}") from None
    except (ValueError, TypeError) as error:
        raise ValueError(f"{source}: {error}") from None


def load_run(run_dir: str | Path, *, weights: str = "best") -> tuple[nn.Module, Task, TrainConfig]:
    """The model of a lab run directory with its ``best`` or ``latest`` weights, its task and config.

    Raises:
        FileNotFoundError: when ``run_dir`` is not a run directory or lacks the weights.
        FileFormatError: a file of the run is damaged (the message names it).
        ValueError: when the task's data changed since training (another vocabulary).
    """
    if weights not in ("best", "latest"):
        raise ValueError(f"load_run: weights must be 'best' or 'latest'; got {weights!r}")
    root = Path(run_dir)
    saved = root / "config.json"
    if not saved.is_file():
        raise FileNotFoundError(f"{str(root)!r} is not a run directory: {str(saved)!r} does not exist")
    Output.existing(root, "run")
    config = read_saved_config(saved)
    task = saved_task(config, saved)
    vocab_file = root / "vocab.json"
    if vocab_file.is_file():
        vocab = read_json(vocab_file, expect=list)
        if not all(isinstance(symbol, str) for symbol in vocab):
            raise FileFormatError(f"{vocab_file}: expected a JSON array of strings")
        if tuple(vocab) != task.vocab:
            raise ValueError(
                f"the data of task {task.name!r} changed since {str(root)!r} was trained (another vocabulary)"
            )
    assert config.hidden_size is not None  # a saved config is resolved
    hidden = config.hidden_size
    if config.match_params is not None:
        hidden = matched_hidden_size(config.model, task, config.match_params, num_layers=config.num_layers)
    model = build_model(config.model, task, hidden_size=hidden, num_layers=config.num_layers, dropout=config.dropout)
    pointer = read_pointer(root)
    if pointer is None:
        raise FileNotFoundError(f"{str(root)!r} has no {weights} weights yet (it has no checkpoint)")
    if weights == "best":
        path, digest = best_weights_file(root, pointer)
    else:
        path, digest = root / CHECKPOINTS / pointer.latest / MODEL, pointer.sha256[MODEL]
    load_weights(path, model, sha256=digest)
    return model, task, config
