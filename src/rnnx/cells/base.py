"""The contract between a cell's equations and the machinery that runs them.

A cell only knows how to advance its state by one time step, and which parameters it needs.
Everything else (the time loop, stacking layers, the two directions, packed sequences,
dropout between layers, zoneout, recurrent dropout, weight drop) lives in
:mod:`rnnx.recurrence` and works for any :class:`CellStep`, including one a user writes.

Shapes used throughout: ``B`` batch, ``I`` input features, ``H`` hidden size, ``P`` the width
of the emitted hidden state (``proj_size`` for a projected LSTM, else ``H``) and ``G`` the
number of ``H``-wide blocks stacked in the weight matrices (1 for Elman, 3 for GRU, 4 for LSTM).
"""

from __future__ import annotations

import functools
import inspect
import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnx.cells.norm import init_layer_norm, is_layer_norm_parameter
from rnnx.cells.weights import DirectionWeights as DirectionWeights  # its home before rnnx.cells.weights

State = tuple[Tensor, ...]
"""A cell's recurrent state. ``state[0]`` is always the hidden state ``h`` that is emitted."""

GateRecord = dict[str, Tensor]
"""Named activations of one step, each ``(B, H)``, that a cell writes while :func:`rnnx.trace`
records it (``i, f, g, o`` for the LSTM, ``r, z, n`` for the GRU, ``pre`` for Elman/IndRNN)."""


def uniform_init(t: Tensor, hidden_size: int) -> None:
    """``U(-1/sqrt(H), 1/sqrt(H))``, the initialisation of every ``torch.nn`` RNN weight."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0  # as torch.nn: H = 0 leaves nothing to draw
    torch.nn.init.uniform_(t, -bound, bound)


@functools.cache
def _takes_record(cls: type[CellStep]) -> bool:
    return "record" in inspect.signature(cls.step).parameters


class CellStep(ABC):
    """One step of a recurrent cell, written from its equations.

    Subclasses set :attr:`num_chunks` and :attr:`state_names` and implement :meth:`step`;
    cells with more parameters than ``torch.nn``'s also extend :meth:`parameter_shapes` and
    :meth:`init_parameter`. The machinery calls :meth:`project_input` once for a whole
    sequence (one GEMM over all ``T*B`` rows), then :meth:`step` once per time step.
    """

    #: Number of ``H``-wide gate blocks in ``weight_ih`` / ``weight_hh``.
    num_chunks: int
    #: Names of the state tensors, ``("h",)`` or ``("h", "c")``; ``h`` comes first.
    state_names: tuple[str, ...] = ("h",)
    #: Whether ``bias_hh`` may be added to the hoisted input projection. True when the
    #: recurrent pre-activation enters the cell only through ``W_ih x + b_ih + W_hh h + b_hh``.
    folds_hidden_bias: bool = True
    #: ``torch.nn``'s name for this cell's native kernel (``"LSTM"``, ``"GRU"``, ``"RNN_TANH"``,
    #: ``"RNN_RELU"``), or ``None`` when no native kernel computes it.
    native_mode: str | None = None
    #: ``torch.nn``'s ``mode`` for the family of this cell, variants or not (``native_mode`` with
    #: the variants off): what a layer module of it exposes as ``mode``.
    family_mode: str | None = None
    #: Whether the cell supports ``proj_size`` (a ``weight_hr`` projection of ``h``).
    supports_projection: bool = False

    def native_unsupported(self) -> str | None:
        """Why no native kernel computes this cell, or ``None`` when one does."""
        if self.native_mode is None:
            return f"{type(self).__name__} has no native kernel"
        return None

    def state_sizes(self, hidden_size: int, proj_size: int) -> tuple[int, ...]:
        """Width of each state tensor, in the order of :attr:`state_names`."""
        del proj_size  # only the LSTM projects
        return (hidden_size,) * len(self.state_names)

    def parameter_shapes(
        self, input_size: int, hidden_size: int, *, proj_size: int = 0, bias: bool = True
    ) -> dict[str, tuple[int, ...]]:
        """The parameters of one layer and direction, by kind, in registration order.

        The default is ``torch.nn``'s: ``weight_ih (G*H, I)``, ``weight_hh (G*H, P)``, then
        ``bias_ih`` and ``bias_hh`` ``(G*H,)`` if ``bias``, then ``weight_hr (P, H)`` if
        ``proj_size``.
        """
        gates = self.num_chunks * hidden_size
        shapes: dict[str, tuple[int, ...]] = {
            "weight_ih": (gates, input_size),
            "weight_hh": (gates, proj_size or hidden_size),
        }
        if bias:
            shapes |= {"bias_ih": (gates,), "bias_hh": (gates,)}
        if proj_size:
            shapes["weight_hr"] = (proj_size, hidden_size)
        return shapes

    def init_parameter(self, kind: str, t: Tensor, hidden_size: int) -> None:
        """Initialise one parameter in place; called in registration order.

        Layer-norm parameters (kinds ``ln_*``) start as gain 1 and bias 0; every other one is
        drawn from ``U(-1/sqrt(H), 1/sqrt(H))`` as ``torch.nn`` does, so the same seed gives
        ``torch.nn``'s weights.
        """
        if is_layer_norm_parameter(kind):
            init_layer_norm(kind, t)
        else:
            uniform_init(t, hidden_size)

    def project_input(self, x: Tensor, w: DirectionWeights) -> Tensor:
        """The input part of every gate for many rows at once.

        Args:
            x: ``(N, I)``; ``N`` is usually every time step of the sequence, ``T*B``.
            w: the layer's weights.

        Returns:
            ``(N, G*H)``: ``W_ih x + b_ih``, plus ``b_hh`` when :attr:`folds_hidden_bias`.
        """
        bias = w.get("bias_ih")
        bias_hh = w.get("bias_hh")
        if bias is not None and bias_hh is not None and self.folds_hidden_bias:
            bias = bias + bias_hh
        return F.linear(x, w.weight_ih, bias)

    @abstractmethod
    def step(self, gi: Tensor, state: State, w: DirectionWeights) -> State:
        """Advance the state by one time step.

        Args:
            gi: ``(B, G*H)``, this step's rows of :meth:`project_input`.
            state: the previous state, each tensor ``(B, size)`` as in :meth:`state_sizes`.
            w: the layer's weights; use ``w.recurrent_input(h)`` for ``h`` where it enters
                the recurrent weights, so that recurrent dropout applies.

        Returns:
            The new state, same shapes; its first tensor is the emitted hidden state.
        """

    def reports_gates(self) -> bool:
        """Whether :meth:`step` takes the keyword ``record`` (a :data:`GateRecord` it fills with
        its named gate activations). rnnx's cells do; a cell of your own may: only
        :func:`rnnx.trace` passes it, so the ordinary loop pays nothing for it. Without it a
        trace still records the state (``h``, ``c``)."""
        return _takes_record(type(self))

    def step_recording(self, gi: Tensor, state: State, w: DirectionWeights, record: GateRecord) -> State:
        """:meth:`step`, filling ``record`` with the gate activations if the cell reports them."""
        if self.reports_gates():
            return self.step(gi, state, w, record=record)  # type: ignore[call-arg]
        return self.step(gi, state, w)

    def extra_repr(self) -> str:
        """Options shown in the owning module's repr, e.g. ``"layer_norm=True"``."""
        return ""
