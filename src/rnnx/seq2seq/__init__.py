"""Encoder-decoder models (seq2seq): context vector, attention, teacher forcing, greedy and
beam search, generated tasks and metrics. See ``docs/seq2seq.md``."""

from rnnx.seq2seq import tasks
from rnnx.seq2seq.attention import Attention, Memory
from rnnx.seq2seq.bridge import Bridge, CopyBridge, LinearBridge, ZeroBridge, make_bridge
from rnnx.seq2seq.decoder import Decoder, DecoderState
from rnnx.seq2seq.encoder import Encoder, EncoderOutput
from rnnx.seq2seq.io import load, save
from rnnx.seq2seq.metrics import evaluate
from rnnx.seq2seq.model import Seq2Seq, Seq2SeqConfig, Seq2SeqOutput
from rnnx.seq2seq.search import Generation, Stepper, beam_search, greedy_search, length_penalty
from rnnx.seq2seq.tasks import Batch, Task, get_task, make_batches
from rnnx.seq2seq.training import TrainConfig, sequence_loss, train
from rnnx.seq2seq.translate import translate
from rnnx.seq2seq.vocab import EOS, EOS_ID, PAD, PAD_ID, SOS, SOS_ID, UNK, UNK_ID, Vocab

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
    "Batch",
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
    "Task",
    "TrainConfig",
    "Vocab",
    "ZeroBridge",
    "beam_search",
    "evaluate",
    "get_task",
    "greedy_search",
    "length_penalty",
    "load",
    "make_batches",
    "make_bridge",
    "save",
    "sequence_loss",
    "tasks",
    "train",
    "translate",
]
