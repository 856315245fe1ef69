"""The base of every recurrent layer module: parameters, input forms, states, backends."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence
from typing_extensions import Self, Unpack

from rnnx._checks import check_matches, check_probability, check_size, check_switch
from rnnx.backends import (
    BackendChoice,
    LayerCall,
    SequenceBatch,
    check_request,
    choose,
    refuse_packed_export,
    run,
)
from rnnx.cells import CellStep, DirectionWeights
from rnnx.modules.base import CellModule, read_state
from rnnx.modules.inputs import check_layer_state, read_input, unpack_state
from rnnx.modules.options import RegulariserArgs
from rnnx.modules.precision import cast_all, layer_result_dtypes
from rnnx.modules.weights import check_weights
from rnnx.recurrence import ScanFn, drop_weight

LAYER_SUFFIX = re.compile(r"_l\d+(_reverse)?$")  # weight_hh_l1_reverse -> weight_hh


def parameter_kind(name: str) -> str:
    """The kind of a layer parameter: its name without ``_l{k}`` and ``_reverse``."""
    return LAYER_SUFFIX.sub("", name)


TORCH_DTYPE_WORDS = (
    "RNN input dtype ({got}) does not match weight dtype ({expected}). "
    "Convert input: input.to({expected}), or convert model: model.to({got})"
)
"""``torch.nn``'s message for an input whose dtype is not the weights', put first in rnnx's."""

LayerTracer = Callable[["RecurrentLayer", SequenceBatch], ScanFn]
"""Set by :func:`rnnx.trace` on a layer it records: gives, for one forward call, the time loop
that runs the reference steps and records them."""


class RecurrentLayer(CellModule):
    """Stacked, optionally bidirectional recurrent layer running any :class:`CellStep`.

    This is the machinery behind :class:`rnnx.RNN`, :class:`rnnx.LSTM`, :class:`rnnx.GRU` and
    :class:`rnnx.IndRNN`, and the way to run a cell of your own (``rnnx.Recurrent``)::

        layer = rnnx.Recurrent(MyCell(), input_size=8, hidden_size=16, num_layers=2, bidirectional=True)

    Parameters are registered per layer, then per direction, in the order of
    :meth:`CellStep.parameter_shapes`, named ``{kind}_l{layer}`` (``_reverse`` for the backward
    direction) as in ``torch.nn``, and initialised by :meth:`CellStep.init_parameter` in that
    order; for the standard cells the same seed gives ``torch.nn``'s weights.

    Args:
        cell: the cell's step.
        input_size: ``I``, features of each input step.
        hidden_size: ``H``.
        num_layers: stacked layers ``L``.
        bias: whether the layers have ``bias_ih`` / ``bias_hh``.
        batch_first: inputs and outputs are ``(B, T, F)`` instead of ``(T, B, F)``.
        dropout: dropout on the outputs of every layer but the last, in training.
        bidirectional: run a second, reversed direction per layer (``D = 2``).
        proj_size: project ``h`` to this width (cells that support it: LSTM).
        device, dtype: of the parameters.
        regularisers: ``backend``, ``zoneout``, ``recurrent_dropout``, ``weight_drop``
            (:class:`rnnx.modules.options.RegulariserArgs`). ``backend`` is ``"auto"``,
            ``"native"``, ``"fused"`` or ``"reference"`` (:func:`rnnx.backends.choose`): an explicit
            request that cannot run a call raises ``ValueError`` with the reason, and
            :attr:`backend_choice` tells what ran. Zoneout keeps each state unit's previous value
            per element and step in training; in evaluation ``s_t = p s_{t-1} + (1 - p) s~_t``.
            Recurrent dropout draws one mask per sequence, layer and direction; weight drop one
            per forward call.

    Raises:
        TypeError, ValueError: on arguments of the wrong type or out of range, each named.
    """

    #: ``None`` except while :func:`rnnx.trace` records this layer; then every call takes the
    #: reference path (whatever ``backend`` says) so that each step can be seen.
    _tracer: LayerTracer | None = None

    #: What ran the last forward call and why (``None`` before the first call): for example
    #: ``fused: rnnx's fused kernel runs GRU on CPU over 100 >= 8 steps faster than PyTorch's``.
    backend_choice: BackendChoice | None = None

    _config_keys: ClassVar[tuple[str, ...]] = (
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
    )

    def __init__(
        self,
        cell: CellStep,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **regularisers: Unpack[RegulariserArgs],
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self._init_cell(cell, regularisers)
        self.mode = cell.family_mode
        # As torch.nn: bias and batch_first must be bools (its kernels take bidirectional only as one).
        self.input_size = check_size(name, "input_size", input_size, minimum=1)
        self.hidden_size = check_size(name, "hidden_size", hidden_size, minimum=1)
        self.num_layers = check_size(name, "num_layers", num_layers, minimum=1)
        self.bias = check_switch(name, "bias", bias)
        self.batch_first = check_switch(name, "batch_first", batch_first)
        self.dropout = check_probability(name, "dropout", dropout)
        self.bidirectional = check_switch(name, "bidirectional", bidirectional)
        self.proj_size = check_size(name, "proj_size", proj_size, minimum=0)
        if proj_size and not cell.supports_projection:
            raise ValueError(
                f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU "
                f"({type(cell).__name__} has no projection); got proj_size={proj_size}"
            )
        if proj_size >= hidden_size:
            raise ValueError(
                f"{name}: proj_size has to be smaller than hidden_size={hidden_size}; got proj_size={proj_size}"
            )
        if self.dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{name}: dropout is applied between stacked layers, so dropout={dropout} "
                f"has no effect with num_layers=1",
                UserWarning,
                stacklevel=3,
            )
        check_request(name, self.backend, native=self.native_unsupported(training=False))
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        # (name, shape) of every weight, for the check on each forward call.
        self._weight_shapes: list[tuple[str, tuple[int, ...]]] = []
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        out_size = proj_size or hidden_size
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                layer_in = input_size if layer == 0 else out_size * self.num_directions
                shapes = cell.parameter_shapes(layer_in, hidden_size, proj_size=proj_size, bias=bias)
                suffix = f"_l{layer}{'_reverse' if direction else ''}"
                names = [kind + suffix for kind in shapes]
                for param_name, shape in zip(names, shapes.values(), strict=True):
                    self.register_parameter(param_name, nn.Parameter(torch.empty(shape, **factory)))
                self._flat_weights_names.extend(names)
                self._weight_shapes.extend(zip(names, shapes.values(), strict=True))
                self._all_weights.append(names)
        self._parameter_kinds = [(n, parameter_kind(n)) for n in self._flat_weights_names]
        # Looked up on every call.
        self._kinds = dict(self._parameter_kinds)
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _flat_weights(self) -> list[Tensor]:
        # getattr, not _parameters: a weight replaced by a plain tensor (e.g. by a user's own
        # weight-drop wrapper) is used as it is.
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """The parameters grouped per layer and direction, as in ``torch.nn``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _call_weights(self, like: Tensor) -> list[Tensor]:
        """The flat weights for one forward call, checked against ``like`` (the input), with
        weight drop drawn if active."""
        weights = self._flat_weights
        check_weights(type(self).__name__, self._weight_shapes, weights, like)
        if self.weight_drop and self.training:
            weights = [
                drop_weight(w, self.weight_drop, training=True) if self._kinds[n] == "weight_hh" else w
                for n, w in zip(self._flat_weights_names, weights, strict=True)
            ]
        return weights

    def direction_weights(self, flat: list[Tensor]) -> list[list[DirectionWeights]]:
        """``flat`` (in ``torch.nn``'s order) grouped as ``weights[layer][direction]``."""
        by_name = dict(zip(self._flat_weights_names, flat, strict=True))
        groups = [DirectionWeights({self._kinds[n]: by_name[n] for n in names}) for names in self._all_weights]
        d = self.num_directions
        return [groups[i : i + d] for i in range(0, len(groups), d)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first:
            s += f", batch_first={self.batch_first}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += f", bidirectional={self.bidirectional}"
        return s + self.variant_repr()

    # -- state ------------------------------------------------------------------------------

    def _initial_state(self, hx: object, seq: SequenceBatch, like: Tensor) -> tuple[Tensor, ...]:
        """Zeros, or the user's ``hx`` checked and brought to ``(L*D, B, size)``, sorted."""
        name = type(self).__name__
        sizes = self.cell.state_sizes(self.hidden_size, self.proj_size)
        rows = self.num_layers * self.num_directions
        if hx is None:
            return tuple(torch.zeros(rows, seq.batch, size, dtype=like.dtype, device=like.device) for size in sizes)
        several = len(sizes) > 1  # torch.nn's hidden[0] / hidden[1] for LSTM

        def check_shape(arg: str, index: int, t: Tensor) -> Tensor:
            expected = (rows, seq.batch, sizes[index]) if seq.is_batched else (rows, sizes[index])
            check_layer_state(name, arg, t, expected, index=index if several else None, batched=seq.is_batched)
            return t if seq.is_batched else t.unsqueeze(1)

        names = [f"{s}0" for s in self.cell.state_names]
        state = read_state(name, hx, names, like=like, check_shape=check_shape)
        if seq.sorted_indices is not None:
            state = tuple(t.index_select(1, seq.sorted_indices) for t in state)
        return state

    def _final_state(self, state: tuple[Tensor, ...], seq: SequenceBatch) -> Any:
        if seq.unsorted_indices is not None:
            state = tuple(s.index_select(1, seq.unsorted_indices) for s in state)
        if not seq.is_batched:
            state = tuple(s.squeeze(1) for s in state)
        return state[0] if len(state) == 1 else state

    # -- forward ----------------------------------------------------------------------------

    def forward(self, input: Tensor | PackedSequence, hx: Any = None) -> tuple[Any, Any]:
        """Run the layer over a sequence batch.

        Args:
            input: ``(T, B, I)``, ``(B, T, I)`` if ``batch_first``, unbatched ``(T, I)``, or a
                ``PackedSequence`` of ``(sum(lengths), I)``.
            hx: initial state, zeros if ``None``. ``h0`` is ``(L*D, B, P)`` (``(L*D, P)``
                unbatched); an LSTM takes ``(h0, c0)`` with ``c0`` of width ``hidden_size``.
                ``D`` is 2 if bidirectional else 1; ``P`` is ``proj_size or hidden_size``.

        Returns:
            ``(output, h_n)`` (``(output, (h_n, c_n))`` for LSTM). ``output`` is
            ``(T, B, D*P)`` (batch first if ``batch_first``; ``(T, D*P)`` unbatched; a
            ``PackedSequence`` for packed input). ``h_n`` has the shape of ``h0``, taken at each
            sequence's own last step.

        Raises:
            TypeError, ValueError: on any input or state that does not fit the layer, or a
                parameter replaced by one of the wrong shape, dtype, device or layout
                (:class:`rnnx.errors.InputError`, also a ``RuntimeError``).
        """
        name = type(self).__name__
        if hx is not None:  # the state's structure first, where torch.nn looks at it
            unpack_state(name, hx, [f"{s}0" for s in self.cell.state_names])
        refuse_packed_export(name, self.backend, isinstance(input, PackedSequence))  # before its lengths are read
        seq = read_input(name, input, input_size=self.input_size, batch_first=self.batch_first)
        first = getattr(self, self._flat_weights_names[0])
        if isinstance(first, Tensor):  # each weight, this one included, is checked in _call_weights
            check_matches(
                name,
                "input",
                seq.data,
                dtype=first.dtype,
                device=first.device,
                what=f"the parameter {self._flat_weights_names[0]}",
                torch_words=TORCH_DTYPE_WORDS,
            )
        state = self._initial_state(hx, seq, seq.data)
        tracer = self._tracer
        call = LayerCall(self, seq, None if tracer is None else tracer(self, seq))
        choice = choose(call)
        if not torch.compiler.is_exporting():  # torch.export captures a program: no attribute is set
            self.backend_choice = choice
        output, final = run(call, choice, state, self._call_weights(seq.data))
        dtypes = layer_result_dtypes(self.cell, seq.data, state, first, packed=seq.packed, proj_size=self.proj_size)
        if dtypes is not None:  # autocast: torch.nn's dtypes, whichever backend ran
            output, final = output.to(dtypes[0]), cast_all(final, dtypes[1])
        if seq.batch_sizes is not None:
            packed = PackedSequence(output, seq.batch_sizes, seq.sorted_indices, seq.unsorted_indices)
            return packed, self._final_state(final, seq)
        if not seq.is_batched:
            output = output.squeeze(0 if self.batch_first else 1)
        return output, self._final_state(final, seq)

    # -- interop ----------------------------------------------------------------------------

    def flatten_parameters(self) -> None:
        """Pack the weights into one contiguous cuDNN buffer, as ``torch.nn`` does.

        Only acts when every weight is a CUDA tensor cuDNN accepts; a no-op otherwise.
        """
        weights = self._flat_weights
        first = weights[0]
        if self.cell.native_mode is None or not all(
            isinstance(w, Tensor) and w.is_cuda and w.dtype == first.dtype and torch.backends.cudnn.is_acceptable(w)
            for w in weights
        ):
            return
        if len({w.data_ptr() for w in weights}) != len(weights):
            return  # aliased weights: cuDNN would copy at each call, as in torch.nn
        from torch.backends.cudnn import rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    weights,
                    (4 if self.bias else 2) + (1 if self.proj_size else 0),
                    self.input_size,
                    cudnn_rnn.get_cudnn_mode(self.cell.native_mode),
                    self.hidden_size,
                    self.proj_size,
                    self.num_layers,
                    self.batch_first,
                    self.bidirectional,
                )

    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> Self:
        super()._apply(fn, recurse)  # type: ignore[no-untyped-call]
        self.flatten_parameters()  # after .to()/.cuda(), as torch.nn does
        return self
