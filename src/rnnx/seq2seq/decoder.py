"""The decoder: embeds the previous token, advances a recurrent layer, optionally attends to the
source, and scores the next token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnx._checks import check_bool, check_int, check_probability
from rnnx.modules.dropout import SampleDropout
from rnnx.modules.layer import RecurrentLayer
from rnnx.seq2seq._inputs import State, check_tokens, output_size, to_layer, to_tuple
from rnnx.seq2seq.attention import Attention, Memory
from rnnx.seq2seq.layers import make_layer
from rnnx.seq2seq.vocab import PAD_ID


@dataclass
class DecoderState:
    """The decoder's recurrent state between steps.

    Attributes:
        rnn: the layer's state, ``(h,)`` or ``(h, c)``, each ``(L, N, size)``.
        feed: ``(N, P)`` the previous attentional vector ``h̃_{t-1}`` when input feeding,
            else ``None``.
    """

    rnn: State
    feed: Tensor | None = None

    def index_select(self, rows: Tensor) -> DecoderState:
        """The state of rows ``rows`` (beam search: reorder and repeat hypotheses)."""
        feed = None if self.feed is None else self.feed.index_select(0, rows)
        return DecoderState(tuple(s.index_select(1, rows) for s in self.rnn), feed)


class Decoder(nn.Module):
    r"""A recurrent decoder with optional global attention (Luong et al. 2015).

    At step ``t`` with previous token :math:`y_{t-1}`:

    .. math::

        x_t &= [E[y_{t-1}];\ \tilde h_{t-1}] \quad (\text{input feeding, Luong 2015 s3.3; else } E[y_{t-1}]) \\
        h_t &= \mathrm{RNN}(x_t, h_{t-1}) \\
        c_t, a_t &= \mathrm{Attention}(h_t, \bar h_{1..S}) \\
        \tilde h_t &= \tanh(W_c [c_t; h_t]) \quad (\text{without attention: } \tilde h_t = h_t) \\
        p(y_t \mid y_{<t}, x) &= \mathrm{softmax}(W_o \tilde h_t + b_o)

    With ``tie_embeddings`` :math:`W_o = E` (Press & Wolf 2017; Inan et al. 2017), which needs
    the output width ``P`` to equal the embedding width.

    Args:
        embedding: ``nn.Embedding(V_tgt, E, padding_idx=pad)``.
        rnn: a unidirectional rnnx recurrent layer with ``input_size == E`` (``E + P`` with
            input feeding); ``P = proj_size or hidden_size``.
        attention: an :class:`Attention` with ``query_size == P``, or ``None`` for the
            fixed-context model where the bridged encoder state is all the decoder sees.
        input_feeding: feed ``h̃_{t-1}`` into the next step (needs attention).
        tie_embeddings: share the output projection's weight with the embedding.
        dropout: dropout on the embeddings and on ``h̃_t`` in training.

    Raises:
        TypeError: parts of the wrong type.
        ValueError: sizes that do not fit together, a bidirectional ``rnn``, input feeding
            without attention, tied embeddings of different widths; each names both sizes.
    """

    def __init__(
        self,
        embedding: nn.Embedding,
        rnn: RecurrentLayer,
        *,
        attention: Attention | None = None,
        input_feeding: bool = False,
        tie_embeddings: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(embedding, nn.Embedding):
            raise TypeError(f"Decoder: embedding must be an nn.Embedding; got {type(embedding).__name__}")
        if not isinstance(rnn, RecurrentLayer):
            raise TypeError(f"Decoder: rnn must be an rnnx recurrent layer (e.g. rnnx.GRU); got {type(rnn).__name__}")
        if attention is not None and not isinstance(attention, Attention):
            raise TypeError(
                f"Decoder: attention must be an rnnx.seq2seq.Attention or None; got {type(attention).__name__}"
            )
        if embedding.padding_idx is None:
            raise ValueError("Decoder: embedding must have padding_idx set (the <pad> id, 0 for rnnx Vocab); got None")
        if rnn.bidirectional:
            raise ValueError(
                "Decoder: rnn must be unidirectional (a decoder cannot read the future); got bidirectional=True"
            )
        self.input_feeding = check_bool("Decoder", "input_feeding", input_feeding)
        self.tie_embeddings = check_bool("Decoder", "tie_embeddings", tie_embeddings)
        width = output_size(rnn)
        embed = embedding.embedding_dim
        if input_feeding and attention is None:
            raise ValueError("Decoder: input_feeding=True needs attention (it feeds the attentional vector h̃_{t-1})")
        expected = embed + (width if input_feeding else 0)
        if rnn.input_size != expected:
            how = f"embedding_dim {embed} + output width {width} (input feeding)" if input_feeding else "embedding_dim"
            raise ValueError(f"Decoder: rnn.input_size must be {expected} ({how}); got {rnn.input_size}")
        if attention is not None and attention.query_size != width:
            raise ValueError(
                f"Decoder: attention.query_size must equal the rnn's output width {width}; got {attention.query_size}"
            )
        if tie_embeddings and width != embed:
            raise ValueError(
                f"Decoder: tie_embeddings needs the rnn's output width ({width}) equal to embedding_dim ({embed}); "
                f"set hidden_size (or proj_size) to {embed} or untie"
            )
        self.embedding = embedding
        self.rnn = rnn
        self.attention = attention
        # Keyed by sample (rnnx.sample_offset): a data-parallel shard draws one process's masks.
        self.dropout = SampleDropout(check_probability("Decoder", "dropout", dropout))
        if attention is not None:
            self.combine = nn.Linear(attention.memory_size + width, width, bias=False)  # W_c
        if tie_embeddings:
            self.output_bias = nn.Parameter(torch.zeros(embedding.num_embeddings))
        else:
            self.output = nn.Linear(width, embedding.num_embeddings)

    @classmethod
    def build(
        cls,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        *,
        cell: str = "gru",
        num_layers: int = 1,
        attention: str | None = None,
        memory_size: int | None = None,
        attention_size: int | None = None,
        input_feeding: bool = False,
        tie_embeddings: bool = False,
        dropout: float = 0.0,
        pad_id: int = PAD_ID,
        **layer_options: Any,
    ) -> Decoder:
        """A decoder from sizes and names: ``attention`` is ``"dot"``, ``"general"``,
        ``"additive"`` or ``None``; ``memory_size`` is the encoder's output width (needed with
        attention). ``layer_options`` go to the layer.

        Raises:
            ValueError: ``attention`` without ``memory_size``; others as in the constructor.
        """
        check_int("Decoder.build", "vocab_size", vocab_size, minimum=1)
        check_int("Decoder.build", "embedding_dim", embedding_dim, minimum=1)
        embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        width = layer_options.get("proj_size") or hidden_size
        between = dropout if num_layers > 1 else 0.0
        rnn = make_layer(
            "Decoder.build",
            cell,
            embedding_dim + (width if input_feeding else 0),
            hidden_size,
            num_layers=num_layers,
            dropout=between,
            **layer_options,
        )
        attend = None
        if attention is not None:
            if memory_size is None:
                raise ValueError("Decoder.build: attention needs memory_size (the encoder's output width); got None")
            attend = Attention(attention, width, memory_size, attention_size=attention_size)
        return cls(
            embedding,
            rnn,
            attention=attend,
            input_feeding=input_feeding,
            tie_embeddings=tie_embeddings,
            dropout=dropout,
        )

    @property
    def vocab_size(self) -> int:
        return self.embedding.num_embeddings

    @property
    def output_size(self) -> int:
        """``P``, the width of ``h_t`` and ``h̃_t``."""
        return output_size(self.rnn)

    # -- state and memory --------------------------------------------------------------------

    def initial_state(self, rnn_state: State) -> DecoderState:
        """Wrap a bridged layer state (each ``(L, N, size)``), adding ``h̃_0 = 0`` when input feeding."""
        feed = None
        if self.input_feeding:
            h = rnn_state[0]
            feed = h.new_zeros(h.shape[1], self.output_size)
        return DecoderState(rnn_state, feed)

    def prepare_memory(self, values: Tensor, mask: Tensor) -> Memory | None:
        """The attention memory for encoder outputs ``(N, S, M)`` and mask ``(N, S)``; ``None``
        without attention."""
        return None if self.attention is None else self.attention.prepare(values, mask)

    # -- decoding ----------------------------------------------------------------------------

    def step(
        self, tokens: Tensor, state: DecoderState, memory: Memory | None
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One step: ``(N,)`` previous tokens -> ``(N, V)`` logits, the new state and the
        attention weights ``(N, S)`` (``None`` without attention)."""
        logits, state, weights = self._run(tokens.unsqueeze(1), state, memory)
        return logits.squeeze(1), state, None if weights is None else weights.squeeze(1)

    def forward(
        self, tokens: Tensor, state: DecoderState, memory: Memory | None
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """Decode a whole given input (teacher forcing).

        Args:
            tokens: ``(N, T)`` decoder inputs (``<sos>`` then the target shifted right).
            state: from :meth:`initial_state`.
            memory: from :meth:`prepare_memory`.

        Returns:
            ``(logits, state, weights)``: ``(N, T, V)``, the state after step ``T`` and the
            attention weights ``(N, T, S)`` (``None`` without attention). Without input
            feeding the recurrent layer runs over all ``T`` steps in one call; with it, step
            by step, since each step needs the previous one's ``h̃``.
        """
        check_tokens("Decoder", "tokens", tokens, vocab_size=self.vocab_size)
        if not self.input_feeding:
            return self._run(tokens, state, memory)
        logits, weights = [], []
        for t in range(tokens.shape[1]):
            step_logits, state, step_weights = self._run(tokens[:, t : t + 1], state, memory)
            logits.append(step_logits)
            if step_weights is not None:
                weights.append(step_weights)
        return torch.cat(logits, 1), state, torch.cat(weights, 1) if weights else None

    def _run(
        self, tokens: Tensor, state: DecoderState, memory: Memory | None
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """``(N, T)`` tokens through embedding, layer, attention and output; with input
        feeding ``T`` must be 1."""
        x = self.dropout(self.embedding(tokens))  # (N, T, E)
        if state.feed is not None:
            x = torch.cat([x, state.feed.unsqueeze(1)], dim=-1)  # (N, 1, E + P)
        if not self.rnn.batch_first:
            x = x.transpose(0, 1)
        out, rnn_state = self.rnn(x, to_layer(self.rnn, state.rnn))
        if not self.rnn.batch_first:
            out = out.transpose(0, 1)  # (N, T, P)
        weights = None
        if self.attention is not None:
            if memory is None:
                raise ValueError("Decoder: this decoder has attention, so memory must be given; got None")
            context, weights = self.attention(out, memory)  # (N, T, M), (N, T, S)
            out = torch.tanh(self.combine(torch.cat([context, out], dim=-1)))  # h̃_t
        feed = out[:, -1] if self.input_feeding else None
        out = self.dropout(out)
        # Tied: W_o is the embedding matrix itself (Press & Wolf 2017).
        logits = F.linear(out, self.embedding.weight, self.output_bias) if self.tie_embeddings else self.output(out)
        return logits, DecoderState(to_tuple(rnn_state), feed), weights
