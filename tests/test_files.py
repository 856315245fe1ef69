"""rnnx._files: atomic writes, and reads that name the file and the fault."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnx._files import (
    FileFormatError,
    load_tensors,
    read_json,
    save_tensors,
    sha256_bytes,
    write_atomic,
    write_atomic_with,
    write_json,
)


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.bin"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")

    def fail(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic_with(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_written_files_get_the_mode_open_would_give(tmp_path: Path) -> None:
    umask = os.umask(0o027)
    try:
        write_atomic(tmp_path / "f", b"x")
        (tmp_path / "g").write_bytes(b"x")
    finally:
        os.umask(umask)
    mode = stat.S_IMODE((tmp_path / "f").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "g").stat().st_mode) == 0o640  # not mkstemp's 0o600


def test_json_round_trip_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    write_json(path, {"ü": [1, 2.5, None]})
    assert read_json(path) == {"ü": [1, 2.5, None]}
    assert path.read_text(encoding="utf-8").endswith("\n")
    cases = {
        b"": "the file is empty",
        b"  \n": "the file is empty",
        b"\xff\xfe": "not a text file",
        b"{": "not valid JSON",
        b"[1]": "expected a JSON object; got list",
        b"[" * 100_000: "not valid JSON",
        b"1" * 5000: "not valid JSON",
    }
    for data, message in cases.items():
        path.write_bytes(data)
        with pytest.raises(FileFormatError, match=message) as caught:
            read_json(path)
        assert str(caught.value).startswith(str(path))
    path.write_bytes(b'["a"]')
    assert read_json(path, expect=list) == ["a"]
    with pytest.raises(FileNotFoundError, match=r"gone\.json: no such file"):
        read_json(tmp_path / "gone.json")
    with pytest.raises(FileFormatError, match="not a file"):
        read_json(tmp_path)


def test_tensors_round_trip_with_their_checksum(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    digest = save_tensors(path, tensors)
    assert digest == sha256_bytes(path.read_bytes())
    loaded = load_tensors(path, sha256=digest)
    assert loaded.keys() == tensors.keys()
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    damaged = load_tensors(path)  # still a valid file: only the checksum tells
    assert not all(torch.equal(damaged[k], tensors[k]) for k in tensors)
    with pytest.raises(FileFormatError, match="the checksum does not match"):
        load_tensors(path, sha256=digest)
    path.write_bytes(b"")
    with pytest.raises(FileFormatError, match="the file is empty"):
        load_tensors(path)
    with pytest.raises(FileNotFoundError):
        load_tensors(tmp_path / "gone.safetensors")


def error_of(call: Callable[[], object]) -> str | None:
    """The message of the FileFormatError ``call`` raises (any other exception fails the test)."""
    try:
        call()
    except FileFormatError as error:
        return str(error)
    return None


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400), cut=st.integers(0, 400))
def test_fuzzed_tensor_files_are_refused_by_name(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, cut: int
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    good = folder / "good.safetensors"
    save_tensors(good, {"w": torch.ones(3, 2)})
    for content in (data, good.read_bytes()[:cut], data[:8] + good.read_bytes()[8:]):
        path = folder / "w.safetensors"
        path.write_bytes(content)
        message = error_of(lambda: load_tensors(path))  # noqa: B023 - called at once
        assert message is None or (message.startswith(str(path)) and "\n" not in message)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_fuzzed_json_files_are_refused_by_name(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.json"
    path.write_bytes(data)
    message = error_of(lambda: read_json(path, expect=object))
    assert message is None or (message.startswith(str(path)) and "\n" not in message)
