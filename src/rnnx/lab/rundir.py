"""Checks of a training run's device and directory before any work: nothing is written here.

``check_run_dir`` decides whether a directory can take a run (new, empty, or a run of the lab;
see :mod:`rnnx.lab.outputs`) and, for ``resume``, which checkpoint to continue from;
``check_device`` that the device asked for exists on this machine.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rnnx._files import FileFormatError, read_json
from rnnx.lab.checkpoint import Pointer, read_pointer
from rnnx.lab.config import TrainConfig, read_saved_config
from rnnx.lab.outputs import Output, check_output
from rnnx.lab.tasks import Task


def check_device(name: str) -> None:
    """Check that the device ``name`` (a resolved config's ``device``) exists on this machine.

    Raises:
        ValueError: CUDA or MPS asked for where there is none, or a CUDA index out of range.
    """
    if name in ("auto", "cpu"):
        return
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"TrainConfig: device {name!r} is not available here (torch.cuda.is_available() is False); "
                "use device cpu or auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"TrainConfig: device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"TrainConfig: device {name!r} is not available here (torch.backends.mps.is_available() is False)"
        )


def check_saved_config(run_dir: Path, config: TrainConfig) -> None:
    saved = read_saved_config(run_dir / "config.json")
    ours, theirs = config.to_dict(), saved.to_dict()
    differ = [k for k in ours if ours[k] != theirs[k] and k != "device"]
    if differ:
        changes = ", ".join(f"{k}: {theirs[k]!r} -> {ours[k]!r}" for k in differ)
        raise ValueError(f"cannot resume {str(run_dir)!r} with a different config ({changes})")


def check_run_dir(run_dir: Path, config: TrainConfig, *, resume: bool) -> Pointer | None:
    """Check, without writing, that ``run_dir`` can take this run; returns the checkpoint to
    resume from (``None``: start at step 0).

    A new run needs a directory that does not exist, is empty, or is a run directory whose run
    never started (no ``config.json``). ``resume`` needs a run directory with the same config; one
    killed before its first checkpoint starts again from step 0.

    Raises:
        ValueError: ``run_dir`` is a file, a non-empty folder that is not a run, already holds a run
            (without ``resume``), or holds one with a different config.
        FileNotFoundError: ``resume`` on a directory that is not a run.
        FileFormatError: a damaged file of the run.
    """
    saved = run_dir / "config.json"
    if resume:
        Output.existing(run_dir, "run")
        if not saved.exists():
            raise FileNotFoundError(f"cannot resume {str(run_dir)!r}: {str(saved)!r} does not exist")
        check_saved_config(run_dir, config)
        return read_pointer(run_dir)
    if check_output(run_dir, "run") and saved.exists():
        pointer = read_pointer(run_dir)
        where = "no checkpoint yet" if pointer is None else f"last checkpoint {pointer.latest}"
        raise ValueError(
            f"{str(run_dir)!r} already holds a run ({where}); continue it with resume=True "
            f"(rnnx train --resume {run_dir}) or choose a new directory"
        )
    return None


def check_vocab(run_dir: Path, task: Task) -> None:
    path = run_dir / "vocab.json"
    if task.vocab is None or not path.exists():
        return
    saved = read_json(path, expect=list)
    if not all(isinstance(symbol, str) for symbol in saved):
        raise FileFormatError(f"{path}: expected a JSON array of strings")
    if tuple(saved) != task.vocab:
        raise ValueError(
            f"the data of task {task.name!r} changed since {str(run_dir)!r} was started (another vocabulary)"
        )
