"""Sampling text from a character-level language model trained by the lab.

At each step the model reads the last ``seq_len`` characters (the context it was trained on),
and the next character is drawn from :math:`\\mathrm{softmax}(z / \\tau)` of its last output
``z`` with temperature :math:`\\tau` (:math:`\\tau \\to 0` approaches the most likely character;
``temperature=0`` takes it). Re-reading the window works for every model family alike, recurrent,
attention or convolutional.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from rnnx.lab.checkpoint import latest_checkpoint, load_weights
from rnnx.lab.config import TrainConfig
from rnnx.lab.models import build_model, matched_hidden_size
from rnnx.lab.tasks import Task, get_task


@torch.no_grad()
def sample(
    model: nn.Module,
    task: Task,
    prime: str,
    length: int,
    *,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> str:
    """``prime`` followed by ``length`` sampled characters.

    Raises:
        ValueError: if ``task`` has no character vocabulary, ``prime`` is empty or holds characters
            the vocabulary lacks, ``length < 0`` or ``temperature < 0``.
    """
    if task.vocab is None or not task.per_step:
        raise ValueError(f"sample: task {task.name!r} is not a character language model")
    if not prime:
        raise ValueError("sample: prime must hold at least one character")
    unknown = sorted(set(prime) - set(task.vocab))
    if unknown:
        raise ValueError(f"sample: prime has characters the model never saw: {''.join(unknown)!r}")
    if length < 0:
        raise ValueError(f"sample: length must be >= 0; got {length}")
    if temperature < 0:
        raise ValueError(f"sample: temperature must be >= 0; got {temperature}")
    lookup = {c: k for k, c in enumerate(task.vocab)}
    ids = [lookup[c] for c in prime]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    for _ in range(length):
        window = torch.tensor([ids[-task.seq_len :]], device=device)
        logits = model(window)[0, -1].double().cpu()  # (V,)
        if temperature == 0:
            ids.append(int(logits.argmax()))
        else:
            probabilities = torch.softmax(logits / temperature, dim=-1)
            ids.append(int(torch.multinomial(probabilities, 1, generator=generator)))
    model.train(was_training)
    return "".join(task.vocab[k] for k in ids)


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
