"""The epochs of one :func:`rnnx.lab.train.train` run: the learning rate of each step, the steps of
an epoch, validation, and what is recorded after it (:class:`RunState`, what each checkpoint's
``state.json`` holds), with what the loop reports (:class:`ProgressEvent`) and raises
(:class:`TrainingDivergedError`).

Exactness of resume: the data order of epoch ``e`` is drawn from ``(seed, e)`` alone, the learning
rate is a function of the step, and the checkpoint holds the weights, the optimizer state and
every RNG state; a run resumed after epoch ``k`` therefore takes the same steps with the same
numbers as one that was never interrupted.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnx.lab.checkpoint import save_checkpoint
from rnnx.lab.config import TrainConfig
from rnnx.lab.distributed import global_mean
from rnnx.lab.memory import PeakMemory
from rnnx.lab.outputs import Output
from rnnx.lab.tasks import Batch, Task
from rnnx.recurrence import sample_offset


class TrainingDivergedError(ValueError):
    """The loss or the validation metric became NaN or infinite: the run stopped before writing
    anything, so its last checkpoint and ``best.safetensors`` are the last good ones."""


@dataclass(frozen=True)
class ProgressEvent:
    """What :func:`~rnnx.lab.train.train` reports to its ``progress`` callback: ``kind`` is
    ``"step"`` after each optimizer step and ``"epoch"`` after each epoch's evaluation and
    checkpoint."""

    kind: str
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    loss: float
    metric: float | None = None


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
class Loop:
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

    def run(
        self, state: RunState, best_weights: dict[str, Any], out: Output | None, memory: PeakMemory
    ) -> dict[str, Any]:
        """Train epoch after epoch from ``state`` until the run is finished, each followed by its
        validation, its record in ``state``, its checkpoint in ``out`` (process 0 of a run with a
        directory) and its progress event; the best weights, ``best_weights`` until an epoch beats
        them. ``memory`` has started: each epoch records its peak so far."""
        while not self.finished(state):
            started = time.perf_counter()
            losses = self.train_epoch(state)
            seconds = time.perf_counter() - started
            metric = self.validate(state)
            new_best = self.record(state, metric, losses, seconds)
            if new_best:
                best_weights = copy.deepcopy(self.model.state_dict())
            state.peak_memory_bytes = max(state.peak_memory_bytes, memory.peak())
            if out is not None:
                save_checkpoint(
                    out,
                    epoch=state.epoch,
                    model=self.model,
                    optimizer=self.optimizer,
                    state=state.to_json(),
                    new_best=new_best,
                )
            if self.progress is not None:
                mean_loss = state.train_loss[-1]
                event = ProgressEvent(
                    "epoch", state.epoch, self.epochs, state.step, self.steps_per_epoch, mean_loss, metric
                )
                self.progress(event)
        return best_weights

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


def _diverged(what: str, run_dir: Path | None, epochs_done: int) -> TrainingDivergedError:
    if run_dir is None:
        kept = "the run stopped"
    elif epochs_done == 0:
        kept = f"the run stopped before writing its first checkpoint to {str(run_dir)!r}"
    else:
        kept = f"the run stopped; {str(run_dir)!r} keeps its checkpoint of epoch {epochs_done} and its best weights"
    return TrainingDivergedError(f"training diverged: {what}; {kept}. Try a smaller lr, or clip")
