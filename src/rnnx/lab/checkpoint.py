"""Checkpoints a killed run can resume from exactly, written so a kill never leaves a torn one.

Layout under the run directory::

    config.json                  the resolved TrainConfig
    checkpoints/epoch-0003/      one complete checkpoint per directory
        model.safetensors        weights
        trainer.pt               optimizer state and RNG states (torch, CUDA, numpy, random)
        state.json               epoch, step, history, best value, early-stopping counter
    checkpoint.json              {"latest": "epoch-0003"}: replaced atomically once the directory is whole
    best.safetensors             the weights with the best validation metric so far

A checkpoint directory is written in full before ``checkpoint.json`` points to it (by
``os.replace``), and only then is the previous one deleted; a run killed at any moment
leaves a pointer to a complete checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

POINTER = "checkpoint.json"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2) + "\n"

    def write(temporary: Path) -> None:
        temporary.write_text(text, encoding="utf-8")

    atomic_write(path, write)


def save_weights(path: Path, model: nn.Module) -> None:
    """Save ``model``'s state_dict with safetensors, atomically (tensors made contiguous and unshared)."""
    tensors = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write(path, lambda p: save_file(tensors, str(p)))


def load_weights(path: Path, model: nn.Module) -> None:
    """Load safetensors weights into ``model``; every missing or unexpected key is an error."""
    state = load_file(str(path), device=str(next(model.parameters()).device))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"weights {str(path)!r} do not fit the model: missing {missing}, unexpected {unexpected}")


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


def save_checkpoint(
    run_dir: Path, *, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> Path:
    """Write the checkpoint after ``epoch`` epochs and point ``checkpoint.json`` at it."""
    name = f"epoch-{epoch:04d}"
    root = run_dir / "checkpoints"
    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)  # a partial one from a run killed while writing it
    folder.mkdir(parents=True)
    save_weights(folder / "model.safetensors", model)
    trainer = {"optimizer": optimizer.state_dict(), "rng": rng_states()}
    atomic_write(folder / "trainer.pt", lambda p: torch.save(trainer, p))
    write_json(folder / "state.json", state)
    write_json(run_dir / POINTER, {"latest": name})
    for old in root.iterdir():
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The directory ``checkpoint.json`` points to, or ``None`` when the run has none."""
    pointer = run_dir / POINTER
    if not pointer.is_file():
        return None
    latest = str(json.loads(pointer.read_text(encoding="utf-8"))["latest"])
    folder = run_dir / "checkpoints" / latest
    if not folder.is_dir():
        raise ValueError(f"checkpoint {str(folder)!r} named by {str(pointer)!r} is missing")
    return folder


def load_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    """Load weights (and the optimizer state) from ``folder``, restore the RNG states, and return
    the saved ``state.json``."""
    load_weights(folder / "model.safetensors", model)
    trainer = torch.load(folder / "trainer.pt", weights_only=True, map_location="cpu")
    if optimizer is not None:
        optimizer.load_state_dict(trainer["optimizer"])
    set_rng_states(trainer["rng"])
    state: dict[str, Any] = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    return state
