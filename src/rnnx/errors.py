"""The exceptions rnnx raises on bad input, typed so that code written for ``torch.nn`` catches them.

rnnx's contract is ``ValueError`` (a value of the right type that does not fit) and ``TypeError``
(a value of the wrong type). Where ``torch.nn``'s recurrent modules raise for the same mistake,
rnnx raises an exception of ``torch.nn``'s type as well, and its message begins with
``torch.nn``'s words (rnnx's explanation follows):

- an input, state or weight of the wrong shape, dtype or device at forward, or an input with
  no time steps: ``RuntimeError`` in ``torch.nn``, :class:`InputError` in rnnx;
- an input whose dtype is not the weights': ``ValueError`` in ``torch.nn``, :class:`InputError`;
- a tensor with the wrong number of dimensions (a layer's or a cell's input, a cell's ``hx``):
  ``ValueError`` in both;
- a size, ``bias`` or ``batch_first`` of the wrong type: ``TypeError`` in both;
- an integer or bool input or state: ``RuntimeError`` (from its kernels) in ``torch.nn``,
  :class:`DtypeError` (a ``TypeError`` and a ``RuntimeError``) in rnnx;
- an input or state that is not a tensor: ``AttributeError`` in ``torch.nn``,
  :class:`NotATensorError` (a ``TypeError`` and an ``AttributeError``); an LSTM state that is
  not a pair: ``IndexError`` or ``RuntimeError``, :class:`StateStructureError`;
- a cell's state of one dimension for a batch, or of two for one sample: ``RuntimeError`` or
  ``IndexError`` in ``torch.nn``, :class:`StateRankError` (an :class:`InputError`, also an
  ``IndexError``);
- a size out of range, an unknown nonlinearity, ``proj_size`` for RNN or GRU: ``ValueError``
  in both.

Each class derives from rnnx's type and from ``torch.nn``'s: :class:`InputError` from both
``ValueError`` and ``RuntimeError``, so that ``except ValueError`` and a ``torch.nn``-style
``except RuntimeError`` catch the same error. rnnx also checks a state's structure before
anything else, where ``torch.nn`` does.
tools/torch_nn_suite.py checks this list against PyTorch's own tests.
"""

from __future__ import annotations

__all__ = ["DtypeError", "InputError", "NotATensorError", "StateRankError", "StateStructureError"]


class InputError(ValueError, RuntimeError):
    """An input, state or parameter tensor that does not fit the module (shape, dtype, device).

    A ``ValueError`` for rnnx's contract and a ``RuntimeError`` for code written against
    ``torch.nn``, which raises ``RuntimeError`` for the same mistakes.
    """


class StateRankError(InputError, IndexError):
    """A cell's state with one dimension where the input has a batch dimension, or the reverse.

    An :class:`InputError`; ``torch.nn``'s kernel compares the batch sizes (``RuntimeError``)
    or, when they agree, indexes the missing dimension (``IndexError``).
    """


class DtypeError(TypeError, RuntimeError):
    """A tensor whose dtype the module cannot compute with (an integer or bool input or state).

    A ``TypeError`` for rnnx's contract; ``torch.nn``'s kernels raise ``RuntimeError`` for it.
    """


class NotATensorError(TypeError, AttributeError):
    """An input or state that is not a tensor (a tuple ``hx`` for an RNN or GRU, say).

    A ``TypeError`` for rnnx's contract; ``torch.nn`` calls ``hx.dim()`` on it and raises
    ``AttributeError``.
    """


class StateStructureError(TypeError, IndexError, RuntimeError):
    """A state that should be a tuple of tensors (an LSTM's ``(h0, c0)``) and is not one of the
    right length.

    A ``TypeError`` for rnnx's contract; ``torch.nn`` indexes it (``hx[1]``: ``IndexError`` for a
    1-tuple) or fails further in (``RuntimeError``).
    """
