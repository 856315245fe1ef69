"""Checkpoints a killed run can resume from exactly, written so a kill never leaves a torn one,
and verified when read.

Layout under the run directory::

    rnnx.json                    the lab's marker: what the directory is, which folders it made
    config.json                  the resolved TrainConfig
    checkpoints/epoch-0003/      one complete checkpoint per directory
        model.safetensors        weights
        trainer.pt               optimizer state and RNG states (torch, CUDA, numpy, random)
        state.json               epoch, step, history, best value, early-stopping counter
    checkpoint.json              the pointer: {"latest": "epoch-0003", "sha256": {file: digest},
                                 "best": {"epoch": 2, "sha256": digest}}
    best.safetensors             the weights with the best validation metric so far

A checkpoint directory is written in full before ``checkpoint.json`` points to it (every file
by an atomic rename), and only then are older checkpoint directories the run made removed
(file by file, never a tree; see :mod:`rnnx.lab.outputs`). The pointer records the SHA-256 of
each file of the checkpoint and of the best weights, so a damaged file is refused when read
instead of resumed from. A new ``best.safetensors`` is written after the pointer names it; it
holds the same bytes as that checkpoint's ``model.safetensors``, which stands in for it when a
kill came in between (:func:`best_weights_file`).
"""

from __future__ import annotations

import io
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnx._files import FileFormatError, load_tensors, read_json, save_tensors, sha256_bytes, write_atomic
from rnnx.lab.outputs import Output

POINTER = "checkpoint.json"
BEST = "best.safetensors"
CHECKPOINTS = "checkpoints"
MODEL, TRAINER, STATE = "model.safetensors", "trainer.pt", "state.json"
FILES = (MODEL, TRAINER, STATE)
_NAME = re.compile(r"epoch-\d{4,}")
_DIGEST = re.compile(r"[0-9a-f]{64}")

# state.json: key -> the JSON types its value may have.
STATE_TYPES: dict[str, tuple[type, ...]] = {
    "epoch": (int,),
    "step": (int,),
    "samples": (int,),
    "train_seconds": (int, float),
    "curve": (list,),
    "train_loss": (list,),
    "epoch_seconds": (list,),
    "best_metric": (int, float, type(None)),
    "best_epoch": (int,),
    "bad_epochs": (int,),
    "steps_to_halfway": (int, type(None)),
    "stopped_early": (bool,),
    "peak_memory_bytes": (int,),
}


def save_weights(path: Path, model: nn.Module) -> str:
    """Save ``model``'s state_dict with safetensors, atomically; returns the file's SHA-256."""
    return save_tensors(path, model.state_dict())


def load_weights(path: Path, model: nn.Module, *, sha256: str | None = None) -> None:
    """Load safetensors weights into ``model``, refusing a file whose SHA-256 is not ``sha256``
    (when given); every missing or unexpected key or wrong shape is an error naming the file.

    Raises:
        FileNotFoundError: no file; FileFormatError: damaged, or it does not fit the model.
    """
    state = load_tensors(path, sha256=sha256, device=next(model.parameters()).device)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = sorted(k for k in state if k not in expected)  # the file's order is not kept
    if missing or unexpected:
        raise FileFormatError(f"{path}: the weights do not fit the model: missing {missing}, unexpected {unexpected}")
    wrong = [
        f"{k} {tuple(state[k].shape)} (model: {tuple(v.shape)})"
        for k, v in expected.items()
        if state[k].shape != v.shape
    ]
    if wrong:
        raise FileFormatError(f"{path}: the weights do not fit the model: wrong shape of {', '.join(wrong)}")
    model.load_state_dict(state)


def rng_states() -> dict[str, Any]:
    """The random states of torch (CPU and every CUDA device), numpy and Python's ``random``,
    in types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    assert not isinstance(keys, str)  # legacy=True returns the MT19937 tuple
    version, python_state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": position},
        "numpy_gauss": {"has_gauss": has_gauss, "cached": cached},
        "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64), "gauss": gauss},
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` captured."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy = states["numpy"]
    gauss = states["numpy_gauss"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state((numpy["kind"], keys, numpy["position"], gauss["has_gauss"], gauss["cached"]))
    python = states["python"]
    random.setstate((python["version"], tuple(int(x) for x in python["state"].tolist()), python["gauss"]))


@dataclass(frozen=True)
class Pointer:
    """What ``checkpoint.json`` says: the latest checkpoint's folder name, the SHA-256 of each of
    its files, and the best weights' epoch and SHA-256 (``None`` before any)."""

    latest: str
    sha256: dict[str, str]
    best_epoch: int | None
    best_sha256: str | None

    def to_json(self) -> dict[str, Any]:
        best = None if self.best_sha256 is None else {"epoch": self.best_epoch, "sha256": self.best_sha256}
        return {"latest": self.latest, "sha256": self.sha256, "best": best}


def _digest(path: Path, where: str, value: object) -> str:
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise FileFormatError(f"{path}: {where} must be a SHA-256 (64 hex digits); got {value!r}")
    return value


def read_pointer(run_dir: Path) -> Pointer | None:
    """The run's ``checkpoint.json``, checked; ``None`` when the run has no checkpoint yet.

    Raises:
        FileFormatError: the pointer is damaged or names a checkpoint folder that does not exist.
    """
    path = run_dir / POINTER
    if not path.exists():
        return None
    data = read_json(path)
    missing = [k for k in ("latest", "sha256", "best") if k not in data]
    if missing:
        raise FileFormatError(f"{path}: missing key(s) {', '.join(missing)}")
    latest = data["latest"]
    if not isinstance(latest, str) or not _NAME.fullmatch(latest):
        raise FileFormatError(f"{path}: 'latest' must name a checkpoint folder like 'epoch-0003'; got {latest!r}")
    sums = data["sha256"]
    if not isinstance(sums, dict) or sorted(sums) != sorted(FILES):
        raise FileFormatError(f"{path}: 'sha256' must give the digest of each of {', '.join(FILES)}; got {sums!r}")
    checked = {name: _digest(path, f"sha256[{name!r}]", sums[name]) for name in FILES}
    best = data["best"]
    best_epoch, best_sha = None, None
    if best is not None:
        if not isinstance(best, dict) or not isinstance(best.get("epoch"), int) or isinstance(best["epoch"], bool):
            raise FileFormatError(f"{path}: 'best' must be null or {{'epoch': int, 'sha256': digest}}; got {best!r}")
        best_epoch, best_sha = best["epoch"], _digest(path, "best['sha256']", best.get("sha256"))
    folder = run_dir / CHECKPOINTS / latest
    if not folder.is_dir():
        raise FileFormatError(f"{path}: names checkpoint {latest!r}, but {str(folder)!r} does not exist")
    return Pointer(latest, checked, best_epoch, best_sha)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The directory ``checkpoint.json`` points to, or ``None`` when the run has none."""
    pointer = read_pointer(run_dir)
    return None if pointer is None else run_dir / CHECKPOINTS / pointer.latest


def best_weights_file(run_dir: Path, pointer: Pointer | None) -> tuple[Path, str]:
    """The file holding the run's best weights and its expected SHA-256: ``best.safetensors``, or
    the latest checkpoint's weights when they are the best and a kill came before
    ``best.safetensors`` was rewritten.

    Raises:
        FileNotFoundError: the run has no best weights yet.
        FileFormatError: ``best.safetensors`` is damaged (its checksum differs from the pointer's).
    """
    path = run_dir / BEST
    if pointer is None or pointer.best_sha256 is None:
        raise FileNotFoundError(
            f"{str(run_dir)!r} has no best weights yet (no checkpoint in {str(run_dir / POINTER)!r})"
        )
    if path.is_file() and sha256_bytes(path.read_bytes()) == pointer.best_sha256:
        return path, pointer.best_sha256
    if pointer.sha256[MODEL] == pointer.best_sha256:
        return run_dir / CHECKPOINTS / pointer.latest / MODEL, pointer.best_sha256
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (the best weights, epoch {pointer.best_epoch})")
    raise FileFormatError(f"{path}: the checksum does not match the one recorded in {run_dir / POINTER} (damaged?)")


def save_checkpoint(
    run: Output,
    *,
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    new_best: bool,
) -> Path:
    """Write the checkpoint after ``epoch`` epochs, point ``checkpoint.json`` at it, write
    ``best.safetensors`` when ``new_best``, then remove the run's older checkpoints.

    Raises:
        ValueError: the checkpoint folder exists but the run did not make it.
    """
    previous = read_pointer(run.root)
    name = f"epoch-{epoch:04d}"
    relative = f"{CHECKPOINTS}/{name}"
    folder = run.make_dir(relative)
    tensors = model.state_dict()
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "rng": rng_states()}, buffer)
    trainer = buffer.getvalue()
    text = (json.dumps(state, indent=2) + "\n").encode("utf-8")
    sums = {MODEL: save_tensors(folder / MODEL, tensors)}
    write_atomic(folder / TRAINER, trainer)
    write_atomic(folder / STATE, text)
    sums |= {TRAINER: sha256_bytes(trainer), STATE: sha256_bytes(text)}
    best_epoch: int | None
    best_sha: str | None
    if new_best:
        best_epoch, best_sha = epoch, sums[MODEL]
    else:
        best_epoch = None if previous is None else previous.best_epoch
        best_sha = None if previous is None else previous.best_sha256
    pointer = Pointer(name, sums, best_epoch, best_sha)
    write_atomic(run.root / POINTER, (json.dumps(pointer.to_json(), indent=2) + "\n").encode("utf-8"))
    if new_best and save_tensors(run.root / BEST, tensors) != sums[MODEL]:
        raise RuntimeError(f"{run.root / BEST}: safetensors wrote other bytes for the same weights")
    for old in run.created():
        if old.startswith(f"{CHECKPOINTS}/") and old != relative:
            run.remove_dir(old, FILES)
    return folder


def check_state(path: Path, state: object) -> dict[str, Any]:
    """``state`` (the content of ``state.json``) if it has every key with a value of the right type.

    Raises:
        FileFormatError: naming ``path`` and the first key that is missing or of the wrong type.
    """
    if not isinstance(state, dict):
        raise FileFormatError(f"{path}: expected a JSON object; got {type(state).__name__}")
    missing = [k for k in STATE_TYPES if k not in state]
    if missing:
        raise FileFormatError(f"{path}: missing key(s) {', '.join(missing)}")
    for key, types in STATE_TYPES.items():
        value = state[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise FileFormatError(f"{path}: {key} must be {names}; got {value!r}")
    for key in ("curve", "train_loss", "epoch_seconds"):
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in state[key]):
            raise FileFormatError(f"{path}: {key} must be a list of numbers")
    return state


def load_trainer(path: Path, *, sha256: str | None = None) -> dict[str, Any]:
    """The optimizer and RNG states in ``trainer.pt``, read with ``torch.load(weights_only=True)``
    (a pickle that names any other global is refused).

    Raises:
        FileNotFoundError: no file; FileFormatError: damaged, refused by ``weights_only``, or not
            what :func:`save_checkpoint` writes.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    data = path.read_bytes()
    if sha256 is not None and sha256_bytes(data) != sha256:
        raise FileFormatError(f"{path}: the checksum does not match the one recorded when it was written (damaged?)")
    try:
        trainer = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as error:  # torch.load raises many types on a damaged file
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise FileFormatError(f"{path}: not a trainer state torch.load(weights_only=True) accepts ({first})") from None
    if not isinstance(trainer, dict) or not isinstance(trainer.get("optimizer"), dict):
        raise FileFormatError(f"{path}: expected a dict with an 'optimizer' state and 'rng' states")
    rng = trainer.get("rng")
    if not isinstance(rng, dict) or sorted(rng) != ["cuda", "numpy", "numpy_gauss", "python", "torch"]:
        raise FileFormatError(f"{path}: 'rng' must hold the states of torch, cuda, numpy, numpy_gauss and python")
    return trainer


def load_checkpoint(
    run_dir: Path, pointer: Pointer, model: nn.Module, optimizer: torch.optim.Optimizer | None
) -> dict[str, Any]:
    """Load the weights (and the optimizer state) of the checkpoint ``pointer`` names, restore the
    RNG states, and return its ``state.json``; every file is checked against its SHA-256 first.

    Raises:
        FileNotFoundError: a file is missing; FileFormatError: a file is damaged or does not fit.
    """
    folder = run_dir / CHECKPOINTS / pointer.latest
    state_path = folder / STATE
    if not state_path.is_file():
        raise FileNotFoundError(f"{state_path}: no such file")
    if sha256_bytes(state_path.read_bytes()) != pointer.sha256[STATE]:
        raise FileFormatError(f"{state_path}: the checksum does not match the one recorded in {run_dir / POINTER}")
    state = check_state(state_path, read_json(state_path))
    trainer = load_trainer(folder / TRAINER, sha256=pointer.sha256[TRAINER])
    load_weights(folder / MODEL, model, sha256=pointer.sha256[MODEL])
    try:
        if optimizer is not None:
            optimizer.load_state_dict(trainer["optimizer"])
            _check_optimizer_shapes(folder / TRAINER, optimizer)
        set_rng_states(trainer["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
        raise FileFormatError(f"{folder / TRAINER}: does not fit this run ({error})") from None
    return state


def _check_optimizer_shapes(path: Path, optimizer: torch.optim.Optimizer) -> None:
    """Every per-parameter tensor of the loaded optimizer state (AdamW's moments) has its
    parameter's shape; ``load_state_dict`` checks only the number of parameters."""
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for name, value in optimizer.state.get(parameter, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != parameter.shape:
                    raise FileFormatError(
                        f"{path}: does not fit this run (optimizer {name} of shape {tuple(value.shape)} "
                        f"for a parameter of shape {tuple(parameter.shape)})"
                    )
