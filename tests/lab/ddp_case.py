"""A small data-parallel case with every stochastic regulariser on, shared by the test (one
process on the global batch) and by its worker processes (``python -m tests.lab.ddp_case``
under ``torchrun``): dropout between 2 layers, zoneout, recurrent dropout and weight drop, on
the native (layer by layer), fused and reference backends, with packed input of unsorted
lengths.

Worker modes: ``train OUT`` trains ``STEPS`` steps under DDP and rank 0 saves the weights to
``OUT``; ``frozen ARGS...``: rank 1 joins the process group and sleeps, rank 0 runs
``rnnx train ARGS...`` and exits with its code.
"""

from __future__ import annotations

import os
import sys
import time

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnx

GLOBAL_BATCH, STEPS, T = 8, 3, 9


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        regularisers = {"dropout": 0.3, "weight_drop": 0.2}
        # native: stacked LSTM with dropout runs layer by layer with the keyed dropout
        self.lstm = rnnx.LSTM(3, 5, 2, batch_first=True, **regularisers)
        # fused on CPU (GRU, T >= 8): zoneout computed in the kernel
        self.gru = rnnx.GRU(5, 4, 2, batch_first=True, zoneout=0.2, recurrent_dropout=0.25, **regularisers)
        # reference: LSTM zoneout on both states, bidirectional
        self.ref = rnnx.LSTM(
            4, 3, 2, batch_first=True, bidirectional=True, zoneout=(0.2, 0.3), recurrent_dropout=0.2,
            backend="reference", **regularisers,
        )  # fmt: skip
        self.head = nn.Linear(6, 1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = self.gru(h)
        h, _ = self.ref(h)
        padded, _ = pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
        return self.head(padded.sum(1)).squeeze(-1)  # (B,)


def build() -> Model:
    torch.manual_seed(0)
    return Model().double().train()


def data(step: int) -> tuple[Tensor, Tensor, Tensor]:
    """The global batch of ``step``: inputs ``(B, T, 3)``, lengths ``(B,)``, targets ``(B,)``."""
    g = torch.Generator().manual_seed(100 + step)
    x = torch.randn(GLOBAL_BATCH, T, 3, generator=g, dtype=torch.float64)
    lengths = torch.randint(1, T + 1, (GLOBAL_BATCH,), generator=g)
    y = torch.randn(GLOBAL_BATCH, generator=g, dtype=torch.float64)
    return x, lengths, y


def train(model: nn.Module, *, rank: int = 0, world: int = 1) -> None:
    """``STEPS`` SGD steps on the shard ``rank`` of each global batch, samples numbered globally."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    shard = GLOBAL_BATCH // world
    torch.manual_seed(1)  # every process alike, as the lab seeds
    for step in range(STEPS):
        x, lengths, y = (t[rank * shard : (rank + 1) * shard] for t in data(step))
        with rnnx.sample_offset(rank * shard):
            loss = (model(x, lengths) - y).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def train_emulated(model: nn.Module, *, world: int, offsets: bool) -> None:
    """:func:`train` as ``world`` processes would run it, in this one: each shard's gradient from
    its own copy of the generator (seeded alike), averaged; with or without the global numbering."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    shard = GLOBAL_BATCH // world
    torch.manual_seed(1)
    generators = [torch.get_rng_state()] * world
    for step in range(STEPS):
        optimizer.zero_grad()
        for rank in range(world):
            x, lengths, y = (t[rank * shard : (rank + 1) * shard] for t in data(step))
            torch.set_rng_state(generators[rank])
            with rnnx.sample_offset(rank * shard if offsets else 0):
                loss = (model(x, lengths) - y).pow(2).mean() / world
            loss.backward()
            generators[rank] = torch.get_rng_state()
        optimizer.step()


def _worker_train(out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = build()
    train(nn.parallel.DistributedDataParallel(model), rank=rank, world=world)
    if rank == 0:
        torch.save(model.state_dict(), out)
    dist.destroy_process_group()


def _worker_frozen(args: list[str]) -> int:
    import torch.distributed as dist

    if int(os.environ["RANK"]) == 1:  # joins, then never reaches a collective
        dist.init_process_group("gloo")
        time.sleep(25)
        return 0
    from rnnx.cli import main

    return main(args)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "train":
        _worker_train(sys.argv[2])
    else:
        sys.exit(_worker_frozen(sys.argv[2:]))
