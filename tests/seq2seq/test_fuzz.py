"""Fuzzed saved folders and inputs: a damaged file is always FileFormatError, FileNotFoundError,
ValueError or TypeError naming the file, never another exception and never a silently different
model; translate answers any input with a result or a named error (translation_scores:
tests/lab/test_metrics.py)."""

from __future__ import annotations

import copy
import functools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnx import seq2seq
from tests.seq2seq.common import trained_model
from tests.seq2seq.test_io import build, make_legacy

FILES = ("config.json", "model.safetensors", "src_vocab.json", "tgt_vocab.json")
NAMED_ERRORS = (ValueError, TypeError, FileNotFoundError)  # FileFormatError is a ValueError
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def original(legacy: bool) -> Path:
    """One saved folder per mode, copied afresh for every example."""
    root = Path(__import__("tempfile").mkdtemp(prefix="rnnx-fuzz-"))
    model = build(cell="lstm", attention="additive", bidirectional=True, bridge="linear")
    folder = seq2seq.save(model, root / ("legacy" if legacy else "checked"))
    if legacy:
        make_legacy(folder)
    return folder


def fresh(tmp: Path, legacy: bool) -> Path:
    target = tmp / f"m{len(list(tmp.iterdir()))}"
    shutil.copytree(original(legacy), target)
    return target


def assert_same(loaded: seq2seq.Seq2Seq, reference: seq2seq.Seq2Seq) -> None:
    assert loaded.src_vocab == reference.src_vocab
    assert loaded.tgt_vocab == reference.tgt_vocab
    assert repr(loaded) == repr(reference)
    for (key, a), (_, b) in zip(reference.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), key


def blamed(name: str, legacy: bool) -> tuple[str, ...]:
    """The files an error may name when ``name`` was damaged: itself; for config.json also the
    weights (an edited ``weights_sha256`` reads as weights that differ from the record, and in a
    folder without checksums as weights that do not fit) and the vocabularies (their size)."""
    if name != "config.json":
        return (name,)
    return FILES if legacy else ("config.json", "model.safetensors")


def load_or_named_error(folder: Path, names: tuple[str, ...]) -> seq2seq.Seq2Seq | None:
    """The loaded model, or ``None`` after an allowed error, on one line, naming a file of
    ``names`` in ``folder``."""
    try:
        return seq2seq.load(folder)
    except NAMED_ERRORS as error:
        message = str(error)
        assert any(str(folder / name) in message for name in names), message
        assert "\n" not in message, message
        return None


damage = st.one_of(
    st.binary(max_size=300).map(lambda junk: ("replace", junk)),
    st.floats(0, 1).map(lambda at: ("truncate", at)),
    st.tuples(st.floats(0, 1), st.integers(1, 255)).map(lambda flip: ("flip", flip)),
    st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=8)).map(lambda insert: ("insert", insert)),
)


def damaged(data: bytes, how: tuple[str, Any]) -> bytes:
    kind, arg = how
    if kind == "replace":
        return bytes(arg)
    at = int(arg[0] * len(data)) if isinstance(arg, tuple) else int(arg * len(data))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        at = min(at, len(data) - 1)
        return data[:at] + bytes([data[at] ^ arg[1]]) + data[at + 1 :]
    return data[:at] + arg[1] + data[at:]


@SETTINGS
@given(name=st.sampled_from(FILES), how=damage, legacy=st.booleans())
def test_damaged_file_is_named_or_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, name: str, how: tuple[str, Any], legacy: bool
) -> None:
    folder = fresh(tmp_path_factory.mktemp("f", numbered=True), legacy)
    before = (folder / name).read_bytes()
    after = damaged(before, how)
    (folder / name).write_bytes(after)
    loaded = load_or_named_error(folder, blamed(name, legacy))
    if loaded is None:
        return
    if not legacy:
        # With checksums every byte of the weights is covered, and a JSON file that still loads
        # must mean what it meant (whitespace, an escaped character). A folder saved before the
        # checksums has nothing to compare against: there a changed value can load.
        assert_same(loaded, seq2seq.load(original(legacy)))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a JSON value (dict keys and list indices), the value's own included."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def mutate(document: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    """``document`` with the value at ``path`` replaced, deleted, or given a new key."""
    if not path:
        return value
    doc = copy.deepcopy(document)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent[path[-1]], dict):
        parent[path[-1]]["extra_key"] = value
    else:
        parent[path[-1]] = value
    return doc


@SETTINGS
@given(
    name=st.sampled_from(["config.json", "src_vocab.json"]),
    choice=st.integers(0, 10**6),
    action=st.sampled_from(["replace", "delete", "add"]),
    value=JSON,
    legacy=st.booleans(),
)
def test_mutated_json_value_is_named_or_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, name: str, choice: int, action: str, value: Any, legacy: bool
) -> None:
    folder = fresh(tmp_path_factory.mktemp("j", numbered=True), legacy)
    document = json.loads((folder / name).read_text(encoding="utf-8"))
    candidates = paths(document)
    path = candidates[choice % len(candidates)]
    if action == "delete" and not path:
        action = "replace"
    edited = mutate(document, path, action, value)
    (folder / name).write_text(json.dumps(edited), encoding="utf-8")
    loaded = load_or_named_error(folder, blamed(name, legacy))
    if loaded is not None and (not legacy or edited == document):
        assert_same(loaded, seq2seq.load(original(legacy)))


@SETTINGS
@given(
    num_layers=st.integers(1, 10**12),
    hidden=st.integers(1, 10**12),
    rows=st.integers(1, 10**12),
)
def test_legacy_config_sizes_never_allocate_or_crash(
    tmp_path_factory: pytest.TempPathFactory, num_layers: int, hidden: int, rows: int
) -> None:
    """Without checksums, sizes are still checked against the weights before any allocation."""
    folder = fresh(tmp_path_factory.mktemp("s", numbered=True), True)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["decoder"]["rnn"]["num_layers"] = num_layers
    config["encoder"]["rnn"]["hidden_size"] = hidden
    config["decoder"]["embedding"]["num_embeddings"] = rows
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    loaded = load_or_named_error(folder, ("config.json", "model.safetensors"))
    assert loaded is None or (num_layers, hidden, rows) == (1, 6, 8)  # the sizes it was saved with


SOURCE = st.one_of(
    st.text(max_size=30),
    st.lists(st.text(max_size=3), max_size=6),
    st.none(),
    st.integers(),
    st.binary(max_size=4),
    st.lists(st.one_of(st.text(max_size=2), st.none(), st.integers()), max_size=4),
)


@settings(max_examples=80, deadline=None)
@given(sources=st.one_of(SOURCE, st.lists(SOURCE, max_size=4), st.tuples(SOURCE, SOURCE)))
def test_translate_answers_any_input(sources: Any) -> None:
    model = trained_model("context")
    try:
        out = seq2seq.translate(model, sources, max_len=12)
    except (TypeError, ValueError) as error:
        message = str(error)
    else:
        batch = not isinstance(sources, str)
        rows = out if batch else [out]
        assert len(rows) == (len(sources) if batch else 1)
        for row in rows:
            assert all(token in model.tgt_vocab for token in row)  # type: ignore[operator]
            assert len(row) <= 12
        return
    assert message.startswith("translate: sources"), message


def test_translate_very_long_source() -> None:
    model = trained_model("attention")
    out = seq2seq.translate(model, "ab€" * 700, max_len=5)
    assert len(out) <= 5
