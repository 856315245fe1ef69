"""``RNN``, ``LSTM`` and ``GRU`` (drop-in replacements for their ``torch.nn`` namesakes, plus
the variants ``torch.nn`` lacks), ``IndRNN``, and ``Recurrent`` for a cell of your own."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from typing_extensions import Unpack

from rnnx._checks import check_choice, check_nonlinearity
from rnnx.cells import NONLINEARITIES, ElmanStep, GRUStep, IndRNNStep, LSTMStep
from rnnx.modules.layer import RecurrentLayer
from rnnx.modules.options import (
    LSTM_VARIANTS,
    VARIANTS,
    LSTMVariantArgs,
    RegulariserArgs,
    VariantArgs,
    read_variants,
)

Recurrent = RecurrentLayer
"""Run any :class:`rnnx.cells.CellStep` with every layer option; see :class:`RecurrentLayer`."""

_VARIANTS_DOC = """
    Variants (keyword-only, all off by default; off is exactly ``torch.nn``;
    :mod:`rnnx.modules.options`):

    - ``backend``: ``"auto"``, ``"native"``, ``"fused"`` or ``"reference"``.
    - ``layer_norm``: layer-normalised products (Ba, Kiros & Hinton 2016), see the cell.
    - ``zoneout``: keep each state unit's previous value with probability ``p`` (Krueger et
      al. 2016); a number or ``(p_h, p_c)`` for LSTM.
    - ``recurrent_dropout``: variational dropout on ``h`` entering ``W_hh`` (Gal & Ghahramani 2016).
    - ``weight_drop``: DropConnect on ``W_hh`` per forward call (Merity et al. 2017).
"""


class RNN(RecurrentLayer):
    r"""Elman RNN, :math:`h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`.

    Same arguments, parameters, state_dict and results as :class:`torch.nn.RNN`; see
    :class:`rnnx.cells.ElmanStep` for the equations and :meth:`RecurrentLayer.forward` for
    shapes. ``backend`` is ``"auto"``, ``"native"`` or ``"reference"``.
    """

    __doc__ = (__doc__ or "") + _VARIANTS_DOC
    _torch_class: ClassVar[type[nn.Module] | None] = nn.RNN
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
        proj_size: int = 0,
        **variants: Unpack[VariantArgs],
    ) -> None:
        v = read_variants("RNN", variants, takes=VARIANTS, state_names=("h",))
        self.nonlinearity = check_nonlinearity("RNN", nonlinearity, NONLINEARITIES)
        super().__init__(
            ElmanStep(nonlinearity, layer_norm=v.layer_norm),
            input_size,
            hidden_size,
            num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            proj_size=proj_size,
            device=device,
            dtype=dtype,
            **v.regularisers(),
        )

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class LSTM(RecurrentLayer):
    r"""Long short-term memory with forget gate and optional projection (``proj_size``).

    Same arguments, parameters, state_dict and results as :class:`torch.nn.LSTM`; see
    :class:`rnnx.cells.LSTMStep` for the equations (gate order ``i, f, g, o``) and
    :meth:`RecurrentLayer.forward` for shapes. ``hx`` is ``(h0, c0)``; with ``proj_size``,
    ``h`` is ``proj_size`` wide and ``c`` is ``hidden_size`` wide. LSTM also takes
    ``peephole`` (Gers & Schmidhuber 2000) and ``forget_bias`` (Jozefowicz et al. 2015).
    """

    __doc__ = (__doc__ or "") + _VARIANTS_DOC
    _torch_class: ClassVar[type[nn.Module] | None] = nn.LSTM
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
        **variants: Unpack[LSTMVariantArgs],
    ) -> None:
        v = read_variants("LSTM", variants, takes=LSTM_VARIANTS, state_names=("h", "c"), bias=bias)
        super().__init__(
            LSTMStep(layer_norm=v.layer_norm, peephole=v.peephole, forget_bias=v.forget_bias),
            input_size,
            hidden_size,
            num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            proj_size=proj_size,
            device=device,
            dtype=dtype,
            **v.regularisers(),
        )


class GRU(RecurrentLayer):
    r"""Gated recurrent unit in the reset-after form of :class:`torch.nn.GRU`.

    Same arguments, parameters, state_dict and results as :class:`torch.nn.GRU`; see
    :class:`rnnx.cells.GRUStep` for the equations (gate order ``r, z, n``) and
    :meth:`RecurrentLayer.forward` for shapes.
    """

    __doc__ = (__doc__ or "") + _VARIANTS_DOC
    _torch_class: ClassVar[type[nn.Module] | None] = nn.GRU

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
        proj_size: int = 0,
        **variants: Unpack[VariantArgs],
    ) -> None:
        v = read_variants("GRU", variants, takes=VARIANTS, state_names=("h",))
        super().__init__(
            GRUStep(layer_norm=v.layer_norm),
            input_size,
            hidden_size,
            num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            proj_size=proj_size,
            device=device,
            dtype=dtype,
            **v.regularisers(),
        )


class IndRNN(RecurrentLayer):
    r"""Independently recurrent network (Li et al. 2018).

    :math:`h' = \phi(W_{ih} x + b_{ih} + u \odot h + b_{hh})`.

    ``weight_hh_l{k}`` is the vector ``u`` of shape ``(hidden_size,)``; see
    :class:`rnnx.cells.IndRNNStep`. Takes every layer option of :class:`RecurrentLayer`
    (layers, directions, packing, dropout, zoneout, recurrent dropout, weight drop). No
    native kernel exists, so ``backend="auto"`` runs the reference path.
    """

    _torch_class: ClassVar[type[nn.Module] | None] = None

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        nonlinearity: str = "relu",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **regularisers: Unpack[RegulariserArgs],
    ) -> None:
        self.nonlinearity = check_choice("IndRNN", "nonlinearity", nonlinearity, NONLINEARITIES)
        super().__init__(
            IndRNNStep(nonlinearity),
            input_size,
            hidden_size,
            num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            device=device,
            dtype=dtype,
            **regularisers,
        )
