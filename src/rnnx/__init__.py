"""rnnx: recurrent neural networks, first-class in PyTorch.

``rnnx.RNN``, ``rnnx.LSTM`` and ``rnnx.GRU`` (and their ``*Cell`` single steps) take the
arguments, inputs and state_dicts of their ``torch.nn`` namesakes and return the same
numbers. Each cell is written once from its equations (:mod:`rnnx.cells`) and run by one
machinery (:mod:`rnnx.recurrence`); ``backend="native"`` runs PyTorch's fused kernels.
"""

from rnnx import cells, errors, seq2seq, serialization
from rnnx.backends import BACKENDS
from rnnx.inspection import gradient_flow, trace
from rnnx.modules import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    IndRNN,
    LSTMCell,
    Recurrent,
    RecurrentCell,
    RecurrentLayer,
    RNNCell,
    SampleDropout,
    Stream,
    TransformerEncoder,
)
from rnnx.quantize import quantize_dynamic
from rnnx.recurrence import sample_offset
from rnnx.serialization import safe_globals

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "IndRNN",
    "LSTMCell",
    "RNNCell",
    "Recurrent",
    "RecurrentCell",
    "RecurrentLayer",
    "SampleDropout",
    "Stream",
    "TransformerEncoder",
    "__version__",
    "cells",
    "errors",
    "gradient_flow",
    "quantize_dynamic",
    "safe_globals",
    "sample_offset",
    "seq2seq",
    "serialization",
    "trace",
]
