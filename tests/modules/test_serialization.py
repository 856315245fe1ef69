"""Whole pickled modules load under ``torch.load(weights_only=True)`` with only their public
classes allowed, as ``torch.nn``'s do: every class a pickle names is rnnx's registered part, a
class the user allowed, or one torch allows itself."""

from __future__ import annotations

import io
import pickle
import pickletools
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import rnnx
from rnnx import seq2seq, serialization
from rnnx.cells import CellStep, GRUStep, LSTMStep

T, B, I, H = 5, 2, 3, 4


def saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def load(data: bytes, allowed: list[Any]) -> Any:
    with torch.serialization.safe_globals(allowed):
        return torch.load(io.BytesIO(data), weights_only=True)


def pickle_globals(data: bytes) -> set[str]:
    """Every ``module.name`` the pickle inside a ``torch.save`` file names (GLOBAL, or
    STACK_GLOBAL after its two strings)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pickled = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    names: set[str] = set()
    strings: list[str] = []
    for op, arg, _ in pickletools.genops(pickled):
        if op.name == "GLOBAL":
            names.add(str(arg).replace(" ", "."))
        elif op.name == "STACK_GLOBAL":
            names.add(f"{strings[-2]}.{strings[-1]}")
        if isinstance(arg, str):
            strings.append(arg)
    return names


def qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for v in value for t in tensors(v)]
    if hasattr(value, "logits"):  # Seq2SeqOutput
        return [value.logits]
    raise TypeError(type(value).__name__)


# Every variant option on, in training: every regulariser draws its masks after the load too.
ALL_ON = {"dropout": 0.2, "zoneout": 0.1, "recurrent_dropout": 0.1, "weight_drop": 0.1}
CELL_ON = {"zoneout": 0.1, "recurrent_dropout": 0.1, "weight_drop": 0.1}


def _seq2seq() -> seq2seq.Seq2Seq:
    config = seq2seq.Seq2SeqConfig(
        cell="lstm",
        embedding_dim=4,
        hidden_size=5,
        bidirectional=True,
        attention="general",
        input_feeding=True,
        bridge="linear",
        dropout=0.1,
        layer_options={"layer_norm": True, "peephole": True, "zoneout": 0.1},
    )
    return seq2seq.Seq2Seq.from_config(config, seq2seq.Vocab(list("abcde")), seq2seq.Vocab(list("vwxyz")))


# What a user allows for a Seq2Seq beside the class itself: its public parts and torch.nn's.
SEQ2SEQ_PARTS = [
    seq2seq.Encoder,
    seq2seq.Decoder,
    seq2seq.Attention,
    seq2seq.LinearBridge,
    rnnx.LSTM,
]

# (name, build, the classes a user allows beyond the module's own).
CASES: list[tuple[str, Callable[[], nn.Module], list[type]]] = [
    ("RNN", lambda: rnnx.RNN(I, H, 2, nonlinearity="relu", layer_norm=True, bidirectional=True, **ALL_ON), []),
    (
        "LSTM",
        lambda: rnnx.LSTM(
            I, H, 2, proj_size=2, layer_norm=True, peephole=True, forget_bias=1.0, bidirectional=True, **ALL_ON
        ),
        [],
    ),
    ("LSTM batch_first", lambda: rnnx.LSTM(I, H, batch_first=True, bias=False), []),
    ("GRU", lambda: rnnx.GRU(I, H, 2, layer_norm=True, bidirectional=True, **ALL_ON), []),
    ("GRU fused", lambda: rnnx.GRU(I, H, backend="fused"), []),
    ("GRU native", lambda: rnnx.GRU(I, H, backend="native"), []),
    ("IndRNN", lambda: rnnx.IndRNN(I, H, 2, nonlinearity="tanh", bidirectional=True, **ALL_ON), []),
    ("Recurrent", lambda: rnnx.Recurrent(GRUStep(layer_norm=True), I, H, 2, **ALL_ON), []),
    ("RNNCell", lambda: rnnx.RNNCell(I, H, nonlinearity="relu", layer_norm=True, **CELL_ON), []),
    ("LSTMCell", lambda: rnnx.LSTMCell(I, H, layer_norm=True, peephole=True, forget_bias=1.0, **CELL_ON), []),
    ("GRUCell", lambda: rnnx.GRUCell(I, H, layer_norm=True, **CELL_ON), []),
    ("RecurrentCell", lambda: rnnx.RecurrentCell(LSTMStep(peephole=True), I, H, **CELL_ON), []),
    (
        "TransformerEncoder",
        lambda: rnnx.TransformerEncoder(I, 8, 2, num_heads=2, dropout=0.1, causal=True, positions="learned"),
        list(serialization.TORCH_CLASSES),
    ),
    (
        "TransformerEncoder sinusoidal",
        lambda: rnnx.TransformerEncoder(I, 8, 1, num_heads=2),
        [nn.Linear, nn.Dropout, nn.LayerNorm, nn.ModuleList],
    ),
    ("Seq2Seq", _seq2seq, [*SEQ2SEQ_PARTS, *serialization.TORCH_CLASSES]),
]


def inputs_for(module: nn.Module) -> tuple[Any, ...]:
    g = torch.Generator().manual_seed(3)
    if isinstance(module, seq2seq.Seq2Seq):
        src = torch.randint(4, 9, (2, 4), generator=g)
        tgt = torch.cat([torch.full((2, 1), seq2seq.SOS_ID), torch.randint(4, 9, (2, 3), generator=g)], 1)
        return src, [4, 2], tgt
    if isinstance(module, rnnx.RecurrentCell):
        return (torch.randn(B, I, generator=g),)
    if getattr(module, "batch_first", False):
        return (torch.randn(B, T, I, generator=g),)
    return (torch.randn(T, B, I, generator=g),)


def run(module: nn.Module, args: tuple[Any, ...]) -> list[Tensor]:
    torch.manual_seed(7)  # the same dropout, zoneout and DropConnect masks for both modules
    return tensors(module(*args))


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize(("name", "build", "extra"), CASES, ids=[c[0] for c in CASES])
def test_saved_module_loads_with_its_public_class_allowed(
    name: str, build: Callable[[], nn.Module], extra: list[type], training: bool
) -> None:
    del name
    torch.manual_seed(0)
    module = build().train(training)
    args = inputs_for(module)
    run(module, args)  # after a call: whatever a call leaves on the module is pickled too
    loaded = load(saved(module), [type(module), *extra])
    assert type(loaded) is type(module)
    assert loaded.training == training
    assert repr(loaded) == repr(module)
    for (key, a), (_, b) in zip(module.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), key
    for a, b in zip(run(module, args), run(loaded, args), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(("name", "build", "extra"), CASES, ids=[c[0] for c in CASES])
def test_every_class_a_pickle_names_is_registered_or_listed(
    name: str, build: Callable[[], nn.Module], extra: list[type]
) -> None:
    """Fails when a new rnnx class turns up in a pickle without being in serialization's lists
    (a dataclass stored on a module, a new cell...), before any user meets it."""
    del name
    torch.manual_seed(0)
    module = build().train()
    run(module, inputs_for(module))
    data = saved(module)
    known = {qualified(c) for c in serialization.safe_globals()}
    rnnx_names = {n for n in pickle_globals(data) if n.startswith("rnnx.")}
    assert rnnx_names <= known, f"classes to add to rnnx.serialization: {sorted(rnnx_names - known)}"
    # torch's own check, against its allow-list as it stands (rnnx's parts registered at import):
    # what it would refuse is exactly what a user allows.
    unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data)))
    assert unsafe <= {qualified(c) for c in [type(module), *extra]}
    assert qualified(type(module)) in unsafe  # the model itself stays the user's to allow


@contextmanager
def cleared_allow_list() -> Iterator[None]:
    before = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        yield
    finally:
        torch.serialization.add_safe_globals(before)


@pytest.mark.parametrize(("name", "build", "extra"), CASES, ids=[c[0] for c in CASES])
def test_safe_globals_is_the_one_call(name: str, build: Callable[[], nn.Module], extra: list[type]) -> None:
    del name, extra
    torch.manual_seed(0)
    module = build().eval()
    args = inputs_for(module)
    data = saved(module)
    with cleared_allow_list():  # even without the parts registered at import
        loaded = load(data, rnnx.safe_globals())
    for a, b in zip(run(module, args), run(loaded, args), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_without_the_public_class_the_load_is_refused() -> None:
    data = saved(rnnx.LSTM(I, H))
    with pytest.raises(pickle.UnpicklingError, match=r"rnnx.modules.recurrent.LSTM"):
        torch.load(io.BytesIO(data), weights_only=True)


class WordModel(nn.Module):
    """pytorch/examples' word_language_model, with rnnx.LSTM in place of nn.LSTM: the user's
    class, holding torch.nn layers and an rnnx layer."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = rnnx.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input: Tensor, hidden: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden

    def init_hidden(self, bsz: int) -> tuple[Tensor, Tensor]:
        weight = next(self.parameters())
        return weight.new_zeros(self.rnn.num_layers, bsz, self.rnn.hidden_size), weight.new_zeros(
            self.rnn.num_layers, bsz, self.rnn.hidden_size
        )


def test_word_language_model_flow(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = WordModel(20, 6, 8, 2, dropout=0.2)
    data = torch.randint(0, 20, (7, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(2):  # train a little, as the example does before saving the best model
        output, _ = model(data[:-1], model.init_hidden(3))
        loss = nn.functional.cross_entropy(output.view(-1, 20), data[1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = tmp_path / "model.pt"
    with open(path, "wb") as f:
        torch.save(model, f)
    with (
        open(path, "rb") as f,
        torch.serialization.safe_globals([WordModel, rnnx.LSTM, nn.Embedding, nn.Linear, nn.Dropout]),
    ):
        loaded = torch.load(f, weights_only=True)
    loaded.rnn.flatten_parameters()
    model.eval()
    loaded.eval()
    expected, _ = model(data, model.init_hidden(3))
    got, _ = loaded(data, loaded.init_hidden(3))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_parts_are_classes_and_every_rnnx_cell_is_one() -> None:
    assert all(isinstance(c, type) for c in serialization.safe_globals())  # no function is ever allowed
    assert not set(serialization.PART_CLASSES) & set(serialization.MODEL_CLASSES)
    registered = set(torch.serialization.get_safe_globals())
    assert set(serialization.PART_CLASSES) <= registered
    assert not set(serialization.MODEL_CLASSES) & registered  # the models stay the user's to allow
    assert not set(serialization.TORCH_CLASSES) & registered

    def subclasses(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    cells = {c for c in subclasses(CellStep) if c.__module__.startswith("rnnx.")}
    assert cells <= set(serialization.PART_CLASSES)
    assert cells


def test_a_pickled_vocabulary_is_rebuilt_through_its_checks() -> None:
    bad = seq2seq.Vocab(["a", "b"])
    bad._itos[-1] = "a"  # a vocabulary whose two maps disagree, as a crafted file could hold
    with pytest.raises(ValueError, match=r"token 'a' is a duplicate"):
        load(saved(bad), [])
