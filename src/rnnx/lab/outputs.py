"""Output directories the lab owns: it writes only into folders it created or found empty, and
removes only what it created.

Every output directory (a training run, a comparison, the claims, an inspection) carries a marker,
``rnnx.json``::

    {"rnnx": "run", "version": 1, "created": ["checkpoints", "checkpoints/epoch-0003"]}

``rnnx`` says what the directory holds; ``created`` lists the sub-folders the lab made there,
recorded *before* each is made, so a kill between the two leaves nothing unrecorded. The lab
removes a folder only if it is listed, deletes in it only the file names it writes, and leaves
the folder (and whatever else is in it) alone when something else is there: it never deletes
a tree.

A directory is taken for output only when it does not exist yet, is empty, or already carries
a marker of the same kind; anything else (a non-empty folder of the user's, a file) is refused
before any work starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rnnx._files import FileFormatError, read_json, write_json

MARKER = "rnnx.json"
VERSION = 1
KINDS = {"run": "training run", "compare": "comparison", "claims": "claims output", "inspect": "inspection output"}


def _describe(kind: str) -> str:
    return f"rnnx {KINDS[kind]}"


def marker_kind(root: Path) -> str | None:
    """The kind recorded in ``root/rnnx.json``, or ``None`` when ``root`` has no marker.

    Raises:
        FileFormatError: the marker exists but is not one the lab wrote.
    """
    path = root / MARKER
    if not path.exists():
        return None
    data = read_json(path)
    kind = data.get("rnnx")
    if not isinstance(kind, str) or kind not in KINDS:
        raise FileFormatError(f"{path}: 'rnnx' must be one of {', '.join(KINDS)}; got {kind!r}")
    if data.get("version") != VERSION:
        raise FileFormatError(f"{path}: version must be {VERSION}; got {data.get('version')!r}")
    created = data.get("created")
    if not isinstance(created, list) or not all(isinstance(c, str) and _is_relative(c) for c in created):
        raise FileFormatError(f"{path}: 'created' must be a list of relative folder names; got {created!r}")
    return str(kind)


def _is_relative(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts


def check_output(root: str | os.PathLike[str], kind: str, *, flag: str = "--out") -> bool:
    """Check, without writing anything, that ``root`` can hold output of ``kind``; returns whether
    it already holds such output (its marker is there).

    Raises:
        ValueError: ``root`` is a file, or a non-empty directory without the lab's marker, or holds
            output of another kind.
        FileFormatError: its marker is damaged.
    """
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {str(path)!r} is a file, not a directory; name a new or empty directory")
    if not path.exists():
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ValueError(f"{flag} {str(path)!r}: {str(parent)!r} is a file, not a directory")
                break
        return False
    found = marker_kind(path)
    if found is None:
        if any(path.iterdir()):
            raise ValueError(
                f"{flag} {str(path)!r} is not empty and is not an {_describe(kind)} directory; rnnx writes only "
                "into a new or empty directory (or one it wrote), so name a new one"
            )
        return False
    if found != kind:
        raise ValueError(f"{flag} {str(path)!r} holds an {_describe(found)}, not an {_describe(kind)}")
    return True


@dataclass(frozen=True)
class Output:
    """An output directory the lab has claimed (see the module docstring)."""

    root: Path
    kind: str

    @classmethod
    def claim(cls, root: str | os.PathLike[str], kind: str, *, flag: str = "--out") -> Output:
        """Check ``root`` (:func:`check_output`), create it if needed and write its marker.

        Raises:
            ValueError, FileFormatError: as :func:`check_output`.
        """
        path = Path(root)
        if not check_output(path, kind, flag=flag):
            path.mkdir(parents=True, exist_ok=True)
            write_json(path / MARKER, {"rnnx": kind, "version": VERSION, "created": []})
        return cls(path, kind)

    @classmethod
    def existing(cls, root: str | os.PathLike[str], kind: str) -> Output:
        """The output of ``kind`` already in ``root``.

        Raises:
            FileNotFoundError: ``root`` has no marker of the lab.
            ValueError: it holds output of another kind.
        """
        path = Path(root)
        found = marker_kind(path) if path.is_dir() else None
        if found is None:
            raise FileNotFoundError(f"{str(path)!r} is not an {_describe(kind)} directory (no {MARKER} in it)")
        if found != kind:
            raise ValueError(f"{str(path)!r} holds an {_describe(found)}, not an {_describe(kind)}")
        return cls(path, kind)

    def created(self) -> list[str]:
        """The sub-folders the lab recorded as made by it."""
        names: list[str] = read_json(self.root / MARKER)["created"]
        return names

    def _record(self, names: list[str]) -> None:
        write_json(self.root / MARKER, {"rnnx": self.kind, "version": VERSION, "created": names})

    def make_dir(self, name: str) -> Path:
        """The sub-folder ``name`` (relative, ``/``-separated), made by the lab if it does not exist.

        Raises:
            ValueError: ``name`` exists but the lab did not make it (it belongs to someone else).
        """
        folder = self.root / name
        created = self.created()
        if name in created:
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        if folder.exists():
            raise ValueError(
                f"{str(folder)!r} was not made by rnnx; it is left alone, so move it away to let the run write there"
            )
        self._record([*created, name])  # before mkdir: a kill in between leaves nothing unrecorded
        folder.mkdir(parents=True)
        return folder

    def remove_dir(self, name: str, files: tuple[str, ...]) -> None:
        """Delete ``files`` (names the lab writes) in the sub-folder ``name`` the lab made, then the
        folder itself if nothing else is left in it. A folder the lab did not make is left alone."""
        created = self.created()
        if name not in created:
            return
        folder = self.root / name
        for file in files:
            (folder / file).unlink(missing_ok=True)
            for temporary in folder.glob(f".{file}.*.tmp"):  # from a write killed midway
                temporary.unlink(missing_ok=True)
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError:  # something the lab did not write is inside: keep the folder and the record
            return
        self._record([c for c in created if c != name])
