"""``digits``: scikit-learn's bundled 8x8 handwritten digits read as a sequence.

``mode="pixel"`` reads the 64 pixels one per step (the small cousin of sequential MNIST, Le et
al. 2015); ``mode="row"`` reads 8 rows of 8 pixels. ``permute=True`` applies one fixed random
permutation to the pixel order first (permuted sequential MNIST), which removes the local
structure a recurrent network could otherwise lean on.
"""

from __future__ import annotations

import torch

from rnnx._checks import check_bool, check_choice, check_int
from rnnx.lab.tasks.base import Split, Task, majority_accuracy, split_sizes


def digits(*, mode: str = "pixel", permute: bool = False, seed: int = 0) -> Task:
    """The 1797 digits split 70/15/15 by a permutation drawn from ``seed``; pixels scaled to
    ``[0, 1]``. Inputs ``(N, 64, 1)`` (pixel) or ``(N, 8, 8)`` (row); targets ``(N,)`` in ``0..9``.
    Metric: accuracy; baseline: always predict the most frequent training class."""
    check_choice("digits", "mode", mode, ("pixel", "row"))
    check_bool("digits", "permute", permute)
    check_int("digits", "seed", seed, minimum=0)
    try:
        from sklearn.datasets import load_digits  # type: ignore[import-untyped]
    except ImportError as error:  # pragma: no cover - the lab extra is a documented requirement
        raise ImportError("digits needs scikit-learn: pip install 'rnnx[lab]'") from error
    data = load_digits()
    images = torch.tensor(data.data, dtype=torch.float32) / 16.0  # (N, 64)
    labels = torch.tensor(data.target, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    if permute:
        images = images[:, torch.randperm(64, generator=generator)]
    inputs = images[:, :, None] if mode == "pixel" else images.reshape(-1, 8, 8)
    order = torch.randperm(len(labels), generator=generator)
    n_train, n_valid, _ = split_sizes("digits", len(labels), (0.15, 0.15))
    parts = order[:n_train], order[n_train : n_train + n_valid], order[n_train + n_valid :]
    train, valid, test = (Split(inputs[p], labels[p]) for p in parts)
    return Task(
        "digits",
        "classification",
        "accuracy",
        majority_accuracy(train.targets, valid.targets),
        "accuracy of always predicting the most frequent training class",
        input_size=int(inputs.shape[-1]),
        output_size=10,
        seq_len=int(inputs.shape[1]),
        tokens=False,
        per_step=False,
        train=train,
        valid=valid,
        test=test,
        options={"mode": mode, "permute": permute, "seed": seed},
    )
