"""``train(config)``: one model on one task with AdamW, clipping, a cosine or constant schedule,
early stopping, checkpoints each epoch, exact resume, and data parallelism under ``torchrun``.

This module sets a run up (the task, the model, the optimizer, the step budget, the run directory
or the checkpoint it resumes from) and gathers its :class:`TrainResult`. The epochs, and why a
resumed run takes the same steps as one never interrupted, are :mod:`rnnx.lab.loop`'s; the
data-parallel plumbing (the process group, the peer timeout) is :mod:`rnnx.lab.distributed`'s.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnx._files import save_tensors, write_json
from rnnx.lab.checkpoint import BEST, Pointer, best_weights_file, load_checkpoint, load_weights
from rnnx.lab.config import TrainConfig

# DEFAULT_TIMEOUT, PeerTimeoutError, ProgressEvent, RunState, TrainingDivergedError, evaluate and
# learning_rate were defined here before the loop and the data-parallel plumbing had modules of their
# own; imported "as" themselves, they stay importable from here.
from rnnx.lab.distributed import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from rnnx.lab.distributed import PeerTimeoutError as PeerTimeoutError
from rnnx.lab.distributed import data_parallel, process_device, process_group
from rnnx.lab.loop import Loop
from rnnx.lab.loop import ProgressEvent as ProgressEvent
from rnnx.lab.loop import RunState as RunState
from rnnx.lab.loop import TrainingDivergedError as TrainingDivergedError
from rnnx.lab.loop import evaluate as evaluate
from rnnx.lab.loop import learning_rate as learning_rate
from rnnx.lab.memory import PeakMemory
from rnnx.lab.models import build_model, count_parameters, matched_hidden_size
from rnnx.lab.outputs import Output
from rnnx.lab.rundir import check_device, check_run_dir, check_vocab
from rnnx.lab.runs import saved_task
from rnnx.lab.tasks import Task, get_task
from rnnx.seq2seq import Seq2Seq


@dataclass
class TrainResult:
    """What a run measured. ``curve[e]`` is the validation metric after epoch ``e + 1``;
    ``epoch_seconds[e]`` the training time of that epoch (evaluation excluded)."""

    task: str
    metric: str
    lower_is_better: bool
    baseline: float
    model: str
    params: int
    hidden_size: int
    seed: int
    steps: int
    curve: list[float]
    train_loss: list[float]
    epoch_seconds: list[float]
    best_metric: float
    best_epoch: int
    final_metric: float
    test_metric: float
    train_seconds: float
    samples_per_second: float
    peak_memory_bytes: int
    peak_memory_measure: str
    steps_to_halfway: int | None
    stopped_early: bool
    world_size: int = 1
    network: nn.Module | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the network, as JSON-ready values."""
        return {k: v for k, v in asdict(self).items() if k != "network"}


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def train(
    config: TrainConfig,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[ProgressEvent], None] | None = None,
    max_steps: int | None = None,
    model: nn.Module | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> TrainResult:
    """Train ``config.model`` on ``config.task`` and return what was measured.

    Arguments:
        config: the run (unset fields are resolved, see :meth:`TrainConfig.resolve`).
        out_dir: the run directory for ``config.json``, checkpoints, ``best.safetensors`` and
            ``result.json``; ``None`` keeps everything in memory.
        resume: continue the run in ``out_dir`` from its latest checkpoint (a finished run returns
            its result at once). Without it, an ``out_dir`` that already holds a run is an error.
        progress: called with a :class:`ProgressEvent` after every step and epoch.
        max_steps: a budget of optimizer steps over the whole run (the cosine schedule ends there).
        model: train this module instead of building ``config.model`` (which then only labels the
            run); it must take the task's batches like :func:`rnnx.lab.models.build_model`'s models.
            It is trained in place; on resume its weights are replaced by the checkpoint's.
        timeout: under ``torchrun``, the seconds a process waits for the others at a collective
            (gradient all-reduce, rendezvous) before it stops with :class:`PeerTimeoutError`.

    Returns:
        A :class:`TrainResult`; ``network`` is the model with its final weights; ``test_metric``
        is measured with the best validation weights.

    Raises:
        ValueError: for a bad config or device, an ``out_dir`` that is not a new or empty directory
            nor a run, one that already holds a run without ``resume``, or a config that differs
            from the saved one (see :func:`check_run_dir`).
        TrainingDivergedError: the loss or the validation metric became NaN or infinite; nothing
            was written for that epoch.
        FileNotFoundError, FileFormatError: ``resume`` on a run with a missing or damaged file.
        PeerTimeoutError: under ``torchrun``, another process did not answer within ``timeout``.
    """
    config = config.resolve()
    check_device(config.device)
    run_dir = None if out_dir is None else Path(out_dir)
    checkpoint = None
    if run_dir is not None:
        checkpoint = check_run_dir(run_dir, config, resume=resume)
    elif resume:
        raise ValueError("resume=True needs out_dir, the run directory to resume")

    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    device = process_device(config)
    # Every process has checked the run directory above before any can pass this rendezvous and write it.
    with process_group(device, timeout) as (rank, world):
        return _train(config, run_dir, checkpoint, resume, progress, max_steps, model, device, rank, world)


def _train(
    config: TrainConfig,
    run_dir: Path | None,
    checkpoint: Pointer | None,
    resume: bool,
    progress: Callable[[ProgressEvent], None] | None,
    max_steps: int | None,
    given: nn.Module | None,
    device: torch.device,
    rank: int,
    world: int,
) -> TrainResult:
    assert config.hidden_size is not None  # resolve() filled it
    assert config.epochs is not None
    assert config.lr is not None
    if resume and run_dir is not None:
        task = saved_task(config, run_dir / "config.json")
    else:
        task = get_task(config.task, **config.task_options)
    hidden = config.hidden_size
    if config.match_params is not None and given is None:
        hidden = matched_hidden_size(config.model, task, config.match_params, num_layers=config.num_layers)
    model = _model(config, task, hidden, given).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch, total_steps = _step_budget(config, task, world, max_steps)
    out = _open_run_dir(config, run_dir, task, rank, resume)
    state, best_weights = RunState(), copy.deepcopy(model.state_dict())
    if checkpoint is not None and run_dir is not None:
        state, best = _resume(run_dir, checkpoint, model, optimizer, rewrite_best=out is not None)
        best_weights = best_weights if best is None else best
    loop = Loop(
        config=config,
        task=task,
        model=model,
        trainer=data_parallel(model, device, world),
        optimizer=optimizer,
        device=device,
        rank=rank,
        world=world,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        run_dir=run_dir,
        progress=progress,
    )
    memory = PeakMemory(device)
    memory.start()
    best_weights = loop.run(state, best_weights, out, memory)
    result = _result(config, task, model, state, hidden, world, memory.what, best_weights, device)
    if out is not None:
        write_json(out.root / "result.json", result.to_dict())
    return result


def _model(config: TrainConfig, task: Task, hidden: int, given: nn.Module | None) -> nn.Module:
    """The model to train, after seeding: ``config.model`` built for ``task``, or ``given``; an
    encoder-decoder given with vocabularies must have the task's."""
    seed_everything(config.seed)  # before building: the seed decides the initial weights
    if given is None:
        return build_model(config.model, task, hidden_size=hidden, num_layers=config.num_layers, dropout=config.dropout)
    vocabs = (given.src_vocab, given.tgt_vocab) if isinstance(given, Seq2Seq) else (None, None)
    if task.kind == "seq2seq" and vocabs != (None, None) and vocabs != (task.info["src_vocab"], task.info["tgt_vocab"]):
        raise ValueError(
            f"model: its vocabularies are not those of task {task.name!r} with these options; build it "
            "with the task's own, task.info['src_vocab'] and task.info['tgt_vocab']"
        )
    return given


def _step_budget(config: TrainConfig, task: Task, world: int, max_steps: int | None) -> tuple[int, int]:
    """``(steps_per_epoch, total_steps)``; data parallelism drops each epoch's incomplete batch."""
    assert config.epochs is not None
    size, n = config.batch_size, len(task.train)
    batches_per_epoch = n // size if world > 1 else math.ceil(n / size)
    if batches_per_epoch < 1:
        raise ValueError(f"batch_size {size} is larger than the training split ({n} examples)")
    steps_per_epoch = min(batches_per_epoch, config.steps_per_epoch or batches_per_epoch)
    total_steps = config.epochs * steps_per_epoch
    return steps_per_epoch, total_steps if max_steps is None else min(max_steps, total_steps)


def _open_run_dir(config: TrainConfig, run_dir: Path | None, task: Task, rank: int, resume: bool) -> Output | None:
    """The run directory process 0 writes (``None`` for the other processes and in-memory runs):
    claimed, with ``config.json`` and a text task's ``vocab.json``, for a new run."""
    if run_dir is None:
        return None
    check_vocab(run_dir, task)
    if rank != 0:
        return None
    out = Output.existing(run_dir, "run") if resume else Output.claim(run_dir, "run")
    if not resume:
        write_json(run_dir / "config.json", config.to_dict())
    if task.vocab is not None and not (run_dir / "vocab.json").exists():
        write_json(run_dir / "vocab.json", list(task.vocab))  # lets rnnx generate notice a changed text
    return out


def _resume(
    run_dir: Path, checkpoint: Pointer, model: nn.Module, optimizer: torch.optim.Optimizer, *, rewrite_best: bool
) -> tuple[RunState, dict[str, Any] | None]:
    """Load the checkpoint into ``model`` and ``optimizer`` and restore the RNG states; the run's
    state and its best weights so far (``None`` when the pointer names none). ``rewrite_best``
    (process 0): repair ``best.safetensors`` when a kill came before it was rewritten."""
    state = RunState.from_json(load_checkpoint(run_dir, checkpoint, model, optimizer))
    if checkpoint.best_sha256 is None:
        return state, None
    path, digest = best_weights_file(run_dir, checkpoint)
    best_model = copy.deepcopy(model)
    load_weights(path, best_model, sha256=digest)
    best_weights = best_model.state_dict()
    if rewrite_best and path != run_dir / BEST:  # killed before best.safetensors was rewritten
        save_tensors(run_dir / BEST, best_weights)
    return state, best_weights


def _result(
    config: TrainConfig,
    task: Task,
    model: nn.Module,
    state: RunState,
    hidden: int,
    world: int,
    memory_measure: str,
    best_weights: dict[str, Any],
    device: torch.device,
) -> TrainResult:
    """What the run measured; the test metric with the best weights, the model left with its final ones."""
    final_weights = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_weights)
    test_metric = evaluate(model, task, "test", batch_size=config.eval_batch_size, device=str(device))
    model.load_state_dict(final_weights)
    assert state.best_metric is not None  # at least one epoch was evaluated
    return TrainResult(
        task=task.name,
        metric=task.metric,
        lower_is_better=task.lower_is_better,
        baseline=task.baseline,
        model=config.model,
        params=count_parameters(model),
        hidden_size=hidden,
        seed=config.seed,
        steps=state.step,
        curve=list(state.curve),
        train_loss=list(state.train_loss),
        epoch_seconds=list(state.epoch_seconds),
        best_metric=float(state.best_metric),
        best_epoch=state.best_epoch,
        final_metric=float(state.curve[-1]),
        test_metric=test_metric,
        train_seconds=state.train_seconds,
        samples_per_second=state.samples / max(state.train_seconds, 1e-9),
        peak_memory_bytes=state.peak_memory_bytes,
        peak_memory_measure=memory_measure,
        steps_to_halfway=state.steps_to_halfway,
        stopped_early=state.stopped_early,
        world_size=world,
        network=model,
    )
