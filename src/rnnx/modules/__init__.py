"""The ``torch.nn``-compatible modules: stacked layers and single-step cells."""

from rnnx.modules.cell import GRUCell, LSTMCell, RecurrentCell, RNNCell
from rnnx.modules.layer import RecurrentLayer
from rnnx.modules.recurrent import GRU, LSTM, RNN, IndRNN, Recurrent

__all__ = [
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
]
