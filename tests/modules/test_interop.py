"""Drop-in interop with torch.nn: initialisation, state_dicts, conversion, attributes."""

from __future__ import annotations

import copy
import io
import pickle
from typing import Any

import pytest
import torch
from torch import nn

import rnnx
from tests.conftest import KIND_IDS, KINDS
from tests.modules.test_cell_parity import CELL_KINDS

ALL_KINDS = [(k[0], k[1], k[2], k[3], {"num_layers": 2, "bidirectional": True}) for k in KINDS] + [
    (k[0] + "_cell", k[1], k[2], k[3], {}) for k in CELL_KINDS
]
ALL_IDS = [k[0] for k in ALL_KINDS]


def build(cls: type[nn.Module], extra: dict[str, Any], layer: dict[str, Any], **kw: Any) -> nn.Module:
    return cls(4, 5, **extra, **layer, **kw)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=ALL_IDS)
def test_same_seed_same_parameters(kind: tuple[Any, ...]) -> None:
    """Same names, shapes, order and initial values as torch.nn for the same seed."""
    _, ours_cls, torch_cls, extra, layer = kind
    torch.manual_seed(3)
    theirs = build(torch_cls, extra, layer)
    torch.manual_seed(3)
    ours = build(ours_cls, extra, layer)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], value), name
    bound = 1 / 5**0.5
    assert all(p.abs().max() <= bound for p in ours.parameters())


@pytest.mark.parametrize("kind", ALL_KINDS, ids=ALL_IDS)
def test_state_dict_loads_both_ways(kind: tuple[Any, ...]) -> None:
    _, ours_cls, torch_cls, extra, layer = kind
    theirs, ours = build(torch_cls, extra, layer), build(ours_cls, extra, layer)
    ours.load_state_dict(theirs.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters(), strict=True))
    fresh = build(torch_cls, extra, layer)
    fresh.load_state_dict(build(ours_cls, extra, layer).state_dict())


@pytest.mark.parametrize("kind", ALL_KINDS, ids=ALL_IDS)
def test_from_torch_and_to_torch_are_exact(kind: tuple[Any, ...]) -> None:
    _, ours_cls, torch_cls, extra, layer = kind
    theirs = build(torch_cls, extra, layer, dtype=torch.float64).eval()
    rng = torch.get_rng_state()
    ours = ours_cls.from_torch(theirs)
    assert torch.equal(rng, torch.get_rng_state()), "conversion must not draw random numbers"
    assert type(ours) is ours_cls
    assert not ours.training
    back = ours.to_torch()
    assert type(back) is torch_cls
    for module in (ours, back):
        assert module.state_dict().keys() == theirs.state_dict().keys()
        for (name, a), b in zip(module.state_dict().items(), theirs.state_dict().values(), strict=True):
            assert a.dtype == torch.float64, name
            assert torch.equal(a, b), name
            assert a.data_ptr() != b.data_ptr(), f"{name} must be copied, not shared"
    for key in ours_cls._config_keys:
        assert getattr(ours, key) == getattr(theirs, key) == getattr(back, key), key


@pytest.mark.parametrize("kind", ALL_KINDS, ids=ALL_IDS)
def test_from_torch_rejects_other_modules(kind: tuple[Any, ...]) -> None:
    ours_cls = kind[1]
    with pytest.raises(TypeError, match=r"expected a torch\.nn"):
        ours_cls.from_torch(nn.Linear(2, 3))


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_torch_attributes(kind: tuple[Any, ...]) -> None:
    """Attributes user code reads from torch.nn layers exist with the same values."""
    _, ours_cls, torch_cls, extra = kind
    theirs = torch_cls(4, 5, 2, **extra, bidirectional=True, batch_first=True)
    ours = ours_cls.from_torch(theirs)
    for attr in (
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "proj_size",
        "mode",
    ):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert ours._flat_weights_names == theirs._flat_weights_names
    assert [[p.shape for p in group] for group in ours.all_weights] == [
        [p.shape for p in group] for group in theirs.all_weights
    ]
    # torch.nn.RNN's repr omits nonlinearity=relu (its RNNCell shows it); rnnx shows it.
    assert repr(ours).replace(", nonlinearity=relu", "") == repr(theirs)
    ours.flatten_parameters()  # a no-op off CUDA, as in torch.nn
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters(), strict=True))


def test_repr_shows_non_default_backend() -> None:
    assert repr(rnnx.GRU(3, 4, backend="reference")) == "GRU(3, 4, backend='reference')"
    assert repr(rnnx.RNNCell(3, 4, nonlinearity="relu")) == repr(nn.RNNCell(3, 4, nonlinearity="relu"))


@pytest.mark.parametrize("kind", ALL_KINDS, ids=ALL_IDS)
def test_copy_pickle_and_torch_save(kind: tuple[Any, ...]) -> None:
    _, ours_cls, _, extra, layer = kind
    ours = build(ours_cls, extra, layer, backend="reference")
    x = torch.randn(3, 4) if "cell" in kind[0] else torch.randn(6, 2, 4)
    expected = ours(x)
    for clone in (copy.deepcopy(ours), pickle.loads(pickle.dumps(ours))):
        torch.testing.assert_close(clone(x), expected)
    buffer = io.BytesIO()
    torch.save(ours.state_dict(), buffer)
    buffer.seek(0)
    restored = build(ours_cls, extra, layer, backend="reference")
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(restored(x), expected)


def test_replaced_weight_is_used() -> None:
    """A weight swapped for a plain tensor (as weight-drop wrappers do) is what runs."""
    for backend in ("reference", "native"):
        layer = rnnx.LSTM(3, 4, backend=backend)
        x = torch.randn(5, 2, 3)
        before = layer(x)[0]
        weight = layer.weight_hh_l0.detach() * 0
        del layer.weight_hh_l0
        layer.weight_hh_l0 = weight
        assert not torch.allclose(layer(x)[0], before)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_uses_the_same_module_in_nn_sequential_like_code(kind: tuple[Any, ...]) -> None:
    """A model written against torch.nn runs after swapping the class, with equal results."""
    _, ours_cls, torch_cls, extra = kind

    class Tagger(nn.Module):
        def __init__(self, rnn_cls: type[nn.Module]) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.rnn = rnn_cls(4, 5, 2, **extra, batch_first=True, bidirectional=True)
            self.head = nn.Linear(2 * (extra.get("proj_size") or 5), 3)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(self.embed(tokens))
            return self.head(out)

    torch.manual_seed(1)
    theirs = Tagger(torch_cls)
    torch.manual_seed(1)
    ours = Tagger(ours_cls)
    tokens = torch.randint(0, 10, (2, 7))
    torch.testing.assert_close(ours(tokens), theirs(tokens))
