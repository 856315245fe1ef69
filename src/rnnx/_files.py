"""Files rnnx writes and reads back: written atomically, verified when read.

Every file is written to a temporary file in the same folder, flushed to disk, then renamed over
its target (``os.replace``), so a reader sees the old file or the new one, never a torn one. Every
read names the file in its error: a missing file is ``FileNotFoundError``; a file that exists but
cannot be what rnnx wrote (empty, truncated, not JSON, another format, a checksum that differs)
is :class:`FileFormatError`. Tensor files carry a SHA-256 of their bytes in the JSON that names
them, so a damaged weight is found before it is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as tensors_from_bytes
from safetensors.torch import save as tensors_to_bytes
from torch import Tensor

__all__ = [
    "FileFormatError",
    "load_tensors",
    "read_json",
    "save_tensors",
    "sha256_bytes",
    "write_atomic",
    "write_atomic_with",
    "write_json",
]


class FileFormatError(ValueError):
    """A file that exists but is not what rnnx wrote there: the message names the file and the fault."""


def sha256_bytes(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _file_mode() -> int:
    """The mode ``open()`` gives a new file: ``0o666`` less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic_with(path: str | os.PathLike[str], write: Callable[[Path], None]) -> None:
    """Call ``write(temporary)`` on a new temporary file beside ``path``, then rename it to ``path``.

    The temporary file is removed if ``write`` fails; ``path`` is then left as it was. The file
    gets the permissions ``open()`` would give it (``mkstemp``'s private ``0o600`` is undone).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    temporary = Path(name)
    try:
        os.chmod(temporary, _file_mode())
        write(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_folder(target.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`write_atomic_with`)."""

    def write(temporary: Path) -> None:
        temporary.write_bytes(data)

    write_atomic_with(path, write)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    write_atomic(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise FileFormatError(f"{path}: not a file")
    try:
        return path.read_bytes()
    except OSError as error:
        raise FileFormatError(f"{path}: cannot be read ({error.strerror or error})") from None


def read_json(path: str | os.PathLike[str], *, expect: type = dict) -> Any:
    """The JSON value in ``path``, which must be of type ``expect`` (``dict`` by default).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FileFormatError: it is empty, not UTF-8, not JSON, or not a JSON value of type ``expect``.
    """
    file = Path(path)
    data = _read_bytes(file)
    if not data.strip():
        raise FileFormatError(f"{file}: the file is empty (expected JSON)")
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise FileFormatError(f"{file}: not a text file (expected UTF-8 JSON)") from None
    except json.JSONDecodeError as error:
        raise FileFormatError(f"{file}: not valid JSON ({error.msg} at line {error.lineno})") from None
    except (ValueError, RecursionError) as error:  # an integer too long to convert, nesting too deep
        raise FileFormatError(f"{file}: not valid JSON ({type(error).__name__}: {error})") from None
    if not isinstance(value, expect):
        names: dict[type, str] = {dict: "object", list: "array", str: "string"}
        raise FileFormatError(
            f"{file}: expected a JSON {names.get(expect, expect.__name__)}; got {type(value).__name__}"
        )
    return value


def save_tensors(
    path: str | os.PathLike[str], tensors: Mapping[str, Tensor], *, metadata: dict[str, str] | None = None
) -> str:
    """Write ``tensors`` as a safetensors file, atomically; returns the file's SHA-256, to be
    stored beside it and passed back to :func:`load_tensors`."""
    data = tensors_to_bytes({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, metadata=metadata)
    write_atomic(path, data)
    return sha256_bytes(data)


def load_tensors(
    path: str | os.PathLike[str], *, sha256: str | None = None, device: torch.device | str = "cpu"
) -> dict[str, Tensor]:
    """The tensors of the safetensors file ``path``, on ``device``.

    Args:
        path: the file.
        sha256: the checksum :func:`save_tensors` returned; when given, a file whose bytes differ
            is refused before any tensor is used.
        device: where to put the tensors.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FileFormatError: it is empty, truncated, not a safetensors file, or its checksum differs.
    """
    file = Path(path)
    data = _read_bytes(file)
    if not data:
        raise FileFormatError(f"{file}: the file is empty (expected safetensors weights)")
    if sha256 is not None and sha256_bytes(data) != sha256:
        raise FileFormatError(f"{file}: the checksum does not match the one recorded when it was written (damaged?)")
    try:
        tensors = tensors_from_bytes(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FileFormatError(f"{file}: not a valid safetensors file ({detail})") from None
    return {name: t.to(device) for name, t in tensors.items()}
