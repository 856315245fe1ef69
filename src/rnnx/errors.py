"""The exceptions rnnx raises on bad input, typed so that code written for ``torch.nn`` catches them.

rnnx's contract is ``ValueError`` (a value of the right type that does not fit) and ``TypeError``
(a value of the wrong type). ``torch.nn`` raises other types at the same places: a wrong input or
state shape at forward is a ``RuntimeError`` there. Each class here derives from both, so that
``except ValueError`` and a ``torch.nn``-style ``except RuntimeError`` catch the same error.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError, RuntimeError):
    """An input, state or parameter tensor that does not fit the module (shape, dtype, device).

    A ``ValueError`` for rnnx's contract and a ``RuntimeError`` for code written against
    ``torch.nn``, which raises ``RuntimeError`` for the same mistakes.
    """
