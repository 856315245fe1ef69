"""The fused CPU path agrees with the readable reference path: every variant, every layer
option, outputs, states and all gradients; the same masks for the same seed."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import torch
from torch.nn.utils.rnn import pack_sequence

import rnnx
import rnnx.fused.function
from tests.cells.test_variants import VARIANT_IDS, VARIANTS
from tests.conftest import flat, scalar_loss

pytestmark = pytest.mark.skipif(rnnx.fused.unavailable_reason() is not None, reason="no C++ compiler")


def run(module: torch.nn.Module, backend: str, make_input: Any, seed: int = 0) -> list[torch.Tensor]:
    module.backend = backend
    x = make_input()
    torch.manual_seed(seed)
    outputs = flat(module(x))
    leaves = [t for t in flat(x) if t.requires_grad] if isinstance(x, torch.Tensor) else []
    grads = torch.autograd.grad(scalar_loss(outputs), [*leaves, *module.parameters()], allow_unused=True)
    return [o.detach() for o in outputs] + [g if g is not None else torch.zeros(()) for g in grads]


def compare(
    module: torch.nn.Module, make_input: Any, dtype: torch.dtype, seed: int = 0, *, f32_atol: float = 1e-4
) -> None:
    reference = run(module, "reference", make_input, seed)
    fused = run(module, "fused", make_input, seed)
    for k, (a, b) in enumerate(zip(fused, reference, strict=True)):
        # Within rounding of the tensor's own scale: sums of many terms cancel in weight gradients.
        scale = (b.abs().max().item() if b.numel() else 0.0) or 1.0
        if dtype == torch.float64:
            atol = 1e-11 * max(scale, 1.0)
            torch.testing.assert_close(a, b, rtol=1e-9, atol=atol, msg=lambda m, k=k: f"tensor {k}: {m}")
        else:
            # Each float32 path deviates from float64 by a few 1e-5 of the scale (LayerNorm-LSTM, on
            # AVX-512, AVX2 and SSE builds; docs/variants.md), so the two may differ by about twice that.
            torch.testing.assert_close(a, b, rtol=1e-5, atol=f32_atol * scale, msg=lambda m, k=k: f"tensor {k}: {m}")


def make(variant: tuple[Any, ...], dtype: torch.dtype, **layer: Any) -> Any:
    _, cls, options, _, _ = variant
    torch.manual_seed(0)
    module = cls(4, 6, **options, **layer).to(dtype)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
    return module


FUSABLE = VARIANTS  # every variant, proj_size included
FUSABLE_IDS = VARIANT_IDS


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("form", ["batched", "batch_first", "unbatched", "packed"])
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("variant", FUSABLE, ids=FUSABLE_IDS)
def test_fused_equals_reference(variant: tuple[Any, ...], mode: str, form: str, dtype: torch.dtype) -> None:
    module = make(variant, dtype, num_layers=2, bidirectional=True, batch_first=form == "batch_first")
    module.train(mode == "train")

    def make_input() -> Any:
        g = torch.Generator().manual_seed(3)
        if form == "packed":
            return pack_sequence(
                [torch.randn(n, 4, generator=g, dtype=dtype) for n in (5, 2, 7, 3)], enforce_sorted=False
            )
        shape = {"batched": (7, 3, 4), "batch_first": (3, 7, 4), "unbatched": (7, 4)}[form]
        return torch.randn(shape, generator=g, dtype=dtype).requires_grad_()

    compare(module, make_input, dtype, seed=5)


@pytest.fixture
def three_threads() -> Any:
    """Three intra-op threads (on any core count), so the kernel splits the batch unevenly."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("variant", FUSABLE, ids=FUSABLE_IDS)
def test_fused_splits_the_batch_over_threads(variant: tuple[Any, ...], mode: str, three_threads: None) -> None:
    """Enough work that each thread takes a block of rows (balanced over packed lengths, so the
    blocks differ in size); every row must still equal the reference, including the peephole
    gradient, which the blocks sum separately."""
    _, cls, options, _, _ = variant
    torch.manual_seed(0)
    module = cls(8, 64, **options, bidirectional=True).double().train(mode == "train")

    def make_input() -> Any:
        g = torch.Generator().manual_seed(4)
        lengths = (40, 38, 35, 33, 30, 29, 27, 26, 24, 22, 21, 20)
        return pack_sequence([torch.randn(n, 8, generator=g, dtype=torch.float64) for n in lengths])

    compare(module, make_input, torch.float64, seed=6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(
    ("cls", "extra"),
    [
        (rnnx.LSTM, {"layer_norm": True, "peephole": True}),
        (rnnx.LSTM, {"proj_size": 4}),
        (rnnx.GRU, {}),
        (rnnx.RNN, {}),
        (rnnx.IndRNN, {}),
    ],
    ids=["lstm", "lstm_proj", "gru", "rnn", "indrnn"],
)
def test_fused_training_regularisers_equal_reference(cls: type, extra: dict[str, Any], dtype: torch.dtype) -> None:
    """Zoneout, recurrent dropout, weight drop and dropout draw the same masks on both paths."""
    torch.manual_seed(0)
    module = cls(4, 6, 3, bidirectional=True, zoneout=0.2, recurrent_dropout=0.3, weight_drop=0.2, dropout=0.3, **extra)
    module = module.to(dtype).train()

    def make_input() -> torch.Tensor:
        return torch.randn(9, 2, 4, generator=torch.Generator().manual_seed(1), dtype=dtype).requires_grad_()

    # Three bidirectional layers with weight-dropped matrices: the layer-norm LSTM's dL/dx rounds
    # a little further apart on an AVX2 build (1.1e-4 of scale in 1 of 72 elements, AMD EPYC; a
    # wrong mask moves every element by the scale itself).
    compare(module, make_input, dtype, seed=9, f32_atol=2e-4)


def test_fused_with_initial_state_gradients() -> None:
    torch.manual_seed(0)
    layer = rnnx.LSTM(3, 5, 2, layer_norm=True, bidirectional=True).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 2, 5, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(4, 2, 5, dtype=torch.float64, requires_grad=True)
    results = []
    for backend in ("reference", "fused"):
        layer.backend = backend
        out, (h, c) = layer(x, (h0, c0))
        results.append(torch.autograd.grad(scalar_loss([out, h, c]), [x, h0, c0, *layer.parameters()]))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "build",
    [
        lambda: rnnx.LSTM(3, 4, 2, layer_norm=True, peephole=True, bidirectional=True),
        lambda: rnnx.LSTM(3, 5, 2, proj_size=3, zoneout=0.2, recurrent_dropout=0.2, bidirectional=True),
        lambda: rnnx.GRU(3, 4, 2, layer_norm=True, zoneout=0.3, bidirectional=True).eval(),
        lambda: rnnx.RNN(3, 4, nonlinearity="relu", layer_norm=True),
        lambda: rnnx.IndRNN(3, 4, 2, nonlinearity="tanh", recurrent_dropout=0.2),
    ],
    ids=["lstm", "lstm_proj_training", "gru", "rnn", "indrnn"],
)
def test_gradcheck_fused(build: Any) -> None:
    module = build().double()
    module.backend = "fused"
    names = [n for n, _ in module.named_parameters()]
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)

    def fn(x: torch.Tensor, *weights: torch.Tensor) -> tuple[torch.Tensor, ...]:
        torch.manual_seed(2)
        out, state = torch.func.functional_call(module, dict(zip(names, weights, strict=True)), (x,))
        return (out, *(state if isinstance(state, tuple) else (state,)))

    weights = [p.detach().clone().requires_grad_() for p in module.parameters()]
    assert torch.autograd.gradcheck(fn, (x, *weights), fast_mode=True)


def test_auto_chooses_fused_where_it_is_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnx.modules.inputs import read_input

    # the standard LSTM's rule depends on the CPU (tests/modules/test_step_inference.py): pin one
    monkeypatch.setattr(rnnx.fused.function, "CPU_CAPABILITY", "AVX512")
    monkeypatch.setattr(rnnx.fused.function, "_LSTM_FUSED_BATCH_ELSEWHERE", 0)

    def resolve(layer: Any, x: Any) -> str:
        call = rnnx.backends.LayerCall(layer, read_input("test", x, input_size=3, batch_first=False))
        return rnnx.backends.choose(call).backend

    x = torch.randn(8, 2, 3)
    assert resolve(rnnx.GRU(3, 4), x) == "fused"
    assert resolve(rnnx.RNN(3, 4, nonlinearity="relu"), x) == "fused"
    assert resolve(rnnx.GRU(3, 4), x[:7]) == "native", "short sequences: the native loop's setup is cheaper"
    assert resolve(rnnx.GRU(3, 4), pack_sequence([torch.randn(9, 3), torch.randn(2, 3)])) == "fused"
    assert resolve(rnnx.LSTM(3, 4, layer_norm=True), x[:2]) == "fused", "variants have no native kernel"
    assert resolve(rnnx.IndRNN(3, 4), x) == "fused"
    assert resolve(rnnx.LSTM(3, 4), x) == "native", "plain LSTM stays on oneDNN"
    packed = pack_sequence([torch.randn(9, 3), torch.randn(2, 3)])
    assert resolve(rnnx.LSTM(3, 4), packed) == "fused", "oneDNN takes no packed batch; torch.nn loops"
    assert resolve(rnnx.LSTM(3, 4, proj_size=2), x) == "fused", "oneDNN has no projection; torch.nn loops"
    assert resolve(rnnx.LSTM(3, 4, proj_size=2), x[:7]) == "native"
    assert resolve(rnnx.LSTM(3, 4, proj_size=2, zoneout=0.1), x) == "fused"


def test_fused_refuses_what_it_cannot_run() -> None:
    with pytest.raises(
        ValueError,
        match=r"GRUCell: backend='fused' cannot run this configuration: the fused kernels run whole sequences",
    ):
        rnnx.GRUCell(3, 4, backend="fused")(torch.randn(2, 3))
    with pytest.raises(
        ValueError,
        match=r"backend='fused' cannot run this configuration: the fused kernels run float32 and float64; got torch.bfloat16",
    ):
        rnnx.GRU(3, 4, backend="fused").to(torch.bfloat16)(torch.randn(5, 2, 3, dtype=torch.bfloat16))


def test_fused_scan_refuses_a_materialised_zoneout_mask() -> None:
    """The kernel draws its zoneout masks from a ZoneoutDraw's seed; a mask tensor cannot be used."""
    from rnnx.cells import DirectionWeights
    from rnnx.fused import fused_scan

    layer = rnnx.GRU(3, 4)
    w = DirectionWeights({"weight_ih": layer.weight_ih_l0, "weight_hh": layer.weight_hh_l0})
    gi = torch.randn(6, 12)
    with pytest.raises(TypeError, match="zoneout: the fused kernel computes its masks from a ZoneoutDraw"):
        fused_scan(layer.cell, gi, [2, 2, 2], (torch.zeros(2, 4),), w, zoneout=(torch.ones(6, 4, dtype=torch.bool),))


def test_without_the_kernels_auto_says_so_once_and_fused_is_an_error() -> None:
    """A process without the kernels: ``auto`` runs PyTorch's kernel or the reference path, and
    the ``rnnx`` logger says so once; an explicit ``backend="fused"`` raises with the reason."""
    code = """
import logging, torch, rnnx
logging.basicConfig(format="%(message)s")
torch.manual_seed(0)
layer = rnnx.LSTM(3, 4, layer_norm=True)
x = torch.randn(5, 2, 3)
out = layer(x)[0]
layer(x)
rnnx.GRU(3, 4)(torch.randn(20, 2, 3))
print(layer.backend_choice)
layer.backend = "reference"
assert torch.equal(out, layer(x)[0])
try:
    rnnx.GRU(3, 4, backend="fused")(torch.randn(20, 2, 3))
except ValueError as error:
    print(error)
"""
    env = dict(os.environ, RNNX_DISABLE_FUSED="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    notices = [line for line in result.stderr.splitlines() if "unavailable" in line]
    assert len(notices) == 1, result.stderr
    assert (
        "the fused CPU kernels are unavailable (disabled by the environment variable RNNX_DISABLE_FUSED)" in notices[0]
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("reference: PyTorch's kernels cannot run it (layer_norm=True has no native kernel)")
    assert lines[1] == (
        "GRU: backend='fused' cannot run this configuration: the fused kernels could not be built here: "
        "disabled by the environment variable RNNX_DISABLE_FUSED. Use backend='auto' or backend='reference'."
    )


@pytest.mark.parametrize("used", ["output", "h_n", "c_n"])
def test_fused_backward_with_unused_outputs(used: str) -> None:
    """A loss on only some of the outputs (autograd passes None for the others)."""
    torch.manual_seed(0)
    layer = rnnx.LSTM(3, 5, 2, layer_norm=True, zoneout=0.2, bidirectional=True).double().eval()
    x = torch.randn(9, 2, 3, dtype=torch.float64, requires_grad=True)
    grads = []
    for backend in ("reference", "fused"):
        layer.backend = backend
        out, (h, c) = layer(x)
        loss = {"output": out, "h_n": h, "c_n": c}[used].square().sum()
        grads.append(torch.autograd.grad(loss, [x, *layer.parameters()]))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize(
    "build",
    [
        lambda: rnnx.LSTM(3, 5, 2, layer_norm=True, peephole=True, zoneout=0.2, bidirectional=True),
        lambda: rnnx.GRU(3, 5, 2, layer_norm=True, recurrent_dropout=0.3, bidirectional=True),
        lambda: rnnx.RNN(3, 5, 2, nonlinearity="relu", zoneout=0.1),
        lambda: rnnx.IndRNN(3, 5, 2, bidirectional=True),
    ],
    ids=["lstm", "gru", "rnn", "indrnn"],
)
def test_fused_inference_without_saved_buffers(build: Any, train: bool) -> None:
    """Under no_grad the kernel keeps one step of scratch instead of the whole sequence."""
    module = build().double().train(train)
    x = pack_sequence([torch.randn(n, 3, dtype=torch.float64) for n in (4, 9, 2)], enforce_sorted=False)
    results = []
    for backend in ("reference", "fused"):
        module.backend = backend
        torch.manual_seed(3)
        with torch.no_grad():
            results.append(flat(module(x)))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)
