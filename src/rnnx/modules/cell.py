"""``RNNCell``, ``LSTMCell`` and ``GRUCell``: one time step, drop-in for ``torch.nn``."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from rnnx._checks import check_bool, check_choice, check_int, check_matches, check_shape, check_tensor
from rnnx.backends import check_backend, native_cell, resolve_backend
from rnnx.cells import NONLINEARITIES, DirectionWeights
from rnnx.modules.compat import TorchCompatible
from rnnx.modules.inputs import check_features, unpack_state
from rnnx.modules.layer import CELLS


class RecurrentCell(TorchCompatible):
    """One step of a recurrent cell with its own parameters.

    Parameters ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``, ``bias_ih (G*H,)`` and
    ``bias_hh (G*H,)`` (``None`` when ``bias=False``) are named, ordered and initialised as
    in ``torch.nn``. The step itself is the same :class:`rnnx.cells.CellStep` that the
    layers run, so stepping a cell by hand over a sequence gives the layer's result.
    """

    _torch_class: ClassVar[type[nn.Module]]
    _config_keys: ClassVar[tuple[str, ...]] = ("input_size", "hidden_size", "bias")

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.mode = mode
        self.input_size = check_int(name, "input_size", input_size, minimum=1)
        self.hidden_size = check_int(name, "hidden_size", hidden_size, minimum=1)
        self.bias = check_bool(name, "bias", bias)
        self.backend = check_backend(name, backend)
        self.cell = CELLS[mode]()
        gates = self.cell.num_chunks * hidden_size
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(gates, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(gates, hidden_size, **factory))
        self.bias_ih: nn.Parameter | None
        self.bias_hh: nn.Parameter | None
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates, **factory))
            self.bias_hh = nn.Parameter(torch.empty(gates, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def native_unsupported(self) -> str | None:
        """Why the native kernel cannot run this cell, or ``None`` when it can."""
        return None

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.backend != "auto":
            s += f", backend={self.backend!r}"
        return s

    def forward(self, input: Tensor, hx: Any = None) -> Any:
        """Advance the state by one step.

        Args:
            input: ``(B, I)``, or unbatched ``(I,)``.
            hx: ``h`` of shape ``(B, H)`` (``(H,)`` unbatched), ``(h, c)`` for LSTMCell, or
                ``None`` for zeros.

        Returns:
            ``h'`` (``(h', c')`` for LSTMCell), each ``(B, H)`` or ``(H,)``.

        Raises:
            TypeError, ValueError: on an input or state that does not fit the cell.
        """
        name = type(self).__name__
        x = check_tensor(name, "input", input)
        if x.dim() not in (1, 2):
            raise ValueError(
                f"{name}: input must be 2-D (B, I) or 1-D unbatched (I,); got shape {tuple(x.shape)}"
            )
        check_features(name, "input", x, self.input_size)
        check_matches(
            name,
            "input",
            x,
            dtype=self.weight_ih.dtype,
            device=self.weight_ih.device,
            what="the parameter weight_ih",
        )
        is_batched = x.dim() == 2
        if not is_batched:
            x = x.unsqueeze(0)
        state = self._initial_state(hx, x, is_batched)
        w = DirectionWeights(self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if resolve_backend(name, self.backend, self.native_unsupported()) == "native":
            new = native_cell(self.mode, x, state, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh)
        else:
            new = self.cell.step(self.cell.project_input(x, w), state, w)
        if not is_batched:
            new = tuple(s.squeeze(0) for s in new)
        return new[0] if len(new) == 1 else new

    def _initial_state(self, hx: Any, x: Tensor, is_batched: bool) -> tuple[Tensor, ...]:
        name = type(self).__name__
        state_names = self.cell.state_names
        if hx is None:
            return tuple(x.new_zeros(x.shape[0], self.hidden_size) for _ in state_names)
        given = unpack_state(name, hx, state_names)
        expected = (x.shape[0], self.hidden_size) if is_batched else (self.hidden_size,)
        meaning = "(batch, hidden_size)" if is_batched else "(hidden_size,) for unbatched input"
        state = []
        for state_name, value in zip(state_names, given, strict=True):
            arg = f"hx ({state_name})"
            t = check_tensor(name, arg, value)
            check_shape(name, arg, t, expected, meaning)
            check_matches(name, arg, t, dtype=x.dtype, device=x.device, what="input")
            state.append(t if is_batched else t.unsqueeze(0))
        return tuple(state)


class RNNCell(RecurrentCell):
    r"""Elman cell, :math:`h' = \phi(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`, as :class:`torch.nn.RNNCell`.

    Raises:
        ValueError: ``nonlinearity`` is not ``"tanh"`` or ``"relu"``.
    """

    _torch_class: ClassVar[type[nn.Module]] = nn.RNNCell
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
    ) -> None:
        self.nonlinearity = check_choice("RNNCell", "nonlinearity", nonlinearity, NONLINEARITIES)
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, bias, device, dtype, backend=backend)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class LSTMCell(RecurrentCell):
    """LSTM cell (gates ``i, f, g, o``) as :class:`torch.nn.LSTMCell`; see :class:`rnnx.cells.LSTMStep`."""

    _torch_class: ClassVar[type[nn.Module]] = nn.LSTMCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
    ) -> None:
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype, backend=backend)


class GRUCell(RecurrentCell):
    """GRU cell (gates ``r, z, n``) as :class:`torch.nn.GRUCell`; see :class:`rnnx.cells.GRUStep`."""

    _torch_class: ClassVar[type[nn.Module]] = nn.GRUCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
    ) -> None:
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype, backend=backend)
