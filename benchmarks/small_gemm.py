"""The per-step recurrent product: rnnx's packed small GEMM against the BLAS ``sgemm`` in PyTorch.

python benchmarks/small_gemm.py

Each row is one step's product for one thread's block of batch rows: ``(m, H) x (H, 4H)`` in the
forward pass and ``(m, 4H) x (4H, H)`` in the backward pass, float32, on one thread (as each
thread of the fused kernel runs it). Both are timed in C++ loops (``small_gemm.cpp``, compiled on
first run), in interleaved rounds; the figure is the minimum per call. rnnx packs W once per
sequence, so packing is not timed; sgemm packs it on every call, and that is part of its cost.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.cpp_extension import load

from rnnx.fused.build import compile_flags

# (rows per thread, H): the three bench shapes, then the batch-1 shape (1000/1/32/128) and rows short
# of a full tile (AVX2 tiles 4 rows), which the kernel tiles across several panels at once.
SHAPES = ((16, 128), (4, 64), (32, 256), (1, 128), (2, 128), (3, 128), (5, 128))


def main() -> None:
    _, flags = compile_flags()
    ext = load("rnnx_small_gemm_bench", [str(Path(__file__).with_name("small_gemm.cpp"))], extra_cflags=flags)
    torch.set_num_threads(1)
    print("| pass | m x k x n | sgemm us | GFLOP/s | rnnx small GEMM us | GFLOP/s | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for m, h in SHAPES:
        for name, k, n in (("forward", h, 4 * h), ("backward", 4 * h, h)):
            a, b = torch.randn(m, k), torch.randn(k, n)
            calls = max(20, int(2e8 / (m * k * n)))
            ours, blas = float("inf"), float("inf")
            for _ in range(5):  # interleaved rounds
                o, t = ext.time_gemm(a, b, calls)
                ours, blas = min(ours, o), min(blas, t)
            flops = 2 * m * k * n
            print(
                f"| {name} | {m} x {k} x {n} | {blas * 1e6:.1f} | {flops / blas / 1e9:.0f} | {ours * 1e6:.1f} | "
                f"{flops / ours / 1e9:.0f} | {ours / blas:.2f} |"
            )


if __name__ == "__main__":
    main()
