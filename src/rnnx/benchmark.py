"""Timing rnnx against torch.nn in one process, with ratios to a baseline of the same run.

Machines are shared and noisy, so only ratios measured in one run are compared: the
implementations of a group are timed in interleaved rounds after warm-up, and each keeps
its minimum. Run it as ``rnnx bench`` (see :mod:`rnnx.cli`).
"""

from __future__ import annotations

import platform
import random
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnx

Shape = tuple[int, int, int, int]
K = TypeVar("K")
SHAPES: tuple[Shape, ...] = (
    (100, 32, 64, 128),
    (500, 8, 32, 64),
    (100, 64, 256, 256),
    (50, 128, 512, 512),
    (1000, 1, 32, 128),
)
"""``(T, B, I, H)`` shapes timed by default: the peer table's (shared/PERFORMANCE.md)."""


@dataclass(frozen=True)
class Case:
    """One implementation in a group; the group's first case is its baseline (ratio 1.00)."""

    name: str
    build: Callable[[int, int], nn.Module]  # (input_size, hidden_size) -> module in training mode


def _core(torch_cls: Callable[..., nn.Module], rnnx_cls: Callable[..., nn.Module]) -> list[Case]:
    return [
        Case("torch.nn", lambda i, h: torch_cls(i, h)),
        Case("rnnx auto", lambda i, h: rnnx_cls(i, h)),
        Case("rnnx reference", lambda i, h: rnnx_cls(i, h, backend="reference")),
    ]


GROUPS: dict[str, list[Case]] = {
    # LSTM's `auto` runs oneDNN, as torch.nn does; the fused row shows rnnx's own kernel beside it.
    "lstm": [*_core(nn.LSTM, rnnx.LSTM), Case("rnnx fused", lambda i, h: rnnx.LSTM(i, h, backend="fused"))],
    # With proj_size (H/2), torch.nn cannot use oneDNN and runs a per-step loop; `auto` runs fused.
    "lstm proj_size": _core(
        lambda i, h, **kw: nn.LSTM(i, h, proj_size=h // 2, **kw),
        lambda i, h, **kw: rnnx.LSTM(i, h, proj_size=h // 2, **kw),
    ),
    "gru": _core(nn.GRU, rnnx.GRU),
    "rnn": _core(nn.RNN, rnnx.RNN),
    # A packed batch, lengths uniform over [1, T]: torch.nn runs it step by step on the CPU.
    "lstm packed": _core(nn.LSTM, rnnx.LSTM),
    "gru packed": _core(nn.GRU, rnnx.GRU),
    # Two layers, both directions: the same ratios as one layer, or better.
    "lstm 2-layer bidirectional": [
        Case("torch.nn", lambda i, h: nn.LSTM(i, h, 2, bidirectional=True)),
        Case("rnnx auto", lambda i, h: rnnx.LSTM(i, h, 2, bidirectional=True)),
        Case("rnnx fused", lambda i, h: rnnx.LSTM(i, h, 2, bidirectional=True, backend="fused")),
        Case("LayerNorm-LSTM fused", lambda i, h: rnnx.LSTM(i, h, 2, bidirectional=True, layer_norm=True)),
    ],
    "lstm variants": [
        Case("torch.nn.LSTM", lambda i, h: nn.LSTM(i, h)),
        Case("LayerNorm-LSTM fused", lambda i, h: rnnx.LSTM(i, h, layer_norm=True, backend="fused")),
        Case("LayerNorm-LSTM eager loop", lambda i, h: rnnx.LSTM(i, h, layer_norm=True, backend="reference")),
        Case("LSTM zoneout=0.1 fused", lambda i, h: rnnx.LSTM(i, h, zoneout=0.1, backend="fused")),
        Case("LSTM recurrent_dropout=0.1 fused", lambda i, h: rnnx.LSTM(i, h, recurrent_dropout=0.1, backend="fused")),
    ],
}
SUITES: dict[str, tuple[str, ...]] = {
    "core": ("lstm", "lstm proj_size", "gru", "rnn"),
    "variants": ("lstm variants", "gru", "rnn"),
    "packed": ("lstm packed", "gru packed"),
    "layers": ("lstm 2-layer bidirectional",),
}
PACKED = frozenset({"lstm packed", "gru packed"})
"""Groups timed on a ``PackedSequence`` instead of a padded batch."""


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """What every table is measured on: the CPU, the instruction set torch detects, the threads."""
    return (
        f"CPU: {cpu_name()}; torch {torch.__version__} detects {torch.backends.cpu.get_cpu_capability()}; "
        f"{torch.get_num_threads()} threads"
    )


@dataclass
class Timing:
    """Best time per call of one implementation on one shape, in seconds."""

    mode: str
    shape: Shape
    implementation: str
    forward: float
    forward_backward: float


def _forward(module: nn.Module, x: torch.Tensor | PackedSequence) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            module(x)

    return run


def _forward_backward(module: nn.Module, x: torch.Tensor | PackedSequence) -> Callable[[], None]:
    def run() -> None:
        out, _ = module(x)
        (out.data if isinstance(out, PackedSequence) else out).sum().backward()

    return run


def best_time(fn: Callable[[], None], *, calls: int) -> float:
    """Mean seconds per call over ``calls`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def interleaved_minimum(
    jobs: Mapping[K, Callable[[], None]], *, repeats: int, warmup: int = 2, calls: int = 1
) -> dict[K, float]:
    """Best seconds per call of each job: ``warmup`` calls each, then ``repeats`` rounds in
    which every job in turn runs ``calls`` back-to-back calls; each keeps its fastest round.

    Each round runs the jobs in a new order (a fixed-seed shuffle, the same in every run): a job
    run right after another pays for what that one leaves behind (onnxruntime's threads winding
    down, a cache flushed), and in a fixed order, or a rotated one, the same job would always
    follow it and always pay."""
    best = dict.fromkeys(jobs, float("inf"))
    for fn in jobs.values():
        for _ in range(warmup):
            fn()
    order, shuffle = list(jobs), random.Random(0).shuffle
    for _ in range(repeats):
        for key in order:
            best[key] = min(best[key], best_time(jobs[key], calls=calls))
        shuffle(order)
    return best


@contextmanager
def _quiet_torch_projection() -> Iterator[None]:
    """torch.nn warns (once) that its LSTM with projections skips oneDNN: the very thing the
    ``lstm proj_size`` group measures."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
        yield


@_quiet_torch_projection()
def time_group(group: str, shape: Shape, *, repeats: int, warmup: int = 2) -> list[Timing]:
    """Time every case of ``group`` on one shape, interleaved."""
    steps, batch, features, hidden = shape
    cases = GROUPS[group]
    torch.manual_seed(0)
    modules = {case.name: case.build(features, hidden) for case in cases}
    padded = torch.randn(steps, batch, features, requires_grad=True)
    x: torch.Tensor | PackedSequence = padded
    if group in PACKED:
        lengths = torch.randint(1, steps + 1, (batch,), generator=torch.Generator().manual_seed(0))
        packed = pack_padded_sequence(padded.detach(), lengths, enforce_sorted=False)
        # The packed data is the leaf, so each timed backward has a graph of its own.
        x = PackedSequence(
            packed.data.requires_grad_(), packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
        )
    jobs = {
        (name, kind): make(module, x)
        for name, module in modules.items()
        for kind, make in (("forward", _forward), ("forward_backward", _forward_backward))
    }
    best = interleaved_minimum(jobs, repeats=repeats, warmup=warmup)
    return [Timing(group, shape, n, best[(n, "forward")], best[(n, "forward_backward")]) for n in modules]


def time_shape(mode: str, shape: Shape, *, repeats: int, warmup: int = 2) -> list[Timing]:
    """Time torch.nn, rnnx ``auto`` and rnnx ``reference`` for ``mode`` (lstm, gru, rnn)."""
    return time_group(mode, shape, repeats=repeats, warmup=warmup)


def dispatch_overhead(mode: str, *, calls: int = 2000, repeats: int = 5) -> tuple[float, float]:
    """Seconds per forward call of torch.nn and of rnnx ``auto`` on a layer so small
    (``T=2, B=1, I=4, H=8``) that the Python around the kernel dominates."""
    baseline_case, auto_case = GROUPS[mode][:2]
    torch.manual_seed(0)
    baseline = baseline_case.build(4, 8)
    ours = auto_case.build(4, 8)
    x = torch.randn(2, 1, 4)
    jobs = [_forward(baseline, x), _forward(ours, x)]
    with _quiet_torch_projection():
        for fn in jobs:
            best_time(fn, calls=calls // 10)
    best = [float("inf")] * 2
    for _ in range(repeats):
        for k, fn in enumerate(jobs):
            best[k] = min(best[k], best_time(fn, calls=calls))
    return best[0], best[1]


def format_table(timings: Sequence[Timing]) -> str:
    """A Markdown table of milliseconds with ratios to each group's baseline on the same shape."""
    base: dict[tuple[str, Shape], Timing] = {}
    for t in timings:
        base.setdefault((t.mode, t.shape), t)  # the first timing of a group is its baseline
    lines = [
        "| group | T, B, I, H | implementation | forward ms | ratio | forward+backward ms | ratio |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for t in timings:
        b = base[(t.mode, t.shape)]
        lines.append(
            f"| {t.mode} | {', '.join(map(str, t.shape))} | {t.implementation} | "
            f"{t.forward * 1e3:.2f} | {t.forward / b.forward:.2f} | "
            f"{t.forward_backward * 1e3:.2f} | {t.forward_backward / b.forward_backward:.2f} |"
        )
    return "\n".join(lines)


def run(
    groups: Sequence[str] = SUITES["core"],
    shapes: Sequence[Shape] = SHAPES,
    *,
    repeats: int = 10,
    echo: Callable[[str], None] | None = None,
) -> list[Timing]:
    """Time every group on every shape; ``echo`` receives one line per finished shape.

    Raises:
        ValueError: an unknown group.
    """
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"benchmark: group must be one of {tuple(GROUPS)}; got {unknown[0]!r}")
    timings: list[Timing] = []
    for group in groups:
        for shape in shapes:
            row = time_group(group, shape, repeats=repeats)
            timings += row
            if echo is not None:
                echo(
                    f"{group} {shape}: "
                    + ", ".join(f"{t.implementation} {t.forward_backward * 1e3:.1f} ms" for t in row)
                )
    return timings
