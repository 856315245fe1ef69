"""``RNNCell``, ``LSTMCell`` and ``GRUCell``: one time step, drop-in for ``torch.nn``, with
the same variants as the layers."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn
from typing_extensions import Unpack

from rnnx._checks import check_flag, check_matches, check_nonlinearity, check_size, check_tensor
from rnnx.backends import BackendChoice, check_request, choose_cell, native_cell
from rnnx.cells import NONLINEARITIES, CellStep, DirectionWeights, ElmanStep, GRUStep, LSTMStep, State
from rnnx.modules.base import CellModule, read_state
from rnnx.modules.inputs import check_cell_features, check_cell_state, unpack_state
from rnnx.modules.options import LSTM_VARIANTS, VARIANTS, LSTMVariantArgs, RegulariserArgs, VariantArgs, read_variants
from rnnx.modules.precision import cast_all, cell_result_dtypes
from rnnx.modules.weights import check_weights
from rnnx.recurrence import drop_weight, recurrent_dropout_mask, zoneout_masks
from rnnx.recurrence.regularize import apply_zoneout


class CellTracer(Protocol):
    """What :func:`rnnx.trace` sets on a cell module it records."""

    def step(self, cell: CellStep, gi: Tensor, state: State, w: DirectionWeights) -> State:
        """Run ``cell.step`` and keep its gate activations."""

    def emit(self, state: State) -> None:
        """Keep the state the call returns (after zoneout)."""


class RecurrentCell(CellModule):
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
        **regularisers: Unpack[RegulariserArgs],
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self._init_cell(cell, regularisers)
        # As torch.nn's cells: sizes may be 0, bias is read by truth value (bias=0, np.True_).
        self.input_size = check_size(name, "input_size", input_size, minimum=0)
        self.hidden_size = check_size(name, "hidden_size", hidden_size, minimum=0)
        self.bias = check_flag(name, "bias", bias)
        self._hidden_mask: Tensor | None = None
        check_request(name, self.backend, native=self.native_unsupported(training=False))
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self._kinds = list(cell.parameter_shapes(input_size, hidden_size, bias=self.bias).items())
        self._parameter_kinds = [(kind, kind) for kind, _ in self._kinds]
        for kind, shape in self._kinds:
            self.register_parameter(kind, nn.Parameter(torch.empty(shape, **factory)))
            if kind == "weight_hh" and not self.bias:
                self.register_parameter("bias_ih", None)
                self.register_parameter("bias_hh", None)
        self.reset_parameters()

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
        choice = choose_cell(name, self.backend, native=self.native_unsupported(), traced=tracer is not None)
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
        name, names = type(self).__name__, self.cell.state_names
        if hx is None:
            return tuple(x.new_zeros(x.shape[0], self.hidden_size) for _ in names)

        def check_shape(arg: str, index: int, t: Tensor) -> Tensor:
            check_cell_state(
                name,
                arg,
                t,
                index=index,
                batch=x.shape[0],
                hidden_size=self.hidden_size,
                batched=is_batched,
                names=len(names),
            )
            return t if is_batched else t.unsqueeze(0)

        return read_state(name, hx, names, like=x, check_shape=check_shape)


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
        **variants: Unpack[VariantArgs],
    ) -> None:
        v = read_variants("RNNCell", variants, takes=VARIANTS, state_names=("h",))
        self.nonlinearity = check_nonlinearity("RNNCell", nonlinearity, NONLINEARITIES)
        cell = ElmanStep(nonlinearity, layer_norm=v.layer_norm)
        super().__init__(cell, input_size, hidden_size, bias, device, dtype, **v.regularisers())

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
        **variants: Unpack[LSTMVariantArgs],
    ) -> None:
        bias_on = check_flag("LSTMCell", "bias", bias)  # by truth value, as torch.nn's cells
        v = read_variants("LSTMCell", variants, takes=LSTM_VARIANTS, state_names=("h", "c"), bias=bias_on)
        cell = LSTMStep(layer_norm=v.layer_norm, peephole=v.peephole, forget_bias=v.forget_bias)
        super().__init__(cell, input_size, hidden_size, bias, device, dtype, **v.regularisers())


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
        **variants: Unpack[VariantArgs],
    ) -> None:
        v = read_variants("GRUCell", variants, takes=VARIANTS, state_names=("h",))
        cell = GRUStep(layer_norm=v.layer_norm)
        super().__init__(cell, input_size, hidden_size, bias, device, dtype, **v.regularisers())
