"""Encoder-decoder models (seq2seq): context vector, attention, teacher forcing, greedy and
beam search, the loss, ``translate``, save and load. See ``docs/seq2seq.md``.

The generated tasks, training and metrics are the lab's (:mod:`rnnx.lab.tasks.translation`,
:func:`rnnx.lab.train.train`, :mod:`rnnx.lab.metrics`). Their old names here (``get_task``,
``Task``, ``Batch``, ``make_batches``, ``evaluate``, ``TrainConfig``, ``train`` and the modules
``tasks``, ``metrics``, ``training``) still work until rnnx 0.3, with a ``DeprecationWarning``.
"""

from typing import Any

from rnnx.seq2seq.attention import Attention, Memory
from rnnx.seq2seq.bridge import Bridge, CopyBridge, LinearBridge, ZeroBridge, make_bridge
from rnnx.seq2seq.decoder import Decoder, DecoderState
from rnnx.seq2seq.encoder import Encoder, EncoderOutput
from rnnx.seq2seq.io import load, save
from rnnx.seq2seq.model import Seq2Seq, Seq2SeqConfig, Seq2SeqOutput, sequence_loss
from rnnx.seq2seq.search import Generation, Stepper, beam_search, greedy_search, length_penalty
from rnnx.seq2seq.translate import translate
from rnnx.seq2seq.vocab import EOS, EOS_ID, PAD, PAD_ID, SOS, SOS_ID, UNK, UNK_ID, Vocab


def __getattr__(name: str) -> Any:
    """The old names of what moved to the lab, with a ``DeprecationWarning`` (rnnx.seq2seq._moved);
    looked up only when used, so importing rnnx.seq2seq neither warns nor imports the lab."""
    from rnnx.seq2seq._moved import attribute

    return attribute(__name__, name)


__all__ = [
    "EOS",
    "EOS_ID",
    "PAD",
    "PAD_ID",
    "SOS",
    "SOS_ID",
    "UNK",
    "UNK_ID",
    "Attention",
    "Bridge",
    "CopyBridge",
    "Decoder",
    "DecoderState",
    "Encoder",
    "EncoderOutput",
    "Generation",
    "LinearBridge",
    "Memory",
    "Seq2Seq",
    "Seq2SeqConfig",
    "Seq2SeqOutput",
    "Stepper",
    "Vocab",
    "ZeroBridge",
    "beam_search",
    "greedy_search",
    "length_penalty",
    "load",
    "make_bridge",
    "save",
    "sequence_loss",
    "translate",
]
