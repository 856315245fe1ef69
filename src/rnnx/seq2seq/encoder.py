"""The encoder: token embeddings read by a recurrent layer; its final state is the context vector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnx._checks import check_bool, check_int, check_probability
from rnnx.modules.dropout import SampleDropout
from rnnx.modules.layer import RecurrentLayer
from rnnx.seq2seq._inputs import State, check_lengths, check_tokens, output_size, to_tuple
from rnnx.seq2seq.layers import make_layer
from rnnx.seq2seq.vocab import PAD_ID


@dataclass
class EncoderOutput:
    """What the encoder hands the decoder.

    Attributes:
        outputs: ``(B, S, D*P)`` the top layer's output at every source step, zeros at pads
            (``D`` = 2 if bidirectional, ``P`` = ``proj_size or hidden_size``).
        lengths: ``(B,)`` int64 source lengths (on the CPU).
        mask: ``(B, S)`` bool, true at real tokens, false at pads.
        state: final state per layer and direction, each ``(L*D, B, size)``: ``(h,)``, or
            ``(h, c)`` for LSTM; taken at each sequence's own last token.
    """

    outputs: Tensor
    lengths: Tensor
    mask: Tensor
    state: State


class Encoder(nn.Module):
    """Embeds source tokens and runs a recurrent layer over them (Sutskever et al. 2014;
    Cho et al. 2014).

    ``x_s = E[src_s]``; ``(h̄_1 .. h̄_S), state = RNN(x_1 .. x_S)``. Padded batches are packed
    (``enforce_sorted=False``) so pads never enter the recurrence and each sequence's final
    state is taken at its own last token.

    With ``reverse_source=True`` the recurrence reads each source backwards,
    ``RNN(x_S .. x_1)`` over its own length (Sutskever et al. 2014, section 3.3): the first
    source tokens, which the first target tokens usually depend on, are then read last, right
    before the context vector is taken. ``outputs`` stay in source order (``h̄_s`` is still the
    output at token ``s``), so attention weights line up with the source as written; only the
    order of reading and the final state change. The model reverses new sources itself at
    inference, so callers never reverse by hand.

    Args:
        embedding: ``nn.Embedding(V_src, E, padding_idx=pad)``; ``padding_idx`` must be set.
        rnn: any rnnx recurrent layer (``rnnx.RNN/LSTM/GRU/IndRNN/Recurrent``, any layers,
            directions and variants) with ``input_size == E``.
        dropout: dropout on the embeddings in training.
        reverse_source: read each source from its last token to its first.

    Raises:
        TypeError: ``embedding`` or ``rnn`` of the wrong type.
        ValueError: ``embedding`` without ``padding_idx``, or ``rnn.input_size != E``.
    """

    def __init__(
        self, embedding: nn.Embedding, rnn: RecurrentLayer, *, dropout: float = 0.0, reverse_source: bool = False
    ) -> None:
        super().__init__()
        if not isinstance(embedding, nn.Embedding):
            raise TypeError(f"Encoder: embedding must be an nn.Embedding; got {type(embedding).__name__}")
        if not isinstance(rnn, RecurrentLayer):
            raise TypeError(f"Encoder: rnn must be an rnnx recurrent layer (e.g. rnnx.GRU); got {type(rnn).__name__}")
        if embedding.padding_idx is None:
            raise ValueError("Encoder: embedding must have padding_idx set (the <pad> id, 0 for rnnx Vocab); got None")
        if rnn.input_size != embedding.embedding_dim:
            raise ValueError(
                f"Encoder: rnn.input_size must equal embedding_dim={embedding.embedding_dim}; got {rnn.input_size}"
            )
        self.embedding = embedding
        self.rnn = rnn
        # Keyed by sample (rnnx.sample_offset): a data-parallel shard draws one process's masks.
        self.dropout = SampleDropout(check_probability("Encoder", "dropout", dropout))
        self.reverse_source = check_bool("Encoder", "reverse_source", reverse_source)

    @classmethod
    def build(
        cls,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        *,
        cell: str = "gru",
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        reverse_source: bool = False,
        pad_id: int = PAD_ID,
        **layer_options: Any,
    ) -> Encoder:
        """``Encoder(nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id),
        LAYERS[cell](embedding_dim, hidden_size, num_layers, bidirectional=...), dropout=dropout)``.

        ``layer_options`` go to the layer (e.g. ``layer_norm=True``, ``proj_size=``);
        ``dropout`` is on the embeddings and, with several layers, between them.
        """
        check_int("Encoder.build", "vocab_size", vocab_size, minimum=1)
        check_int("Encoder.build", "embedding_dim", embedding_dim, minimum=1)
        embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        between = dropout if num_layers > 1 else 0.0
        rnn = make_layer(
            "Encoder.build",
            cell,
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=between,
            **layer_options,
        )
        return cls(embedding, rnn, dropout=dropout, reverse_source=reverse_source)

    def extra_repr(self) -> str:
        return "reverse_source=True" if self.reverse_source else ""

    @property
    def vocab_size(self) -> int:
        return self.embedding.num_embeddings

    @property
    def pad_id(self) -> int:
        assert self.embedding.padding_idx is not None
        return self.embedding.padding_idx

    @property
    def output_size(self) -> int:
        """Width of :attr:`EncoderOutput.outputs`: ``D * (proj_size or hidden_size)``."""
        return output_size(self.rnn)

    def forward(self, src: Tensor, src_lengths: Tensor | list[int]) -> EncoderOutput:
        """Encode a padded batch.

        Args:
            src: ``(B, S)`` int64 token ids, padded after each sequence's length.
            src_lengths: ``(B,)`` lengths, each in ``[1, S]``.

        Returns:
            :class:`EncoderOutput` with ``outputs (B, S, D*P)``, ``lengths``, ``mask (B, S)``
            and the final ``state``.

        Raises:
            TypeError, ValueError: ``src`` not a 2-D integer tensor of ids in the vocabulary,
                or lengths that do not match it (empty sequences included), each named.
        """
        src = check_tokens("Encoder", "src", src, vocab_size=self.vocab_size)
        batch, steps = src.shape
        lengths = check_lengths("Encoder", "src_lengths", src_lengths, batch=batch, steps=steps, tokens="src")
        positions = torch.arange(steps, device=src.device)
        mask = positions[None, :] < lengths.to(src.device)[:, None]
        order = reversed_order(positions, lengths.to(src.device), mask) if self.reverse_source else None
        x = self.dropout(self.embedding(src if order is None else src.gather(1, order)))  # (B, S, E)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)  # (B, S, D*P)
        if order is not None:  # the output read at token s goes back to position s
            outputs = outputs.gather(1, order[:, :, None].expand_as(outputs))
        return EncoderOutput(outputs, lengths, mask, to_tuple(state))


def reversed_order(positions: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
    """``(B, S)`` indices that reverse each row's first ``lengths[b]`` positions and leave its
    pads in place: ``L - 1 - s`` for ``s < L``, ``s`` after. The permutation is its own inverse,
    so the same indices put outputs read backwards back in source order."""
    return torch.where(mask, lengths[:, None] - 1 - positions[None, :], positions[None, :])
