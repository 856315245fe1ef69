"""What the layers and the single-step cells share about their variants: which backends can
run them, whether ``torch.nn`` can represent them, and how they show in a repr."""

from __future__ import annotations

from rnnx.cells import CellStep


class VariantOptions:
    """Mixin for modules with a :class:`CellStep` and the cell-agnostic regularisers."""

    cell: CellStep
    zoneout: tuple[float, ...]
    recurrent_dropout: float
    weight_drop: float
    backend: str
    training: bool

    def native_unsupported(self, *, training: bool | None = None) -> str | None:
        """Why the native kernels cannot run this module, or ``None``; in the module's
        current mode unless ``training`` is given."""
        reasons = [r for r in [self.cell.native_unsupported()] if r]
        if any(self.zoneout):
            reasons.append("zoneout has no native kernel")
        # self.training only read when it matters: torch.nn's test_if_train_and_eval_modes_differ
        # deletes it from a cell, whose forward must then still run.
        if self.recurrent_dropout and (self.training if training is None else training):
            reasons.append("recurrent_dropout has no native kernel in training")
        return "; ".join(reasons) or None

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
