"""The packed small GEMM of the fused kernels (csrc/small_gemm.h) against torch.mm: every tile
height, partial panels, both layouts of B, float32 and float64."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnx

pytestmark = pytest.mark.skipif(rnnx.fused.unavailable_reason() is not None, reason="no C++ compiler")


def ext() -> Any:
    return rnnx.fused.load_extension()


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(0, 19),
    n=st.integers(1, 70),
    k=st.integers(1, 40),
    transposed=st.booleans(),
    double=st.booleans(),
)
def test_small_gemm_equals_mm(m: int, n: int, k: int, transposed: bool, double: bool) -> None:
    dtype = torch.float64 if double else torch.float32
    g = torch.Generator().manual_seed(m * 10007 + n * 101 + k)
    a = torch.randn(m, k, generator=g, dtype=dtype)
    b = torch.randn(n, k, generator=g, dtype=dtype) if transposed else torch.randn(k, n, generator=g, dtype=dtype)
    expected = a.double() @ (b.double().t() if transposed else b.double())
    got = ext().small_gemm(a, b, transposed)
    assert got.shape == (m, n)
    tol = 1e-12 if double else 1e-5
    torch.testing.assert_close(got.double(), expected, rtol=tol, atol=tol * k)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_small_gemm_every_tail_height_across_panel_groups(dtype: torch.dtype) -> None:
    """Rows short of a full tile are tiled across several panels at once: every height up to
    two full tiles (AVX-512 tiles 8 rows), widths that end inside, on and just past a group of
    panels (panels are 8 to 32 columns wide by instruction set and dtype)."""
    g = torch.Generator().manual_seed(0)
    for m in range(18):
        for n in (1, 15, 16, 17, 63, 64, 65, 129, 200, 257):
            for k in (1, 7, 64):
                a, b = torch.randn(m, k, generator=g, dtype=dtype), torch.randn(k, n, generator=g, dtype=dtype)
                expected = a.double() @ b.double()
                for transposed, operand in ((False, b), (True, b.t().contiguous())):
                    got = ext().small_gemm(a, operand, transposed)
                    tol = 1e-12 if dtype == torch.float64 else 1e-5
                    torch.testing.assert_close(got.double(), expected, rtol=tol, atol=tol * k, msg=f"{m}x{k}x{n}")


def test_small_gemm_at_recurrent_sizes() -> None:
    """The shapes of the benchmarks: a thread's rows times W_hh^T (forward) and W_hh (backward)."""
    for m, h in ((16, 128), (4, 64), (32, 256)):
        w = torch.randn(4 * h, h)
        a_fwd, a_bwd = torch.randn(m, h), torch.randn(m, 4 * h)
        torch.testing.assert_close(ext().small_gemm(a_fwd, w, True), a_fwd @ w.t(), rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(ext().small_gemm(a_bwd, w, False), a_bwd @ w, rtol=1e-5, atol=1e-4)


def test_small_gemm_refuses_mismatched_operands() -> None:
    with pytest.raises(RuntimeError, match="small_gemm: inner sizes differ"):
        ext().small_gemm(torch.randn(3, 4), torch.randn(5, 6), False)
    with pytest.raises(RuntimeError, match="small_gemm: two 2-d tensors"):
        ext().small_gemm(torch.randn(3, 4), torch.randn(4, 6, dtype=torch.float64), False)
