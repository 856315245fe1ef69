"""The modules: ``torch.nn``-compatible stacked layers and single-step cells, and the Transformer
encoder as the parallel alternative."""

from rnnx.modules.cell import GRUCell, LSTMCell, RecurrentCell, RNNCell
from rnnx.modules.dropout import SampleDropout
from rnnx.modules.layer import RecurrentLayer
from rnnx.modules.recurrent import GRU, LSTM, RNN, IndRNN, Recurrent
from rnnx.modules.stream import Stream
from rnnx.modules.transformer import TransformerEncoder

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
    "SampleDropout",
    "Stream",
    "TransformerEncoder",
]
