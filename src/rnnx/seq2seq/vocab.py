"""Token vocabularies: ``<pad>`` = 0, ``<sos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3, then the tokens."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from rnnx._checks import check_int
from rnnx._files import FileFormatError, read_json, write_json

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS: tuple[str, ...] = (PAD, SOS, EOS, UNK)
PAD_ID, SOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
FORMAT = "rnnx.seq2seq.Vocab/1"


class Vocab:
    """A mapping between tokens (strings) and ids.

    The four special tokens come first with fixed ids (``PAD_ID = 0``, ``SOS_ID = 1``,
    ``EOS_ID = 2``, ``UNK_ID = 3``), so every vocabulary agrees on them; tokens follow in
    the order given. A token the vocabulary lacks encodes to ``<unk>``.

    Args:
        tokens: the ordinary tokens, in id order (ids start at 4). Each must be a non-empty
            string, not a special token, and appear once.

    Raises:
        TypeError, ValueError: a token that is not a non-empty string, a special token, or a
            duplicate, each named.
    """

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        self._itos: list[str] = list(SPECIALS)
        self._stoi: dict[str, int] = {t: i for i, t in enumerate(SPECIALS)}
        for token in tokens:
            if not isinstance(token, str) or not token:
                raise TypeError(f"Vocab: every token must be a non-empty str; got {token!r}")
            if token in self._stoi:
                what = "a special token" if token in SPECIALS else "a duplicate"
                raise ValueError(f"Vocab: token {token!r} is {what}; each ordinary token must appear once")
            self._stoi[token] = len(self._itos)
            self._itos.append(token)

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], *, min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """A vocabulary of the tokens of ``sequences`` seen at least ``min_freq`` times.

        Tokens are ordered by decreasing count, ties by the token itself, so the same data
        always gives the same ids. ``max_size`` caps the ordinary tokens (specials excluded).

        Raises:
            TypeError, ValueError: ``min_freq < 1`` or ``max_size < 0``; bad tokens as in the
                constructor.
        """
        check_int("Vocab.build", "min_freq", min_freq, minimum=1)
        if max_size is not None:
            check_int("Vocab.build", "max_size", max_size, minimum=0)
        counts: Counter[str] = Counter()
        for sequence in sequences:
            if isinstance(sequence, str):
                counts.update(sequence)  # a string is a sequence of character tokens
            else:
                counts.update(sequence)
        for special in SPECIALS:
            counts.pop(special, None)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(ranked if max_size is None else ranked[:max_size])

    # -- lookup ------------------------------------------------------------------------------

    pad_id = PAD_ID
    sos_id = SOS_ID
    eos_id = EOS_ID
    unk_id = UNK_ID

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._itos == other._itos

    def __hash__(self) -> int:
        return hash(tuple(self._itos))

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {' '.join(self._itos[:12])}{' ...' if len(self) > 12 else ''})"

    @property
    def tokens(self) -> list[str]:
        """Every token in id order, specials first."""
        return list(self._itos)

    def index(self, token: str) -> int:
        """The id of ``token``; ``UNK_ID`` if absent."""
        return self._stoi.get(token, UNK_ID)

    def token(self, index: int) -> str:
        """The token of id ``index``.

        Raises:
            ValueError: ``index`` is outside ``[0, len(self))``.
        """
        if not 0 <= index < len(self._itos):
            raise ValueError(f"Vocab: token id must be in [0, {len(self._itos)}); got {index}")
        return self._itos[index]

    # -- sequences ---------------------------------------------------------------------------

    def encode(self, tokens: Sequence[str], *, add_sos: bool = False, add_eos: bool = True) -> list[int]:
        """Ids of ``tokens`` (a string encodes character by character), unknown ones as
        ``<unk>``; ``<sos>`` first if ``add_sos`` and ``<eos>`` last if ``add_eos``."""
        ids = [self._stoi.get(t, UNK_ID) for t in tokens]
        return ([SOS_ID] if add_sos else []) + ids + ([EOS_ID] if add_eos else [])

    def decode(self, ids: Iterable[int], *, strip: bool = True) -> list[str]:
        """Tokens of ``ids``. With ``strip`` (the default) decoding stops at the first
        ``<eos>`` and drops ``<pad>`` and ``<sos>``; otherwise every id is kept.

        Raises:
            ValueError: an id outside the vocabulary.
        """
        out: list[str] = []
        for raw in ids:
            i = int(raw)
            if strip and i == EOS_ID:
                break
            if strip and i in (PAD_ID, SOS_ID):
                continue
            out.append(self.token(i))
        return out

    # -- persistence -------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """SHA-256 (64 hex digits) of every token in id order: two vocabularies agree on every id
        exactly when their fingerprints are equal. A saved model records it to find a vocabulary
        file whose tokens were reordered, edited or swapped for another model's."""
        return fingerprint(self._itos)

    def __getstate__(self) -> dict[str, Any]:
        return {"tokens": self._itos[len(SPECIALS) :]}

    def __setstate__(self, state: object) -> None:
        """Rebuild from the pickled tokens through the constructor's checks, so a pickle
        (``torch.load(weights_only=True)`` included) cannot make a vocabulary whose two maps
        disagree."""
        if isinstance(state, dict) and isinstance(state.get("_itos"), list):  # pickled before __getstate__
            state = {"tokens": state["_itos"][len(SPECIALS) :]}
        if not isinstance(state, dict) or not isinstance(state.get("tokens"), list):
            raise ValueError("Vocab: a pickled vocabulary must hold a list of tokens")
        self.__init__(state["tokens"])  # type: ignore[misc]

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "tokens": self._itos[len(SPECIALS) :]}

    @classmethod
    def from_dict(cls, data: object) -> Vocab:
        """The vocabulary saved by :meth:`to_dict`.

        Raises:
            ValueError: ``data`` is not a saved vocabulary.
            TypeError: a token that is not a non-empty string.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("tokens"), list):
            raise ValueError(f"Vocab: not a saved vocabulary (expected format {FORMAT!r} and a token list)")
        return cls(data["tokens"])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary as JSON (atomically)."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, fingerprint: str | None = None) -> Vocab:
        """Read a vocabulary written by :meth:`save`.

        Args:
            path: the JSON file.
            fingerprint: the :attr:`fingerprint` recorded when it was saved; when given, a file
                whose tokens differ from those (reordered, edited, another model's) is refused.

        Raises:
            FileNotFoundError: no file at ``path``.
            FileFormatError: (a ``ValueError``) the file is not a saved vocabulary (empty, not
                JSON, no format or token list, a bad or repeated token), or its fingerprint
                differs; the message names the file.
        """
        data = read_json(path)
        try:
            vocab = cls.from_dict(data)
        except (TypeError, ValueError) as error:
            raise FileFormatError(f"{path}: {error}") from None
        if fingerprint is not None and vocab.fingerprint != fingerprint:
            raise FileFormatError(
                f"{path}: the tokens differ from those the model was saved with (fingerprint "
                f"{vocab.fingerprint[:12]}..., expected {fingerprint[:12]}...); the file was edited, "
                "reordered or belongs to another model"
            )
        return vocab


def fingerprint(tokens: Sequence[str]) -> str:
    """SHA-256 of ``tokens`` (in order, specials included) as compact UTF-8 JSON; see
    :attr:`Vocab.fingerprint`."""
    text = json.dumps(list(tokens), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
