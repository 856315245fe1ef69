"""The ``torch.nn``-compatible modules: stacked layers and single-step cells."""

from rnnx.modules.cell import GRUCell, LSTMCell, RecurrentCell, RNNCell
from rnnx.modules.layer import RecurrentLayer
from rnnx.modules.recurrent import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell", "RecurrentCell", "RecurrentLayer"]
