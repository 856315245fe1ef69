"""Loading whole pickled rnnx modules with ``torch.load(..., weights_only=True)``.

``torch.save(model, path)`` pickles the module object; ``torch.load(path, weights_only=True)``
(the default since PyTorch 2.6) only rebuilds classes on its allow-list. A pickled
``rnnx.LSTM`` names not only ``rnnx.LSTM`` but also the parts it is made of (its cell's
:class:`~rnnx.cells.LSTMStep`, ...). So that allowing the class you saved is enough, as it is
for ``torch.nn.LSTM``, importing rnnx registers those **parts** with torch
(:data:`PART_CLASSES`); the **models** (:data:`MODEL_CLASSES`) stay yours to allow::

    torch.save(model, "model.pt")                      # model = rnnx.LSTM(...)
    with torch.serialization.safe_globals([rnnx.LSTM]):
        model = torch.load("model.pt", weights_only=True)

A model of your own holding rnnx layers and ``torch.nn`` layers is allowed the same way, with
its classes listed (as for ``torch.nn``'s)::

    with torch.serialization.safe_globals([MyModel, rnnx.LSTM, nn.Embedding, nn.Linear, nn.Dropout]):
        model = torch.load("model.pt", weights_only=True)

Or, in one call, every class a pickled rnnx module can name, ``torch.nn``'s included
(:func:`safe_globals`)::

    with torch.serialization.safe_globals(rnnx.safe_globals()):
        model = torch.load("model.pt", weights_only=True)

Why this is safe. An allowed class lets a file do three things with it: create an instance
without ``__init__`` (``cls.__new__``), call the class with arguments taken from the file, and
set an instance's attributes (``__setstate__``, else ``__dict__.update``). For every class
registered here, none of these runs code that the file chooses: the constructors only check
numbers and strings and allocate tensors, ``nn.Module.__setstate__`` only restores the attribute
dict, and :class:`~rnnx.seq2seq.Vocab` re-checks its tokens. Functions are never registered (a
file may call any allowed callable). ``weights_only`` guards against running code, not against
a file that builds a wrong or very large model: load only models from a source you trust to
give a sane one.

Why rnnx does not register the ``torch.nn`` classes it uses (``Linear``, ``Dropout``,
``LayerNorm``, ``ModuleList``, ``Embedding``, inside :class:`~rnnx.TransformerEncoder` and
the seq2seq models): allowing them would change what every ``torch.load`` in your process
accepts, files that have nothing to do with rnnx included. That is your decision; list them,
or use :func:`safe_globals`. rnnx registers only rnnx's own parts. If you clear torch's
allow-list (``torch.serialization.clear_safe_globals()``), use :func:`safe_globals`.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnx.backends.select import BackendChoice
from rnnx.cells import ElmanStep, GRUStep, IndRNNStep, LSTMStep
from rnnx.modules import GRU, LSTM, RNN, GRUCell, IndRNN, LSTMCell, RecurrentCell, RecurrentLayer, RNNCell
from rnnx.modules.attention import MultiHeadSelfAttention
from rnnx.modules.dropout import SampleDropout
from rnnx.modules.positions import LearnedPositions, SinusoidalPositions
from rnnx.modules.transformer import TransformerBlock, TransformerEncoder
from rnnx.seq2seq.attention import Attention
from rnnx.seq2seq.bridge import CopyBridge, LinearBridge, Shapes, ZeroBridge
from rnnx.seq2seq.decoder import Decoder
from rnnx.seq2seq.encoder import Encoder
from rnnx.seq2seq.model import Seq2Seq
from rnnx.seq2seq.vocab import Vocab

__all__ = ["MODEL_CLASSES", "PART_CLASSES", "TORCH_CLASSES", "register_parts", "safe_globals"]

#: The modules a user builds and saves; allowed by the user (``rnnx.Recurrent`` is
#: :class:`~rnnx.RecurrentLayer`).
MODEL_CLASSES: tuple[type, ...] = (
    RNN,
    LSTM,
    GRU,
    IndRNN,
    RecurrentLayer,
    RNNCell,
    LSTMCell,
    GRUCell,
    RecurrentCell,
    TransformerEncoder,
    Seq2Seq,
    Encoder,
    Decoder,
    Attention,
    CopyBridge,
    LinearBridge,
    ZeroBridge,
)

#: rnnx's own classes that occur only as parts of a model's pickle: the cells' equations, the
#: record of the backend that ran the last call, the Transformer's blocks, a bridge's state
#: layout, a vocabulary. Registered with torch when rnnx is imported.
PART_CLASSES: tuple[type, ...] = (
    BackendChoice,
    ElmanStep,
    GRUStep,
    IndRNNStep,
    LSTMStep,
    TransformerBlock,
    MultiHeadSelfAttention,
    SinusoidalPositions,
    LearnedPositions,
    SampleDropout,
    Shapes,
    Vocab,
)

#: The ``torch.nn`` classes inside rnnx's models (the Transformer and the seq2seq models); not
#: registered by rnnx (see the module docstring).
TORCH_CLASSES: tuple[type, ...] = (nn.Dropout, nn.Embedding, nn.LayerNorm, nn.Linear, nn.ModuleList)


def safe_globals() -> list[type]:
    """Every class a pickled rnnx module can name, for ``torch.serialization.safe_globals``
    or ``add_safe_globals``: :data:`MODEL_CLASSES`, :data:`PART_CLASSES` and
    :data:`TORCH_CLASSES`.

    Returns:
        a new list (classes only, no functions), in that order.
    """
    return [*MODEL_CLASSES, *PART_CLASSES, *TORCH_CLASSES]


def register_parts() -> None:
    """Add :data:`PART_CLASSES` to torch's allow-list (``torch.serialization.add_safe_globals``).

    Called when rnnx is imported; calling it again changes nothing.
    """
    torch.serialization.add_safe_globals(list(PART_CLASSES))


register_parts()
