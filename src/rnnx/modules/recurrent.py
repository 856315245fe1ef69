"""``RNN``, ``LSTM`` and ``GRU``: drop-in replacements for their ``torch.nn`` namesakes."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from rnnx._checks import check_choice
from rnnx.cells import NONLINEARITIES
from rnnx.modules.layer import RecurrentLayer


class RNN(RecurrentLayer):
    r"""Elman RNN, :math:`h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`.

    Same arguments, parameters, state_dict and results as :class:`torch.nn.RNN`; see
    :class:`rnnx.cells.ElmanStep` for the equations and :meth:`RecurrentLayer.forward` for
    shapes. ``backend`` is ``"auto"``, ``"native"`` or ``"reference"``.

    Raises:
        ValueError: ``nonlinearity`` is not ``"tanh"`` or ``"relu"``, and the checks of
            :class:`RecurrentLayer`.
    """

    _torch_class: ClassVar[type[nn.Module]] = nn.RNN
    _config_keys = (*RecurrentLayer._config_keys, "nonlinearity")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
        proj_size: int = 0,
    ) -> None:
        self.nonlinearity = check_choice("RNN", "nonlinearity", nonlinearity, NONLINEARITIES)
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device=device,
            dtype=dtype,
            backend=backend,
        )

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class LSTM(RecurrentLayer):
    r"""Long short-term memory with forget gate and optional projection (``proj_size``).

    Same arguments, parameters, state_dict and results as :class:`torch.nn.LSTM`; see
    :class:`rnnx.cells.LSTMStep` for the equations (gate order ``i, f, g, o``) and
    :meth:`RecurrentLayer.forward` for shapes. ``hx`` is ``(h0, c0)``; with ``proj_size``,
    ``h`` is ``proj_size`` wide and ``c`` is ``hidden_size`` wide.

    Raises:
        ValueError: ``proj_size`` negative or not smaller than ``hidden_size``, and the
            checks of :class:`RecurrentLayer`.
    """

    _torch_class: ClassVar[type[nn.Module]] = nn.LSTM
    _config_keys = (*RecurrentLayer._config_keys, "proj_size")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device=device,
            dtype=dtype,
            backend=backend,
        )


class GRU(RecurrentLayer):
    r"""Gated recurrent unit in the reset-after form of :class:`torch.nn.GRU`.

    Same arguments, parameters, state_dict and results as :class:`torch.nn.GRU`; see
    :class:`rnnx.cells.GRUStep` for the equations (gate order ``r, z, n``) and
    :meth:`RecurrentLayer.forward` for shapes.

    Raises:
        ValueError: ``proj_size`` given (GRU has no projection), and the checks of
            :class:`RecurrentLayer`.
    """

    _torch_class: ClassVar[type[nn.Module]] = nn.GRU

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
        proj_size: int = 0,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device=device,
            dtype=dtype,
            backend=backend,
        )
