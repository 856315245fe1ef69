"""Where the fused LSTM's forward+backward time goes, and how far it is from the machine's limit.

python benchmarks/profile.py                 # the peer table's five shapes, LSTM and LayerNorm-LSTM
python benchmarks/profile.py --shapes 100,32,64,128

For each shape, ``torch.profiler`` over a few forward+backward calls of ``backend="fused"``
splits the self CPU time into the fused forward loop (``FusedScan``), the fused backward loop
(``FusedScanBackward``, its own time), the whole-sequence GEMMs (``aten::mm``/``addmm``, in
PyTorch's BLAS: the input projection, ``dx``, ``dW_ih`` and the kernel's ``dW_hh``), the layer
norm of the input projection, and the rest. The limit is the call's FLOPs,
``24 T B H (I + H)`` for an LSTM (the forward's two products, the backward's four), at the
machine's measured peak: the best of PyTorch's ``sgemm`` on a large square product and rnnx's
packed per-step kernel, on every thread.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

import rnnx
from rnnx.benchmark import SHAPES, machine_line

GEMMS = ("aten::mm", "aten::addmm", "aten::bmm")
NORMS = ("aten::native_layer_norm", "aten::native_layer_norm_backward", "aten::layer_norm")


def peak_gflops(size: int = 2048, calls: int = 5) -> float:
    """PyTorch's ``sgemm`` on a ``size``-square float32 product, all threads, best of ``calls``."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(calls))
    return 2 * size**3 / best / 1e9


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def profile_shape(shape: tuple[int, int, int, int], *, layer_norm: bool, calls: int = 5) -> dict[str, float]:
    """Milliseconds per forward+backward call by part, and the total."""
    steps, batch, features, hidden = shape
    torch.manual_seed(0)
    layer = rnnx.LSTM(features, hidden, backend="fused", layer_norm=layer_norm)
    x = torch.randn(steps, batch, features, requires_grad=True)
    for _ in range(2):
        layer(x)[0].sum().backward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            layer(x)[0].sum().backward()
    parts = {"forward loop": 0.0, "backward loop": 0.0, "GEMMs": 0.0, "layer norm": 0.0, "rest": 0.0}
    for event in prof.key_averages():
        us = event.self_cpu_time_total
        if event.key == "FusedScan":
            parts["forward loop"] += us
        elif event.key == "FusedScanBackward":
            parts["backward loop"] += us
        elif event.key in GEMMS:
            parts["GEMMs"] += us
        elif event.key in NORMS:
            parts["layer norm"] += us
        else:
            parts["rest"] += us
    parts = {k: v / calls / 1e3 for k, v in parts.items()}
    parts["total"] = sum(parts.values())
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", action="append", help="T,B,I,H; repeatable")
    args = parser.parse_args()
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes] if args.shapes else list(SHAPES)
    print(machine_line())
    peak = peak_gflops()
    print(f"peak: {peak:.0f} GFLOP/s (torch.mm, 2048-square float32, {torch.get_num_threads()} threads)\n")
    print("| cell | T, B, I, H | ms | forward loop | backward loop | GEMMs | layer norm | rest | GFLOP/s | limit ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shape in shapes:
        steps, batch, features, hidden = shape
        flops = 24 * steps * batch * hidden * (features + hidden)
        for layer_norm in (False, True):
            p = profile_shape(shape, layer_norm=layer_norm)  # type: ignore[arg-type]
            total = p["total"]
            share = [
                f"{100 * p[k] / total:.0f}%" for k in ("forward loop", "backward loop", "GEMMs", "layer norm", "rest")
            ]
            name = "LayerNorm-LSTM" if layer_norm else "LSTM"
            limit = flops / peak / 1e6
            achieved = flops / (total / 1e3) / 1e9
            dims = ", ".join(map(str, shape))
            print(f"| {name} | {dims} | {total:.1f} | {' | '.join(share)} | {achieved:.0f} | {limit:.1f} |")


if __name__ == "__main__":
    main()
