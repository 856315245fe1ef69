"""What the layer modules and the single-step cell modules share: a cell, rnnx's variants read
once (:mod:`rnnx.modules.options`), the parameters the cell declares, and the reading of a
user's initial state."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rnnx._checks import check_matches, check_tensor
from rnnx.backends import variants_unsupported
from rnnx.cells import CellStep
from rnnx.modules.compat import TorchCompatible
from rnnx.modules.inputs import unpack_state
from rnnx.modules.options import REGULARISERS, RegulariserArgs, read_variants

StateCheck = Callable[[str, int, Tensor], Tensor]
"""Checks the shape of one state tensor (its argument name, its index in the state, the tensor)
and returns it in the module's batched form."""


class CellModule(TorchCompatible):
    """Base of :class:`rnnx.modules.layer.RecurrentLayer` and :class:`rnnx.modules.cell.RecurrentCell`.

    Subclasses call :meth:`_init_cell` first in their constructor, then register their
    parameters and list them in :attr:`_parameter_kinds`.
    """

    cell: CellStep
    backend: str
    zoneout: tuple[float, ...]
    recurrent_dropout: float
    weight_drop: float
    #: ``(attribute name, kind)`` of every parameter in registration order; the kind is the name
    #: without the layer suffix (``weight_hh_l1_reverse`` is a ``weight_hh``).
    _parameter_kinds: list[tuple[str, str]]

    def _init_cell(self, cell: CellStep, regularisers: RegulariserArgs) -> None:
        """Keep ``cell`` and the checked regularisers (``backend``, ``zoneout``, ...)."""
        name = type(self).__name__
        if not isinstance(cell, CellStep):
            raise TypeError(f"{name}: cell must be an rnnx.cells.CellStep; got {type(cell).__name__}")
        self.cell = cell
        variants = read_variants(name, regularisers, takes=REGULARISERS, state_names=cell.state_names)
        self.backend = variants.backend
        self.zoneout = variants.zoneout
        self.recurrent_dropout = variants.recurrent_dropout
        self.weight_drop = variants.weight_drop

    def reset_parameters(self) -> None:
        """Initialise every parameter in registration order with :meth:`CellStep.init_parameter`;
        for the standard cells the same seed gives ``torch.nn``'s weights."""
        with torch.no_grad():
            for name, kind in self._parameter_kinds:
                self.cell.init_parameter(kind, getattr(self, name), self.hidden_size)

    def native_unsupported(self, *, training: bool | None = None) -> str | None:
        """Why PyTorch's kernels cannot run this module, or ``None``; in the module's current mode
        unless ``training`` is given."""
        # self.training only read when it matters: torch.nn's test_if_train_and_eval_modes_differ
        # deletes it from a cell, whose forward must then still run.
        active = bool(self.recurrent_dropout) and (self.training if training is None else training)
        return variants_unsupported(
            self.cell, zoneout=self.zoneout, recurrent_dropout=self.recurrent_dropout, training=active
        )

    def torch_incompatible(self) -> str | None:
        """What of this module ``torch.nn`` cannot represent, or ``None``."""
        reasons = [r for r in [self.cell.native_unsupported()] if r]
        reasons += [f"{n}={getattr(self, n)}" for n in ("recurrent_dropout", "weight_drop") if getattr(self, n)]
        if any(self.zoneout):
            reasons.append(f"zoneout={self.zoneout}")
        return "; ".join(reasons) or None

    def variant_repr(self) -> str:
        """The cell's options, the regularisers and a non-default backend, for ``extra_repr``."""
        parts = [self.cell.extra_repr()]
        if any(self.zoneout):
            parts.append(f"zoneout={self.zoneout[0] if len(set(self.zoneout)) == 1 else self.zoneout}")
        parts += [f"{n}={getattr(self, n)}" for n in ("recurrent_dropout", "weight_drop") if getattr(self, n)]
        if self.backend != "auto":
            parts.append(f"backend={self.backend!r}")
        return "".join(f", {p}" for p in parts if p)


def read_state(
    owner: str, hx: object, names: Sequence[str], *, like: Tensor, check_shape: StateCheck
) -> tuple[Tensor, ...]:
    """A user's initial state ``hx`` (one tensor per entry of ``names``), each checked to be a
    floating-point tensor, of the shape ``check_shape`` expects, and of ``like``'s dtype and
    device (the input's), in that order, as ``torch.nn`` checks them.

    Raises:
        TypeError, ValueError: the first thing wrong, named (:class:`rnnx.errors.InputError` for a
            shape, also a ``RuntimeError``).
    """
    given = unpack_state(owner, hx, names)
    tensors = [check_tensor(owner, f"hx ({n})", value) for n, value in zip(names, given, strict=True)]
    state = []
    for index, (n, t) in enumerate(zip(names, tensors, strict=True)):
        arg = f"hx ({n})"
        t = check_shape(arg, index, t)
        check_matches(owner, arg, t, dtype=like.dtype, device=like.device, what="input")
        state.append(t)
    return tuple(state)
