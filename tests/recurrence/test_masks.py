"""Masks keyed by the global sample index: a sample draws the same masks alone, at another row,
or in another shard with the right offset, on every backend; rnnx.sample_offset itself."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

import rnnx
from rnnx.recurrence.masks import SampleRows, current_sample_offset, global_samples, stream_key, uniforms
from tests.recurrence import plain_masks

EVERY_REGULARISER = {"dropout": 0.3, "zoneout": 0.25, "recurrent_dropout": 0.3, "weight_drop": 0.2}

# (class, options, backends that can run it in training with every regulariser)
MODELS = [
    ("lstm", rnnx.LSTM, {"zoneout": (0.25, 0.4)}, ["reference", "fused"]),
    ("gru", rnnx.GRU, {}, ["reference", "fused"]),
    ("rnn_relu_ln", rnnx.RNN, {"nonlinearity": "relu", "layer_norm": True}, ["reference", "fused"]),
    ("indrnn", rnnx.IndRNN, {}, ["reference", "fused"]),
]
IDS = [m[0] for m in MODELS]


def build(cls: type, options: dict[str, Any], backend: str, **overrides: Any) -> Any:
    torch.manual_seed(0)
    config = {"bidirectional": True} | EVERY_REGULARISER | options | overrides
    return cls(4, 6, 2, backend=backend, **config).double().train()


def run(module: Any, x: Any, seed: int = 9) -> torch.Tensor:
    torch.manual_seed(seed)
    out = module(x)[0]
    return pad_packed_sequence(out)[0] if isinstance(out, torch.nn.utils.rnn.PackedSequence) else out


def test_uniforms_are_the_plain_definition() -> None:
    key = stream_key(123456789, 2, 3, 1, 0)
    assert key == plain_masks.stream_key(123456789, 2, 3, 1, 0)
    samples = np.array([0, 7, 2**40 + 3], dtype=np.int64)
    steps = np.array([0, 5, 11], dtype=np.int64)
    ours = uniforms(key, samples, steps, 9)
    for i, (s, t) in enumerate(zip(samples.tolist(), steps.tolist(), strict=True)):
        assert ours[i].tolist() == [plain_masks.uniform(key, s, t, j) for j in range(9)]


def test_sample_rows_follow_the_time_major_layout() -> None:
    rows = SampleRows((5, 3, 9), (3, 2, 1))
    samples, steps = rows.per_row()
    assert samples.tolist() == [5, 3, 9, 5, 3, 5]
    assert steps.tolist() == [0, 0, 0, 1, 1, 2]


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_a_sample_draws_the_same_masks_alone_at_another_row_and_in_another_shard(model: tuple[Any, ...]) -> None:
    _, cls, options, backends = model
    x = torch.randn(7, 4, 4, dtype=torch.float64)  # (T, B, I)
    for backend in backends:
        module = build(cls, options, backend)
        whole = run(module, x)
        # Alone: sample 2 as a batch of one (and unbatched), numbered 2.
        with rnnx.sample_offset(2):
            torch.testing.assert_close(run(module, x[:, 2:3]), whole[:, 2:3], msg=backend)
            torch.testing.assert_close(run(module, x[:, 2]), whole[:, 2], msg=backend)
        # In shards: rows 0-1 with offset 0, rows 2-3 with offset 2.
        with rnnx.sample_offset(0):
            first = run(module, x[:, :2])
        with rnnx.sample_offset(2):
            second = run(module, x[:, 2:])
        torch.testing.assert_close(torch.cat([first, second], dim=1), whole, msg=backend)
        # Another row: without the offset, sample 2's data at row 0 draws row 0's masks.
        assert not torch.allclose(run(module, x[:, 2:3]), whole[:, 2:3])


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_packed_rows_are_numbered_by_their_original_position(model: tuple[Any, ...]) -> None:
    """Packing sorts the sequences by length; each keeps the masks of its own index."""
    _, cls, options, backends = model
    lengths = [3, 6, 1, 4]
    seqs = [torch.randn(n, 4, dtype=torch.float64) for n in lengths]
    for backend in backends:
        module = build(cls, options, backend)
        padded = run(module, pack_sequence(seqs, enforce_sorted=False))
        for b, seq in enumerate(seqs):
            with rnnx.sample_offset(b):
                alone = run(module, seq)
            torch.testing.assert_close(padded[: lengths[b], b], alone, msg=f"{backend} sample {b}")


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_fused_and_reference_draw_the_same_masks(model: tuple[Any, ...]) -> None:
    _, cls, options, _ = model
    x = torch.randn(9, 3, 4, dtype=torch.float64, requires_grad=True)
    results = []
    for backend in ("reference", "fused"):
        module = build(cls, options, backend)
        with rnnx.sample_offset(5):
            torch.manual_seed(4)
            out = module(x)[0]
        grads = torch.autograd.grad(out.pow(2).sum(), [x, *module.parameters()])
        results.append([out, *grads])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cls", [rnnx.LSTM, rnnx.GRU, rnnx.RNN], ids=["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
def test_native_with_dropout_runs_layer_by_layer_with_the_keyed_masks(cls: type, batch_first: bool) -> None:
    torch.manual_seed(0)
    module = cls(4, 5, 3, dropout=0.4, weight_drop=0.3, bidirectional=True, batch_first=batch_first)
    module = module.double().train()
    x = torch.randn(3, 6, 4, dtype=torch.float64, requires_grad=True)
    outs = []
    for backend in ("native", "reference"):
        module.backend = backend
        with rnnx.sample_offset(3):
            torch.manual_seed(2)
            out, state = module(x)
        states = state if isinstance(state, tuple) else (state,)
        outs.append([out, *states, *torch.autograd.grad(out.sum(), [x, *module.parameters()])])
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(a, b)


def test_weight_drop_is_one_mask_per_call_whatever_the_offset() -> None:
    """DropConnect masks W_hh, shared by every sample: the same on every shard."""
    torch.manual_seed(0)
    module = rnnx.GRU(3, 4, weight_drop=0.5, backend="reference").double().train()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.manual_seed(1)
    plain_run = module(x)[0]
    with rnnx.sample_offset(1000):
        torch.manual_seed(1)
        shifted = module(x)[0]
    torch.testing.assert_close(plain_run, shifted, rtol=0, atol=0)


def test_cells_number_their_rows_from_the_offset() -> None:
    torch.manual_seed(0)
    cell = rnnx.LSTMCell(3, 4, zoneout=0.3, recurrent_dropout=0.3).double().train()
    x = torch.randn(4, 3, dtype=torch.float64)
    torch.manual_seed(5)
    whole = cell(x)[0]
    cell.reset_dropout_mask()
    with rnnx.sample_offset(2):
        torch.manual_seed(5)
        part = cell(x[2:])[0]
    torch.testing.assert_close(part, whole[2:])


def test_sample_offset_nests_resets_and_is_per_thread() -> None:
    assert current_sample_offset() == 0
    with rnnx.sample_offset(8):
        assert global_samples(3) == (8, 9, 10)
        assert global_samples(3, torch.tensor([2, 0, 1])) == (10, 8, 9)
        with rnnx.sample_offset(100):
            assert current_sample_offset() == 100
        seen: list[int] = []
        thread = threading.Thread(target=lambda: seen.append(current_sample_offset()))
        thread.start()
        thread.join()
        assert seen == [0]  # another thread does not see this block's offset
        assert current_sample_offset() == 8
    assert current_sample_offset() == 0
    with pytest.raises(RuntimeError), rnnx.sample_offset(4):
        raise RuntimeError("the block is left by an exception")
    assert current_sample_offset() == 0


@pytest.mark.parametrize(
    ("offset", "error", "match"),
    [
        (-1, ValueError, r"offset must be >= 0; got -1"),
        (1.5, TypeError, r"offset must be an int; got float"),
        (True, TypeError, r"offset must be an int; got bool"),
        ("3", TypeError, r"offset must be an int; got str"),
    ],
)
def test_sample_offset_refuses_bad_values(offset: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match), rnnx.sample_offset(offset):
        pass


def _kernel_call(draws: list[int], sizes: list[int] | None = None) -> Any:
    """The fused kernel's forward on a small GRU direction with the given zoneout draws."""
    from rnnx.fused.op import GRU, _fused_scan

    h, b, steps = 4, 2, 3
    gi, h0 = torch.randn(steps * b, 3 * h), torch.zeros(b, h)
    w_hh, b_hh = torch.randn(3 * h, h), torch.randn(3 * h)
    none = [None] * 6
    return _fused_scan(
        gi, h0, None, w_hh, b_hh, *none, None, GRU, False, False, False, False, sizes or [b] * steps, draws, 0.0, 0.0
    )


@pytest.mark.parametrize(
    ("draws", "sizes", "match"),
    [
        ([1, 100, 0], None, r"zoneout draws: expected \(key_h, threshold_h, key_c, threshold_c, samples...\); got 3"),
        ([1, 100, 0, -1], None, r"zoneout draws: expected 6 values .*one global sample index per batch row.*got 4"),
        ([1, 100, 0, -1, 0, 1, 2], None, r"zoneout draws: expected 6 values"),
        ([1, 100, 0, -1, 0, -5], None, r"sample indices must be >= 0; got -5 for row 1"),
        ([1, 70000, 0, -1, 0, 1], None, r"a threshold is at most 65536; got 70000"),
        ([0, -1, 0, -1, 0, 1], None, r"zoneout draws: expected 4 values"),
    ],
)
def test_fused_kernel_checks_its_zoneout_arguments(draws: list[int], sizes: list[int] | None, match: str) -> None:
    from rnnx.fused import load_extension

    if load_extension() is None:
        pytest.skip("the fused kernels cannot be built here")
    with pytest.raises(RuntimeError, match=match):
        _kernel_call(draws, sizes)


def test_fused_kernel_masks_depend_on_the_sample_not_the_row() -> None:
    """Rows swapped with their sample indices give the rows' outputs swapped."""
    from rnnx.fused import load_extension

    if load_extension() is None:
        pytest.skip("the fused kernels cannot be built here")
    torch.manual_seed(0)
    first = _kernel_call([77, 30000, 0, -1, 5, 9])[0].view(3, 2, 4)
    torch.manual_seed(0)
    again = _kernel_call([77, 30000, 0, -1, 5, 9])[0].view(3, 2, 4)
    torch.manual_seed(0)
    other = _kernel_call([77, 30000, 0, -1, 5, 10])[0].view(3, 2, 4)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    torch.testing.assert_close(other[:, 0], first[:, 0], rtol=0, atol=0)  # sample 5 at row 0 in both
    assert not torch.equal(other[:, 1], first[:, 1])


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 9), min_size=1, max_size=5),
    offset=st.integers(0, 2**40),
    model=st.sampled_from(MODELS),
    backend=st.sampled_from(["reference", "fused"]),
    bidirectional=st.booleans(),
    num_layers=st.integers(1, 3),
)
def test_hypothesis_each_sample_of_a_packed_batch_equals_itself_alone(
    lengths: list[int], offset: int, model: tuple[Any, ...], backend: str, bidirectional: bool, num_layers: int
) -> None:
    """Any lengths, offset, layers and directions: sample b of a packed batch numbered from
    ``offset`` draws the masks it draws alone as sample ``offset + b``."""
    _, cls, options, _ = model
    torch.manual_seed(0)
    config = EVERY_REGULARISER | options | {"bidirectional": bidirectional}
    if num_layers == 1:
        config.pop("dropout")
    module = cls(4, 5, num_layers, backend=backend, **config).double().train()
    seqs = [torch.randn(n, 4, dtype=torch.float64) for n in lengths]
    with rnnx.sample_offset(offset):
        padded = run(module, pack_sequence(seqs, enforce_sorted=False))
    for b, seq in enumerate(seqs):
        with rnnx.sample_offset(offset + b):
            torch.testing.assert_close(padded[: lengths[b], b], run(module, seq))


@pytest.mark.parametrize("backend", ["reference", "native"])
def test_an_empty_batch_in_training_draws_empty_masks(backend: str) -> None:
    config: dict[str, Any] = {"dropout": 0.3, "weight_drop": 0.1}
    if backend == "reference":
        config |= {"zoneout": 0.2, "recurrent_dropout": 0.2}
    module = rnnx.LSTM(3, 4, 2, bidirectional=True, backend=backend, **config).train()
    out, (h, c) = module(torch.randn(6, 0, 3))
    assert out.shape == (6, 0, 8)
    assert h.shape == c.shape == (4, 0, 4)
    assert uniforms(7, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 5).shape == (0, 5)
