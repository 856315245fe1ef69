"""Timing rnnx against torch.nn in one process, with ratios to a baseline of the same run.

Machines are shared and noisy, so only ratios measured in one run are compared: every
implementation is timed in interleaved rounds after warm-up, and each keeps its minimum.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

import rnnx

SHAPES: tuple[tuple[int, int, int, int], ...] = ((100, 32, 64, 128), (500, 8, 32, 64), (100, 64, 256, 256))
"""``(T, B, I, H)`` shapes timed by default."""

MODES: dict[str, tuple[type[nn.Module], type[rnnx.RecurrentLayer]]] = {
    "lstm": (nn.LSTM, rnnx.LSTM),
    "gru": (nn.GRU, rnnx.GRU),
    "rnn": (nn.RNN, rnnx.RNN),
}


@dataclass
class Timing:
    """Best time per call of one implementation on one shape, in seconds."""

    mode: str
    shape: tuple[int, int, int, int]
    implementation: str
    forward: float
    forward_backward: float


def _forward(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            module(x)

    return run


def _forward_backward(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        out, _ = module(x)
        out.sum().backward()

    return run


def best_time(fn: Callable[[], None], *, calls: int) -> float:
    """Mean seconds per call over ``calls`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def time_shape(mode: str, shape: tuple[int, int, int, int], *, repeats: int, warmup: int = 2) -> list[Timing]:
    """Time torch.nn, rnnx ``auto`` and rnnx ``reference`` on one shape, interleaved."""
    steps, batch, features, hidden = shape
    torch_cls, rnnx_cls = MODES[mode]
    torch.manual_seed(0)
    baseline = torch_cls(features, hidden)
    modules = {
        "torch.nn": baseline,
        "rnnx auto": rnnx_cls.from_torch(baseline, backend="auto"),
        "rnnx reference": rnnx_cls.from_torch(baseline, backend="reference"),
    }
    x = torch.randn(steps, batch, features, requires_grad=True)
    jobs = {
        (name, kind): make(module, x)
        for name, module in modules.items()
        for kind, make in (("forward", _forward), ("forward_backward", _forward_backward))
    }
    best = dict.fromkeys(jobs, float("inf"))
    for fn in jobs.values():
        for _ in range(warmup):
            fn()
    for _ in range(repeats):
        for key, fn in jobs.items():
            best[key] = min(best[key], best_time(fn, calls=1))
    return [Timing(mode, shape, name, best[(name, "forward")], best[(name, "forward_backward")]) for name in modules]


def dispatch_overhead(mode: str, *, calls: int = 2000, repeats: int = 5) -> tuple[float, float]:
    """Seconds per forward call of torch.nn and of rnnx ``auto`` on a layer so small
    (``T=2, B=1, I=4, H=8``) that the Python around the kernel dominates."""
    torch_cls, rnnx_cls = MODES[mode]
    torch.manual_seed(0)
    baseline = torch_cls(4, 8)
    ours = rnnx_cls.from_torch(baseline)
    x = torch.randn(2, 1, 4)
    jobs = [_forward(baseline, x), _forward(ours, x)]
    for fn in jobs:
        best_time(fn, calls=calls // 10)
    best = [float("inf")] * 2
    for _ in range(repeats):
        for k, fn in enumerate(jobs):
            best[k] = min(best[k], best_time(fn, calls=calls))
    return best[0], best[1]


def format_table(timings: Sequence[Timing], *, baseline: str = "torch.nn") -> str:
    """A Markdown table of milliseconds with ratios to ``baseline`` of the same shape."""
    base = {(t.mode, t.shape): t for t in timings if t.implementation == baseline}
    lines = [
        "| mode | T, B, I, H | implementation | forward ms | ratio | forward+backward ms | ratio |",
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
    modes: Sequence[str] = tuple(MODES),
    shapes: Sequence[tuple[int, int, int, int]] = SHAPES,
    *,
    repeats: int = 10,
    echo: Callable[[str], None] | None = None,
) -> list[Timing]:
    """Time every mode on every shape; ``echo`` receives one line per finished shape."""
    timings: list[Timing] = []
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"benchmark: mode must be one of {tuple(MODES)}; got {mode!r}")
        for shape in shapes:
            row = time_shape(mode, shape, repeats=repeats)
            timings += row
            if echo is not None:
                echo(
                    f"{mode} {shape}: "
                    + ", ".join(f"{t.implementation} {t.forward_backward * 1e3:.1f} ms" for t in row)
                )
    return timings
