"""The base of every recurrent layer module: parameters, input forms, states, backends."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence
from typing_extensions import Self

from rnnx._checks import (
    check_matches,
    check_probability,
    check_size,
    check_switch,
    check_tensor,
    check_zoneout,
)
from rnnx.backends import (
    TRACED,
    BackendChoice,
    check_backend,
    choose_backend,
    choose_for_export,
    export_mode,
    native_layer,
)
from rnnx.backends.onnx_lstm import onnx_lstm_stack, onnx_lstm_unsupported
from rnnx.cells import CellStep, DirectionWeights
from rnnx.fused import fused_faster, fused_scan, fused_unsupported
from rnnx.fused.stream import evaluation_zoneout, infer_sequence, sequence_faster
from rnnx.modules.compat import TorchCompatible
from rnnx.modules.inputs import SequenceBatch, check_layer_state, read_input, unpack_state
from rnnx.modules.precision import cast_all, layer_result_dtypes, native_autocast_unsupported
from rnnx.modules.variants import VariantOptions
from rnnx.modules.weights import check_weights
from rnnx.recurrence import drop_weight, run_stack, scan
from rnnx.recurrence.graph import graph_stack
from rnnx.recurrence.masks import global_samples

LAYER_SUFFIX = re.compile(r"_l\d+(_reverse)?$")  # weight_hh_l1_reverse -> weight_hh


def parameter_kind(name: str) -> str:
    """The kind of a layer parameter: its name without ``_l{k}`` and ``_reverse``."""
    return LAYER_SUFFIX.sub("", name)


TORCH_DTYPE_WORDS = (
    "RNN input dtype ({got}) does not match weight dtype ({expected}). "
    "Convert input: input.to({expected}), or convert model: model.to({got})"
)
"""``torch.nn``'s message for an input whose dtype is not the weights', put first in rnnx's."""

ScanFn = Callable[..., tuple[Tensor, tuple[Tensor, ...]]]
"""A time loop with the signature of :func:`rnnx.recurrence.scan`."""

LayerTracer = Callable[["RecurrentLayer", SequenceBatch], ScanFn]
"""Set by :func:`rnnx.trace` on a layer it records: gives, for one forward call, the time loop
that runs the reference steps and records them."""


class RecurrentLayer(VariantOptions, TorchCompatible):
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
        backend: ``"auto"``, ``"native"``, ``"fused"`` or ``"reference"``; see
            :func:`rnnx.backends.choose_backend`. An explicit request that cannot run a call
            raises ``ValueError`` with the reason; :attr:`backend_choice` tells what ran.
        zoneout: probability of keeping each state unit's previous value, per element and
            step, in training (Krueger et al. 2016); a number, or one per state tensor
            (``(p_h, p_c)`` for LSTM). In evaluation ``s_t = p s_{t-1} + (1 - p) s~_t``.
        recurrent_dropout: variational dropout on ``h`` where it enters the recurrent
            weights, one mask per sequence, layer and direction (Gal & Ghahramani 2016).
        weight_drop: DropConnect on ``weight_hh`` once per forward call in training
            (Merity et al. 2017).

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
        self.mode = cell.native_mode
        # As torch.nn: bias and batch_first must be bools (its kernels take bidirectional only as one).
        self.input_size = check_size(name, "input_size", input_size, minimum=1)
        self.hidden_size = check_size(name, "hidden_size", hidden_size, minimum=1)
        self.num_layers = check_size(name, "num_layers", num_layers, minimum=1)
        self.bias = check_switch(name, "bias", bias)
        self.batch_first = check_switch(name, "batch_first", batch_first)
        self.dropout = check_probability(name, "dropout", dropout)
        self.bidirectional = check_switch(name, "bidirectional", bidirectional)
        self.proj_size = check_size(name, "proj_size", proj_size, minimum=0)
        self.backend = check_backend(name, backend)
        self.zoneout = check_zoneout(name, zoneout, cell.state_names)
        self.recurrent_dropout = check_probability(name, "recurrent_dropout", recurrent_dropout, allow_one=False)
        self.weight_drop = check_probability(name, "weight_drop", weight_drop, allow_one=False)
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
        if self.backend == "native":  # fail now, not at the first call
            choose_backend(name, "native", native=self.native_unsupported(training=False), fused=lambda: None)
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
        # Parameter kinds, computed once: forward calls look them up on every call.
        self._kinds = {name: parameter_kind(name) for name in self._flat_weights_names}
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """Initialise every parameter in registration order with :meth:`CellStep.init_parameter`."""
        with torch.no_grad():
            for name in self._flat_weights_names:
                self.cell.init_parameter(self._kinds[name], getattr(self, name), self.hidden_size)

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

    def _direction_weights(self, flat: list[Tensor]) -> list[list[DirectionWeights]]:
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
        state_names = self.cell.state_names
        sizes = self.cell.state_sizes(self.hidden_size, self.proj_size)
        rows = self.num_layers * self.num_directions
        if hx is None:
            return tuple(torch.zeros(rows, seq.batch, size, dtype=like.dtype, device=like.device) for size in sizes)
        given = unpack_state(name, hx, [f"{s}0" for s in state_names])
        state = []
        for index, (state_name, size, value) in enumerate(zip(state_names, sizes, given, strict=True)):
            arg = f"hx ({state_name}0)"
            t = check_tensor(name, arg, value)
            expected = (rows, seq.batch, size) if seq.is_batched else (rows, size)
            which = index if len(state_names) > 1 else None  # torch.nn's hidden[0] / hidden[1] for LSTM
            check_layer_state(name, arg, t, expected, index=which, batched=seq.is_batched)
            if not seq.is_batched:
                t = t.unsqueeze(1)
            check_matches(name, arg, t, dtype=like.dtype, device=like.device, what="input")
            if seq.sorted_indices is not None:
                t = t.index_select(1, seq.sorted_indices)
            state.append(t)
        return tuple(state)

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
        if isinstance(input, PackedSequence) and export_mode() == "graph":  # before its lengths are read
            choose_for_export(name, self.backend, "graph", native=None, random=None, packed=True)
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
        exporting = export_mode() if tracer is None else None
        if exporting is not None:  # torch.export, torch.jit.trace, torch.onnx.export
            choice = self._choose_for_export(seq, exporting)
            if exporting == "trace":  # tracing runs the module's Python as it is
                self.backend_choice = choice
        else:
            choice = self._choose(seq) if tracer is None else BackendChoice("reference", self.backend, TRACED)
            self.backend_choice = choice
        backend = choice.backend
        weights = self._call_weights(seq.data)
        if backend in ("graph", "onnx-lstm"):
            return self._graph(seq, state, weights, onnx_lstm=backend == "onnx-lstm")
        # Each row's global sample index keys its random masks (rnnx.sample_offset).
        samples = global_samples(seq.batch, seq.sorted_indices) if self.training else None
        if tracer is not None:  # rnnx.trace: the reference loop, recording every step
            output, final = self._reference(seq, state, weights, samples, scan_fn=tracer(self, seq))
        elif backend == "native":
            assert self.cell.native_mode is not None
            output, final = native_layer(
                self.cell.native_mode,
                seq.data,
                seq.batch_sizes,
                state,
                weights,
                bias=self.bias,
                num_layers=self.num_layers,
                dropout=self.dropout,
                training=self.training,
                bidirectional=self.bidirectional,
                batch_first=self.batch_first,
                samples=samples,
            )
        elif backend == "step":
            output, final = self._step_kernel(seq, state, weights)
        else:
            scan_fn = fused_scan if backend == "fused" else scan
            output, final = self._reference(seq, state, weights, samples, scan_fn=scan_fn)
        dtypes = layer_result_dtypes(self.cell, seq.data, state, first, packed=seq.packed, proj_size=self.proj_size)
        if dtypes is not None:  # autocast: torch.nn's dtypes, whichever backend ran
            output, final = output.to(dtypes[0]), cast_all(final, dtypes[1])
        if seq.batch_sizes is not None:
            packed = PackedSequence(output, seq.batch_sizes, seq.sorted_indices, seq.unsorted_indices)
            return packed, self._final_state(final, seq)
        if not seq.is_batched:
            output = output.squeeze(0 if self.batch_first else 1)
        return output, self._final_state(final, seq)

    def _choose(self, seq: SequenceBatch) -> BackendChoice:
        """The backend for this call (see :func:`rnnx.backends.choose_backend`)."""
        like = seq.data
        return choose_backend(
            type(self).__name__,
            self.backend,
            native=self.native_unsupported()
            or native_autocast_unsupported(self.cell, like, packed=seq.packed, proj_size=self.proj_size),
            fused=lambda: fused_unsupported(self.cell, dtype=like.dtype, device=like.device),
            fused_faster=fused_faster(
                self.cell,
                like.device,
                seq.steps(self.batch_first),
                proj_size=self.proj_size,
                packed=seq.packed,
                inference=not torch.is_grad_enabled() and not self.training,
                batch=seq.batch,
            ),
            step_faster=sequence_faster(
                self.cell,
                device=like.device,
                dtype=like.dtype,
                batch=seq.batch,
                bidirectional=self.bidirectional,
                packed=seq.packed,
                training=self.training,
            )
            if self.backend == "auto"
            else None,
        )

    def _step_kernel(
        self, seq: SequenceBatch, state: tuple[Tensor, ...], weights: list[Tensor]
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Inference through the streaming step kernel (:func:`rnnx.fused.stream.infer_sequence`)."""
        x = seq.data.transpose(0, 1) if self.batch_first else seq.data
        layers = [d[0] for d in self._direction_weights(weights)]
        zoneout = evaluation_zoneout(self.zoneout)
        output, final = infer_sequence(self, self.cell, layers, zoneout, weights, x.contiguous(), state)
        return (output.transpose(0, 1) if self.batch_first else output), final

    def _choose_for_export(self, seq: SequenceBatch, mode: str) -> BackendChoice:
        """The backend that exports this call (see :func:`rnnx.backends.choose_for_export`)."""
        random = [
            name
            for name, active in (
                ("dropout", self.dropout > 0 and self.num_layers > 1),
                ("zoneout", any(self.zoneout)),
                ("recurrent_dropout", self.recurrent_dropout > 0),
                ("weight_drop", self.weight_drop > 0),
            )
            if active
        ]
        return choose_for_export(
            type(self).__name__,
            self.backend,
            mode,
            native=self.native_unsupported(),
            random=", ".join(random) if self.training and random else None,
            packed=seq.packed,
            onnx_lstm=onnx_lstm_unsupported(
                self.cell,
                proj_size=self.proj_size,
                zoneout=self.zoneout,
                packed=seq.packed,
                onnx_export=torch.onnx.is_in_onnx_export(),
            ),
        )

    def _graph(
        self, seq: SequenceBatch, state: tuple[Tensor, ...], weights: list[Tensor], *, onnx_lstm: bool = False
    ) -> tuple[Any, Any]:
        """The call as one scan over time (:func:`rnnx.recurrence.graph.graph_stack`), or with
        ``onnx_lstm`` as ONNX's ``LSTM`` node per layer (:mod:`rnnx.backends.onnx_lstm`), for export."""
        x = seq.data.transpose(0, 1) if self.batch_first else seq.data
        if onnx_lstm:
            output, final = onnx_lstm_stack(x, state, self._direction_weights(weights), hidden_size=self.hidden_size)
        else:
            output, final = graph_stack(
                self.cell, x, state, self._direction_weights(weights), zoneout=self.zoneout if any(self.zoneout) else ()
            )
        if self.batch_first:
            output = output.transpose(0, 1)
        if not seq.is_batched:
            output = output.squeeze(0 if self.batch_first else 1)
        return output, self._final_state(final, seq)

    def _reference(
        self,
        seq: SequenceBatch,
        state: tuple[Tensor, ...],
        weights: list[Tensor],
        samples: tuple[int, ...] | None = None,
        *,
        scan_fn: ScanFn = scan,
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The machinery of :mod:`rnnx.recurrence` with the time loop ``scan_fn`` (the reference
        :func:`~rnnx.recurrence.scan`, the fused one, or a tracing one)."""
        x = seq.data
        if seq.batch_sizes is not None:
            batch_sizes = seq.batch_sizes.tolist()
        else:
            if self.batch_first:
                x = x.transpose(0, 1)
            steps, batch, features = x.shape
            x = x.reshape(steps * batch, features)  # the packed layout with B rows per step
            batch_sizes = [batch] * steps
        out, final = run_stack(
            self.cell,
            x,
            batch_sizes,
            state,
            self._direction_weights(weights),
            dropout=self.dropout,
            training=self.training,
            zoneout=self.zoneout if any(self.zoneout) else (),
            recurrent_dropout=self.recurrent_dropout,
            samples=samples,
            scan_fn=scan_fn,
        )
        if seq.batch_sizes is None:
            out = out.view(len(batch_sizes), seq.batch, out.shape[-1])
            if self.batch_first:
                out = out.transpose(0, 1)
        return out, final

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
