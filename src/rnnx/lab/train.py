"""``train(config)``: one model on one task with AdamW, clipping, a cosine or constant schedule,
early stopping, checkpoints each epoch, exact resume, and data parallelism under ``torchrun``.

Exactness of resume: the data order of epoch ``e`` is drawn from ``(seed, e)`` alone, the learning
rate is a function of the step, and the checkpoint holds the weights, the optimizer state and
every RNG state; a run resumed after epoch ``k`` therefore takes the same steps with the same
numbers as one that was never interrupted.

Data parallelism under ``torchrun`` (the process group, the peer timeout) is :mod:`rnnx.lab.distributed`'s.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnx._files import save_tensors, write_json
from rnnx.lab.checkpoint import (
    BEST,
    Pointer,
    best_weights_file,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from rnnx.lab.config import TrainConfig

# DEFAULT_TIMEOUT and PeerTimeoutError were defined here before the data-parallel plumbing had a
# module of its own; imported "as" themselves, they stay importable from here.
from rnnx.lab.distributed import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from rnnx.lab.distributed import PeerTimeoutError as PeerTimeoutError
from rnnx.lab.distributed import data_parallel, global_mean, process_device, process_group
from rnnx.lab.memory import PeakMemory
from rnnx.lab.models import build_model, count_parameters, matched_hidden_size
from rnnx.lab.outputs import Output
from rnnx.lab.rundir import check_device, check_run_dir, check_vocab
from rnnx.lab.runs import saved_task
from rnnx.lab.tasks import Batch, Task, get_task
from rnnx.recurrence import sample_offset
from rnnx.seq2seq import Seq2Seq


class TrainingDivergedError(ValueError):
    """The loss or the validation metric became NaN or infinite: the run stopped before writing
    anything, so its last checkpoint and ``best.safetensors`` are the last good ones."""


@dataclass(frozen=True)
class ProgressEvent:
    """What :func:`train` reports to its ``progress`` callback: ``kind`` is ``"step"`` after each
    optimizer step and ``"epoch"`` after each epoch's evaluation and checkpoint."""

    kind: str
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    loss: float
    metric: float | None = None


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


def learning_rate(config: TrainConfig, step: int, total: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) of ``total`` for a resolved config:
    linear warm-up over ``warmup_steps``, then constant or a half cosine from ``lr`` to 0."""
    assert config.lr is not None
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return config.lr
    progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def evaluate(model: nn.Module, task: Task, split: str, *, batch_size: int = 500, device: str = "cpu") -> float:
    """The task's metric of ``model`` on ``split`` (in eval mode; the mode is restored after)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in task.batches(split, batch_size):
        batch = batch.to(device)
        value, n = task.score(model, batch)
        total, count = total + value, count + n
    model.train(was_training)
    return total / count


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _diverged(what: str, run_dir: Path | None, epochs_done: int) -> TrainingDivergedError:
    if run_dir is None:
        kept = "the run stopped"
    elif epochs_done == 0:
        kept = f"the run stopped before writing its first checkpoint to {str(run_dir)!r}"
    else:
        kept = f"the run stopped; {str(run_dir)!r} keeps its checkpoint of epoch {epochs_done} and its best weights"
    return TrainingDivergedError(f"training diverged: {what}; {kept}. Try a smaller lr, or clip")


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


@dataclass
class RunState:
    """Where a run is and what it has measured so far: what each checkpoint's ``state.json`` holds
    and resume restores (its keys are :data:`rnnx.lab.checkpoint.STATE_TYPES`, in this order)."""

    epoch: int = 0  # epochs done
    step: int = 0  # optimizer steps done
    samples: int = 0  # training sequences seen, over all processes
    train_seconds: float = 0.0  # evaluation excluded
    curve: list[float] = field(default_factory=list)  # the validation metric after each epoch
    train_loss: list[float] = field(default_factory=list)  # the mean training loss of each epoch
    epoch_seconds: list[float] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs since the best one, for patience
    steps_to_halfway: int | None = None
    stopped_early: bool = False  # by target or patience
    peak_memory_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> RunState:
        """The state of a ``state.json`` that :func:`~rnnx.lab.checkpoint.check_state` accepted."""
        return cls(**{f.name: state[f.name] for f in fields(cls)})


@dataclass
class _Loop:
    """The parts of one run that every epoch uses, fixed for the run."""

    config: TrainConfig
    task: Task
    model: nn.Module
    trainer: nn.Module  # the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    device: torch.device
    rank: int
    world: int
    epochs: int
    steps_per_epoch: int
    total_steps: int
    run_dir: Path | None
    progress: Callable[[ProgressEvent], None] | None

    def finished(self, state: RunState) -> bool:
        return state.stopped_early or state.epoch >= self.epochs or state.step >= self.total_steps

    def train_epoch(self, state: RunState) -> list[float]:
        """The optimizer steps of epoch ``state.epoch`` (fewer where the step budget ends); the loss
        of each. Raises :class:`TrainingDivergedError` at a loss that is not finite."""
        config, epoch = self.config, state.epoch
        self.model.train()
        losses: list[float] = []
        shards = self.task.batches(
            "train", config.batch_size, shuffle=True, seed=config.seed, epoch=epoch, rank=self.rank,
            world_size=self.world, drop_last=self.world > 1,
        )  # fmt: skip
        for k, batch in enumerate(shards):
            if k >= self.steps_per_epoch or state.step >= self.total_steps:
                break
            losses.append(self.step(state, batch))
            if not math.isfinite(losses[-1]):
                where = f"step {state.step} (epoch {epoch + 1}, batch {k + 1} of {self.steps_per_epoch})"
                raise _diverged(f"the training loss is {losses[-1]} at {where}", self.run_dir, epoch)
            if self.progress is not None:
                self.progress(ProgressEvent("step", epoch, self.epochs, state.step, self.steps_per_epoch, losses[-1]))
        return losses

    def step(self, state: RunState, batch: Batch) -> float:
        """One optimizer step on this process's shard of a global batch; the global batch's loss."""
        config = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(config, state.step, self.total_steps)
        batch = batch.to(self.device)
        with sample_offset(self.rank * (config.batch_size // self.world)):  # this shard's first global sample
            loss = self.task.loss(self.task.forward(self.trainer, batch), batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), config.clip)
        self.optimizer.step()
        state.step += 1
        state.samples += len(batch.targets) * self.world
        return global_mean(loss, self.world)

    def validate(self, state: RunState) -> float:
        """The validation metric after the epoch just trained; :class:`TrainingDivergedError` when it
        is not finite."""
        config, task = self.config, self.task
        metric = evaluate(self.model, task, "valid", batch_size=config.eval_batch_size, device=str(self.device))
        if not math.isfinite(metric):
            where = f"after epoch {state.epoch + 1} (step {state.step})"
            raise _diverged(f"the validation {task.metric} is {metric} {where}", self.run_dir, state.epoch)
        return metric

    def record(self, state: RunState, metric: float, losses: list[float], seconds: float) -> bool:
        """Count the epoch just trained in ``state``: its time, metric and mean loss, the best epoch,
        the steps to halfway, and whether the target or patience stops the run. Whether ``metric``
        is a new best."""
        task, config, epoch = self.task, self.config, state.epoch
        state.epoch = epoch + 1
        state.train_seconds += seconds
        state.epoch_seconds.append(seconds)
        state.curve.append(metric)
        state.train_loss.append(sum(losses) / max(1, len(losses)))
        new_best = state.best_metric is None or task.better(metric, state.best_metric)
        if new_best:
            state.best_metric, state.best_epoch, state.bad_epochs = metric, epoch + 1, 0
        else:
            state.bad_epochs += 1
        reached = metric <= task.halfway if task.lower_is_better else metric >= task.halfway
        if state.steps_to_halfway is None and reached:
            state.steps_to_halfway = state.step
        target = config.target
        on_target = target is not None and (metric <= target if task.lower_is_better else metric >= target)
        state.stopped_early = on_target or (config.patience is not None and state.bad_epochs >= config.patience)
        return new_best


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
    loop = _Loop(
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
    while not loop.finished(state):
        started = time.perf_counter()
        losses = loop.train_epoch(state)
        seconds = time.perf_counter() - started
        metric = loop.validate(state)
        new_best = loop.record(state, metric, losses, seconds)
        if new_best:
            best_weights = copy.deepcopy(model.state_dict())
        state.peak_memory_bytes = max(state.peak_memory_bytes, memory.peak())
        if out is not None:
            save_checkpoint(
                out, epoch=state.epoch, model=model, optimizer=optimizer, state=state.to_json(), new_best=new_best
            )
        if progress is not None:
            mean_loss = state.train_loss[-1]
            progress(ProgressEvent("epoch", state.epoch, config.epochs, state.step, steps_per_epoch, mean_loss, metric))
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
