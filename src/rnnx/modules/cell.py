"""``RNNCell``, ``LSTMCell`` and ``GRUCell``: one time step, drop-in for ``torch.nn``, with
the same variants as the layers."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from rnnx._checks import (
    check_bool,
    check_flag,
    check_forget_bias,
    check_lstm_only,
    check_matches,
    check_nonlinearity,
    check_probability,
    check_size,
    check_tensor,
    check_zoneout,
)
from rnnx.backends import TRACED, BackendChoice, check_backend, choose_backend, native_cell
from rnnx.cells import NONLINEARITIES, CellStep, DirectionWeights, ElmanStep, GRUStep, LSTMStep, State
from rnnx.modules.compat import TorchCompatible
from rnnx.modules.inputs import check_cell_features, check_cell_state, unpack_state
from rnnx.modules.precision import cast_all, cell_result_dtypes
from rnnx.modules.variants import VariantOptions
from rnnx.modules.weights import check_weights
from rnnx.recurrence import drop_weight, recurrent_dropout_mask, zoneout_masks
from rnnx.recurrence.regularize import apply_zoneout


def _single_step() -> str:
    """Why a cell never runs on the fused kernels."""
    return "the fused kernels run whole sequences; a single-step cell has none"


class CellTracer(Protocol):
    """What :func:`rnnx.trace` sets on a cell module it records."""

    def step(self, cell: CellStep, gi: Tensor, state: State, w: DirectionWeights) -> State:
        """Run ``cell.step`` and keep its gate activations."""

    def emit(self, state: State) -> None:
        """Keep the state the call returns (after zoneout)."""


class RecurrentCell(VariantOptions, TorchCompatible):
    """One step of any :class:`rnnx.cells.CellStep`, with its own parameters.

    The parameters are those of :meth:`CellStep.parameter_shapes` without a layer suffix:
    ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``, ``bias_ih (G*H,)`` and ``bias_hh (G*H,)``
    (``None`` when ``bias=False``), named, ordered and initialised as in ``torch.nn``, then any
    the cell adds (``ln_ih_weight``, ``weight_peephole``, ...). The step is the same one the
    layers run, so stepping a cell by hand over a sequence gives the layer's result.

    Regularisers, in training: ``weight_drop`` draws a new DropConnect mask on every call;
    ``zoneout`` a new keep-mask on every call (one step); ``recurrent_dropout`` draws one
    mask and keeps it for the calls that follow, as variational dropout needs, until
    :meth:`reset_dropout_mask` or a call with another batch size. Call
    :meth:`reset_dropout_mask` before each new sequence.
    """

    _config_keys: ClassVar[tuple[str, ...]] = ("input_size", "hidden_size", "bias")

    #: ``None`` except while :func:`rnnx.trace` records this cell; then every call takes the
    #: reference step (whatever ``backend`` says) and reports it to the tracer.
    _tracer: CellTracer | None = None

    #: What ran the last call and why (``None`` before the first call); see
    #: :class:`rnnx.backends.BackendChoice`.
    backend_choice: BackendChoice | None = None

    def __init__(
        self,
        cell: CellStep,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
        zoneout: float | tuple[float, ...] = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(cell, CellStep):
            raise TypeError(f"{name}: cell must be an rnnx.cells.CellStep; got {type(cell).__name__}")
        self.cell = cell
        # As torch.nn's cells: sizes may be 0, bias is read by truth value (bias=0, np.True_).
        self.input_size = check_size(name, "input_size", input_size, minimum=0)
        self.hidden_size = check_size(name, "hidden_size", hidden_size, minimum=0)
        self.bias = check_flag(name, "bias", bias)
        self.backend = check_backend(name, backend)
        self.zoneout = check_zoneout(name, zoneout, cell.state_names)
        self.recurrent_dropout = check_probability(name, "recurrent_dropout", recurrent_dropout, allow_one=False)
        self.weight_drop = check_probability(name, "weight_drop", weight_drop, allow_one=False)
        self._hidden_mask: Tensor | None = None
        if self.backend == "native":  # fail now, not at the first call
            choose_backend(name, "native", native=self.native_unsupported(training=False), fused=_single_step)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self._kinds = list(cell.parameter_shapes(input_size, hidden_size, bias=self.bias).items())
        for kind, shape in self._kinds:
            self.register_parameter(kind, nn.Parameter(torch.empty(shape, **factory)))
            if kind == "weight_hh" and not self.bias:
                self.register_parameter("bias_ih", None)
                self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise every parameter in registration order with :meth:`CellStep.init_parameter`."""
        with torch.no_grad():
            for kind, _ in self._kinds:
                self.cell.init_parameter(kind, getattr(self, kind), self.hidden_size)

    def reset_dropout_mask(self) -> None:
        """Forget the recurrent dropout mask; the next training call draws a new one."""
        self._hidden_mask = None

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}" + (", bias=False" if not self.bias else "") + self.variant_repr()
        )

    def forward(self, input: Tensor, hx: Any = None) -> Any:
        """Advance the state by one step.

        Args:
            input: ``(B, I)``, or unbatched ``(I,)``.
            hx: ``h`` of shape ``(B, H)`` (``(H,)`` unbatched), ``(h, c)`` for LSTMCell, or
                ``None`` for zeros.

        Returns:
            ``h'`` (``(h', c')`` for LSTMCell), each ``(B, H)`` or ``(H,)``.

        Raises:
            TypeError, ValueError: on an input or state that does not fit the cell, or a
                parameter replaced by one of the wrong shape, dtype, device or layout
                (:class:`rnnx.errors.InputError`, also a ``RuntimeError``).
        """
        name = type(self).__name__
        if hx is not None:  # the state's structure first, where torch.nn looks at it
            unpack_state(name, hx, self.cell.state_names)
        x = check_tensor(name, "input", input)
        if x.dim() not in (1, 2):
            raise ValueError(
                f"{name}: Expected input to be 1D or 2D, got {x.dim()}D instead: input must be 2-D (B, I) "
                f"or 1-D unbatched (I,); got shape {tuple(x.shape)}"
            )
        check_cell_features(name, x, self.input_size)
        is_batched = x.dim() == 2
        if not is_batched:
            x = x.unsqueeze(0)
        state = self._initial_state(hx, x, is_batched)  # shapes before dtypes, as torch.nn
        # Not _parameters: a weight replaced by a plain tensor is used as it is. Each weight,
        # this one included, is checked below (check_weights).
        weight_ih = self.weight_ih
        if isinstance(weight_ih, Tensor):
            check_matches(
                name,
                "input",
                x,
                dtype=weight_ih.dtype,
                device=weight_ih.device,
                what="the parameter weight_ih",
            )
        tensors = [getattr(self, kind) for kind, _ in self._kinds]
        check_weights(name, self._kinds, tensors, x)
        w = DirectionWeights({kind: t for (kind, _), t in zip(self._kinds, tensors, strict=True)})
        if self.weight_drop and self.training:
            w = w.replace(weight_hh=drop_weight(w.weight_hh, self.weight_drop, training=True))
        tracer = self._tracer
        if tracer is None:
            choice = choose_backend(name, self.backend, native=self.native_unsupported(), fused=_single_step)
        else:
            choice = BackendChoice("reference", self.backend, TRACED)
        self.backend_choice = choice
        if choice.backend == "native":
            assert self.cell.native_mode is not None
            new = native_cell(
                self.cell.native_mode, x, state, w.weight_ih, w.weight_hh, w.get("bias_ih"), w.get("bias_hh")
            )
        else:
            w = w.with_hidden_mask(self._recurrent_mask(x))
            gi = self.cell.project_input(x, w)
            new = self.cell.step(gi, state, w) if tracer is None else tracer.step(self.cell, gi, state, w)
        if any(self.zoneout):
            sizes = [s.shape[1] for s in state]
            new = apply_zoneout(state, new, zoneout_masks(self.zoneout, x.shape[0], sizes, x, training=self.training))
        dtypes = cell_result_dtypes(self.cell, x, state)
        if dtypes is not None:  # autocast: torch.nn's dtypes, whichever backend ran
            new = cast_all(new, dtypes)
        if tracer is not None:
            tracer.emit(new)
        if not is_batched:
            new = tuple(s.squeeze(0) for s in new)
        return new[0] if len(new) == 1 else new

    def _recurrent_mask(self, x: Tensor) -> Tensor | None:
        if not (self.recurrent_dropout and self.training):
            return None
        mask = self._hidden_mask
        if mask is None or mask.shape[0] != x.shape[0] or mask.dtype != x.dtype or mask.device != x.device:
            mask = recurrent_dropout_mask(self.recurrent_dropout, x.shape[0], self.hidden_size, x, training=True)
            self._hidden_mask = mask
        return mask

    def _initial_state(self, hx: Any, x: Tensor, is_batched: bool) -> tuple[Tensor, ...]:
        name = type(self).__name__
        state_names = self.cell.state_names
        if hx is None:
            return tuple(x.new_zeros(x.shape[0], self.hidden_size) for _ in state_names)
        given = unpack_state(name, hx, state_names)
        tensors = [check_tensor(name, f"hx ({s})", value) for s, value in zip(state_names, given, strict=True)]
        state = []
        for index, (state_name, t) in enumerate(zip(state_names, tensors, strict=True)):
            arg = f"hx ({state_name})"
            check_cell_state(
                name,
                arg,
                t,
                index=index,
                batch=x.shape[0],
                hidden_size=self.hidden_size,
                batched=is_batched,
                names=len(state_names),
            )
            check_matches(name, arg, t, dtype=x.dtype, device=x.device, what="input")
            state.append(t if is_batched else t.unsqueeze(0))
        return tuple(state)


class RNNCell(RecurrentCell):
    r"""Elman cell, :math:`h' = \phi(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`, as :class:`torch.nn.RNNCell`.

    Keyword-only variants: ``layer_norm``, ``zoneout``, ``recurrent_dropout``, ``weight_drop``.

    Raises:
        ValueError: ``nonlinearity`` is not ``"tanh"`` or ``"relu"``.
    """

    _torch_class: ClassVar[type[nn.Module] | None] = nn.RNNCell
    _config_keys = (*RecurrentCell._config_keys, "nonlinearity")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
        layer_norm: bool = False,
        zoneout: float | tuple[float, ...] = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        peephole: bool = False,
        forget_bias: float | None = None,
    ) -> None:
        check_lstm_only("RNNCell", peephole=peephole, forget_bias=forget_bias)
        self.nonlinearity = check_nonlinearity("RNNCell", nonlinearity, NONLINEARITIES)
        cell = ElmanStep(nonlinearity, layer_norm=check_bool("RNNCell", "layer_norm", layer_norm))
        super().__init__(
            cell,
            input_size,
            hidden_size,
            bias,
            device,
            dtype,
            backend=backend,
            zoneout=zoneout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
        )

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class LSTMCell(RecurrentCell):
    """LSTM cell (gates ``i, f, g, o``) as :class:`torch.nn.LSTMCell`; see :class:`rnnx.cells.LSTMStep`.

    Keyword-only variants: ``layer_norm``, ``peephole``, ``forget_bias``, ``zoneout``
    (a number or ``(p_h, p_c)``), ``recurrent_dropout``, ``weight_drop``.
    """

    _torch_class: ClassVar[type[nn.Module] | None] = nn.LSTMCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
        layer_norm: bool = False,
        peephole: bool = False,
        forget_bias: float | None = None,
        zoneout: float | tuple[float, ...] = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
    ) -> None:
        forget = check_forget_bias("LSTMCell", forget_bias, bias=bias)
        cell = LSTMStep(
            layer_norm=check_bool("LSTMCell", "layer_norm", layer_norm),
            peephole=check_bool("LSTMCell", "peephole", peephole),
            forget_bias=forget,
        )
        super().__init__(
            cell,
            input_size,
            hidden_size,
            bias,
            device,
            dtype,
            backend=backend,
            zoneout=zoneout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
        )


class GRUCell(RecurrentCell):
    """GRU cell (gates ``r, z, n``) as :class:`torch.nn.GRUCell`; see :class:`rnnx.cells.GRUStep`.

    Keyword-only variants: ``layer_norm``, ``zoneout``, ``recurrent_dropout``, ``weight_drop``.
    """

    _torch_class: ClassVar[type[nn.Module] | None] = nn.GRUCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
        layer_norm: bool = False,
        zoneout: float | tuple[float, ...] = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        peephole: bool = False,
        forget_bias: float | None = None,
    ) -> None:
        check_lstm_only("GRUCell", peephole=peephole, forget_bias=forget_bias)
        super().__init__(
            GRUStep(layer_norm=check_bool("GRUCell", "layer_norm", layer_norm)),
            input_size,
            hidden_size,
            bias,
            device,
            dtype,
            backend=backend,
            zoneout=zoneout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
        )
