"""rnnx's options beyond ``torch.nn``'s, declared once and checked once.

``torch.nn``'s own constructor arguments stay exactly as ``torch.nn`` spells them, positional
order included. rnnx's variants travel together as keyword-only arguments, typed by the
``TypedDict`` of the module's family (:class:`RegulariserArgs`, :class:`VariantArgs`,
:class:`LSTMVariantArgs`) and read into one :class:`Variants` by :func:`read_variants`::

    rnnx.LSTM(32, 128, 2, batch_first=True, layer_norm=True, zoneout=(0.1, 0.05))

Each variant is off by default, and off is exactly ``torch.nn``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

from rnnx._checks import check_bool, check_forget_bias, check_probability, check_zoneout
from rnnx.backends import check_backend


class RegulariserArgs(TypedDict, total=False):
    """The options of every recurrent module, whatever its cell (``rnnx.Recurrent`` and
    ``IndRNN`` take these alone).

    - ``backend``: ``"auto"``, ``"native"``, ``"fused"`` or ``"reference"``
      (:func:`rnnx.backends.choose`).
    - ``zoneout``: keep each state unit's previous value with probability ``p`` in training
      (Krueger et al. 2016); a number, or one per state tensor (``(p_h, p_c)`` for LSTM).
    - ``recurrent_dropout``: variational dropout on ``h`` entering ``W_hh``, one mask per
      sequence (Gal & Ghahramani 2016).
    - ``weight_drop``: DropConnect on ``W_hh`` per forward call (Merity et al. 2017).
    """

    backend: str
    zoneout: float | tuple[float, ...]
    recurrent_dropout: float
    weight_drop: float


class VariantArgs(RegulariserArgs, total=False):
    """The options of ``RNN``, ``GRU`` and their cells: the regularisers and ``layer_norm``
    (layer-normalised products, Ba, Kiros & Hinton 2016)."""

    layer_norm: bool


class LSTMVariantArgs(VariantArgs, total=False):
    """The options of ``LSTM`` and ``LSTMCell``: those of :class:`VariantArgs`, ``peephole``
    (Gers & Schmidhuber 2000) and ``forget_bias`` (Jozefowicz et al. 2015)."""

    peephole: bool
    forget_bias: float | None


REGULARISERS = tuple(RegulariserArgs.__annotations__)
"""The names of :class:`RegulariserArgs`: what ``rnnx.Recurrent`` and ``IndRNN`` take."""

VARIANTS = tuple(VariantArgs.__annotations__)
"""The names of :class:`VariantArgs`: what ``RNN``, ``GRU`` and their cells take."""

LSTM_VARIANTS = tuple(LSTMVariantArgs.__annotations__)
"""The names of :class:`LSTMVariantArgs`: what ``LSTM`` and ``LSTMCell`` take."""

LSTM_ONLY = ("peephole", "forget_bias")
"""Options only an LSTM takes; any other family refuses them unless they are off."""


@dataclass(frozen=True)
class Variants:
    """rnnx's options for one module, checked (see :func:`read_variants`).

    Attributes:
        backend: the requested backend.
        layer_norm, peephole, forget_bias: the cell's options (read by the family's constructor
            to build its :class:`rnnx.cells.CellStep`).
        zoneout: one probability per state tensor.
        recurrent_dropout, weight_drop: probabilities in ``[0, 1)``.
    """

    backend: str = "auto"
    layer_norm: bool = False
    peephole: bool = False
    forget_bias: float | None = None
    zoneout: tuple[float, ...] = (0.0,)
    recurrent_dropout: float = 0.0
    weight_drop: float = 0.0

    def regularisers(self) -> RegulariserArgs:
        """The cell-agnostic options, for :class:`rnnx.Recurrent` and the cell modules' base."""
        return RegulariserArgs(
            backend=self.backend,
            zoneout=self.zoneout,
            recurrent_dropout=self.recurrent_dropout,
            weight_drop=self.weight_drop,
        )


def read_variants(
    owner: str,
    given: Mapping[str, object],
    *,
    takes: Sequence[str],
    state_names: Sequence[str],
    bias: bool = True,
) -> Variants:
    """Check the keyword options ``given`` to ``owner``, which takes the options ``takes``.

    Raises:
        TypeError: an option ``owner`` does not take (a misspelt one among them), or a value of
            the wrong type.
        ValueError: a value out of range; ``peephole`` or ``forget_bias`` set on another family
            than LSTM; ``forget_bias`` without ``bias``.
    """
    for name, value in given.items():
        if name in takes:
            continue
        if name in LSTM_ONLY:
            if value in (None, False):  # off: what every family is
                continue
            raise ValueError(f"{owner}: {name} is only supported by LSTM; got {name}={value!r}")
        known = ", ".join(takes)
        raise TypeError(f"{owner}: got an unexpected keyword argument {name!r}; its options are {known}")
    return Variants(
        backend=check_backend(owner, given.get("backend", "auto")),
        layer_norm=check_bool(owner, "layer_norm", given.get("layer_norm", False)),
        peephole=check_bool(owner, "peephole", given.get("peephole", False)),
        forget_bias=check_forget_bias(owner, given.get("forget_bias"), bias=bias),
        zoneout=check_zoneout(owner, given.get("zoneout", 0.0), state_names),
        recurrent_dropout=check_probability(
            owner, "recurrent_dropout", given.get("recurrent_dropout", 0.0), allow_one=False
        ),
        weight_drop=check_probability(owner, "weight_drop", given.get("weight_drop", 0.0), allow_one=False),
    )
