"""Shared helpers: build an rnnx module beside its torch.nn oracle, and compare them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnx

# (name, rnnx class, torch class, extra constructor arguments)
KINDS: list[tuple[str, type[nn.Module], type[nn.Module], dict[str, Any]]] = [
    ("rnn_tanh", rnnx.RNN, nn.RNN, {"nonlinearity": "tanh"}),
    ("rnn_relu", rnnx.RNN, nn.RNN, {"nonlinearity": "relu"}),
    ("gru", rnnx.GRU, nn.GRU, {}),
    ("lstm", rnnx.LSTM, nn.LSTM, {}),
    ("lstm_proj", rnnx.LSTM, nn.LSTM, {"proj_size": 3}),
]
KIND_IDS = [k[0] for k in KINDS]

T, B, I, H = 5, 3, 4, 5
LENGTHS = [3, 5, 1]  # unsorted, so packing permutes the batch


def tolerances(dtype: torch.dtype) -> dict[str, float]:
    return {"atol": 1e-5, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 1e-8}


def pair(kind: tuple[Any, ...], *, backend: str = "auto", seed: int = 0, **config: Any) -> tuple[nn.Module, nn.Module]:
    """A torch.nn module with seeded weights and the rnnx module converted from it."""
    _, ours_cls, torch_cls, extra = kind
    torch.manual_seed(seed)
    oracle = torch_cls(**extra, **config)
    return oracle, ours_cls.from_torch(oracle, backend=backend)


def state_shapes(kind: tuple[Any, ...], num_layers: int, bidirectional: bool) -> list[tuple[int, ...]]:
    rows = num_layers * (2 if bidirectional else 1)
    proj = kind[3].get("proj_size", 0)
    if kind[1] is rnnx.LSTM:
        return [(rows, proj or H), (rows, H)]
    return [(rows, H)]


def make_state(
    kind: tuple[Any, ...], num_layers: int, bidirectional: bool, batch: int | None, dtype: torch.dtype
) -> Any:
    tensors = []
    for rows, size in state_shapes(kind, num_layers, bidirectional):
        shape = (rows, size) if batch is None else (rows, batch, size)
        tensors.append(torch.randn(shape, dtype=dtype, requires_grad=True))
    return tuple(tensors) if kind[1] is rnnx.LSTM else tensors[0]


def make_input(form: str, *, batch_first: bool, dtype: torch.dtype) -> tuple[Callable[[], Any], Tensor]:
    """A function building the module input for ``form`` (fresh graph on every call) and
    the leaf tensor whose gradient is compared."""
    if form == "unbatched":
        leaf = torch.randn(T, I, dtype=dtype, requires_grad=True)
        return lambda: leaf, leaf
    shape = (B, T, I) if batch_first else (T, B, I)
    leaf = torch.randn(shape, dtype=dtype, requires_grad=True)
    if form == "batched":
        return lambda: leaf, leaf
    lengths = torch.tensor(LENGTHS)
    return lambda: pack_padded_sequence(leaf, lengths, batch_first=batch_first, enforce_sorted=False), leaf


def flat(value: Any) -> list[Tensor]:
    """All tensors in a module's output, in order."""
    if isinstance(value, PackedSequence):
        return [value.data]
    if isinstance(value, Tensor):
        return [value]
    return [t for v in value for t in flat(v)]


def scalar_loss(outputs: Iterable[Tensor], seed: int = 123) -> Tensor:
    """A loss that weighs every element differently, so every gradient is exercised."""
    g = torch.Generator().manual_seed(seed)
    return sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in outputs)  # type: ignore[return-value]


def assert_close_all(ours: list[Tensor], theirs: list[Tensor], dtype: torch.dtype, what: str) -> None:
    assert len(ours) == len(theirs), what
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.shape == b.shape, f"{what}[{k}]: shape {tuple(a.shape)} != {tuple(b.shape)}"
        torch.testing.assert_close(a, b, **tolerances(dtype), msg=lambda m, k=k: f"{what}[{k}]: {m}")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (large sweeps)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (the full combination sweeps) run only with ``--slow``."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="a large sweep: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
