"""Sampling text from a character-level language model trained by the lab.

At each step the model reads the last ``seq_len`` characters (the context it was trained on),
and the next character is drawn from :math:`\\mathrm{softmax}(z / \\tau)` of its last output
``z`` with temperature :math:`\\tau` (:math:`\\tau \\to 0` approaches the most likely character;
``temperature=0`` takes it). Re-reading the window works for every model family alike, recurrent,
attention or convolutional.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnx.lab.runs import load_run
from rnnx.lab.tasks import Task

__all__ = ["load_run", "sample"]


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
