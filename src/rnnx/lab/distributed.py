"""Data parallelism for :func:`rnnx.lab.train.train` under ``torchrun``: this process's device, its
process group, the model's wrapper and the global batch's loss.

Launched by ``torchrun --nproc_per_node N``, each process takes an equal ``1/N`` shard of every
global batch and ``DistributedDataParallel`` averages the gradients (gloo on CPU, NCCL on CUDA),
which equals one process on the whole batch; the last, incomplete batch of an epoch is dropped so
the shards stay equal. Every process seeds identically and runs its shard inside
:func:`rnnx.sample_offset` (the index of its first sample in the global batch), so rnnx's random
masks (dropout, zoneout, recurrent dropout; weight drop is one mask per step, the same on every
process) are those of one process on the whole batch. A process that waits more than ``timeout``
seconds for the others (a frozen or dead peer) stops with :class:`PeerTimeoutError`. Process 0
alone writes the run directory.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import Tensor, nn

from rnnx.lab.config import TrainConfig

DEFAULT_TIMEOUT = 300.0
"""Seconds a data-parallel process waits for the others at a collective before giving up."""


class PeerTimeoutError(TimeoutError):
    """A data-parallel process waited longer than its timeout for the others."""


def process_device(config: TrainConfig) -> torch.device:
    """The device this process trains on: ``config.device`` (``"auto"``: CUDA when there is one);
    under ``torchrun``, one GPU per process, the one of its ``LOCAL_RANK``."""
    name = config.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and "LOCAL_RANK" in os.environ:  # one GPU per torchrun process
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


@contextmanager
def process_group(device: torch.device, timeout: float) -> Iterator[tuple[int, int]]:
    """``(rank, world_size)`` of this process, ``(0, 1)`` outside ``torchrun``. Under it, the
    process group is initialised on entry unless the caller did, and then torn down on exit; its
    collectives give up after ``timeout`` seconds, and a rendezvous or collective that timed out
    in the block raises :class:`PeerTimeoutError` (the group is then left alone: one whose peer is
    gone cannot be torn down collectively)."""
    created = False
    try:
        rank, world, created = _distributed(device, timeout)
        yield rank, world
    except RuntimeError as error:
        timed_out = _peer_timeout(error, timeout) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None
        if timed_out is None:
            raise
        created = False  # a group whose peer is gone cannot be torn down collectively
        raise timed_out from error
    finally:
        if created:
            dist.destroy_process_group()


def data_parallel(model: nn.Module, device: torch.device, world: int) -> nn.Module:
    """The module that trains ``model``: itself in one process, its ``DistributedDataParallel``
    wrapper (which averages the gradients over the processes) in several."""
    if world <= 1:
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def global_mean(loss: Tensor, world: int) -> float:
    """The global batch's loss from this process's shard's ``loss`` (the mean over the processes)."""
    reported = loss.detach()
    if world > 1:  # report the global batch's loss, not this process's shard's
        reported = reported.clone()
        dist.all_reduce(reported)
        reported /= world
    return float(reported)


def _peer_timeout(error: BaseException, timeout: float) -> PeerTimeoutError | None:
    """The one-line error for a collective or rendezvous that timed out, else ``None``. Gloo and
    the store raise a ``RuntimeError`` saying "Timed out ..."."""
    if not isinstance(error, RuntimeError) or "timed out" not in str(error).lower():
        return None
    rank = os.environ.get("RANK", "?")
    return PeerTimeoutError(
        f"process {rank} waited more than timeout={timeout:g} s (--timeout) for the other processes of the "
        "data-parallel run: one of them is frozen or has died"
    )


def _distributed(device: torch.device, timeout: float) -> tuple[int, int, bool]:
    """``(rank, world_size, created)``: under ``torchrun`` the process group is initialised here
    unless the caller did (``created`` says whether we did, so we also tear it down); its
    collectives give up after ``timeout`` seconds."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    created = not dist.is_initialized()
    if created:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    return dist.get_rank(), dist.get_world_size(), created
