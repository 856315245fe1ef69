"""``chars``: a character-level language model of any UTF-8 text file (bits per character).

The text is split in order into 80/10/10 percent for train/valid/test, and each part is cut
into non-overlapping windows of ``seq_len + 1`` characters overlapping by one, so every
character after the first of a window is predicted exactly once.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import torch
from torch import Tensor

from rnnx._checks import check_int
from rnnx.lab.tasks.base import Split, Task

DEFAULT_TEXT = "declaration.txt"


def default_text_path() -> Path:
    """The bundled demo text: the United States Declaration of Independence (1776, public domain)."""
    return Path(str(resources.files("rnnx.lab") / "data" / DEFAULT_TEXT))


def read_text(owner: str, path: str | Path) -> str:
    """The contents of a UTF-8 text file; a clear error when it is missing, unreadable or empty."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{owner}: text file {str(file)!r} does not exist")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        reason = f"{error.reason} at byte {error.start}"
        raise ValueError(f"{owner}: text file {str(file)!r} is not UTF-8 ({reason})") from None
    if not text.strip():
        raise ValueError(f"{owner}: text file {str(file)!r} is empty")
    return text


def windows(ids: Tensor, seq_len: int) -> Split:
    """Inputs ``ids[k*T : k*T + T]`` and targets shifted by one, ``(N, T)`` each, ``T = seq_len``."""
    n = (len(ids) - 1) // seq_len
    starts = torch.arange(n) * seq_len
    index = starts[:, None] + torch.arange(seq_len + 1)
    chunks = ids[index]
    return Split(chunks[:, :-1].contiguous(), chunks[:, 1:].contiguous())


def unigram_bits(train: Tensor, valid: Tensor, vocab_size: int) -> float:
    """Bits per character on ``valid`` of a unigram model fitted to ``train`` (add-one smoothing,
    so a character unseen in training still has a finite cost)."""
    counts = torch.bincount(train.flatten(), minlength=vocab_size).double() + 1.0
    log_p = torch.log2(counts / counts.sum())
    return float(-log_p[valid.flatten()].mean())


def chars(*, path: str | None = None, seq_len: int = 64) -> Task:
    """A character-level language model of the text at ``path`` (default: the bundled
    Declaration of Independence). Inputs and targets ``(N, seq_len)`` character ids; metric:
    bits per character; baseline: a unigram model of the training characters."""
    check_int("chars", "seq_len", seq_len, minimum=1)
    source = default_text_path() if path is None else Path(path)
    text = read_text("chars", source)
    vocab = tuple(sorted(set(text)))
    lookup = {c: k for k, c in enumerate(vocab)}
    ids = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    n = len(ids)
    cut1, cut2 = math.floor(n * 0.8), math.floor(n * 0.9)
    need = 10 * (seq_len + 1)
    if min(cut1, cut2 - cut1, n - cut2) < seq_len + 1:
        raise ValueError(
            f"chars: text file {str(source)!r} is too short for seq_len={seq_len}: {n} characters, "
            f"need at least {need} (each of train/valid/test needs one window of seq_len + 1)"
        )
    train, valid, test = windows(ids[:cut1], seq_len), windows(ids[cut1:cut2], seq_len), windows(ids[cut2:], seq_len)
    return Task(
        "chars",
        "language_model",
        "bits_per_char",
        unigram_bits(train.targets, valid.targets, len(vocab)),
        "bits per character of a unigram model of the training text (add-one smoothing)",
        input_size=len(vocab),
        output_size=len(vocab),
        seq_len=seq_len,
        tokens=True,
        per_step=True,
        train=train,
        valid=valid,
        test=test,
        options={"path": None if path is None else str(path), "seq_len": seq_len},
        vocab=vocab,
    )
