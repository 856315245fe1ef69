"""The encoder-decoder model: encoder, bridge, decoder; training forward, its loss and generation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnx._checks import check_choice, check_int, check_probability
from rnnx.seq2seq._inputs import check_tokens
from rnnx.seq2seq.attention import Memory
from rnnx.seq2seq.bridge import Bridge, make_bridge
from rnnx.seq2seq.decoder import Decoder, DecoderState
from rnnx.seq2seq.encoder import Encoder
from rnnx.seq2seq.search import Generation, beam_search, check_options, greedy_search
from rnnx.seq2seq.vocab import EOS_ID, SOS_ID, Vocab

STRATEGIES: tuple[str, ...] = ("greedy", "beam")


@dataclass
class Seq2SeqOutput:
    """Training-time output of :meth:`Seq2Seq.forward`.

    Attributes:
        logits: ``(B, T-1, V)``; ``logits[:, t]`` scores ``tgt[:, t+1]``.
        attention: ``(B, T-1, S)`` attention weights, or ``None`` without attention.
    """

    logits: Tensor
    attention: Tensor | None


def sequence_loss(logits: Tensor, gold: Tensor, *, pad_id: int) -> Tensor:
    """Mean cross-entropy over the non-pad gold tokens.

    Args:
        logits: ``(B, T, V)`` (a :class:`Seq2SeqOutput`'s). gold: ``(B, T)`` ids; positions equal to
            ``pad_id`` are ignored (``ignore_index``), so padding never contributes to the loss or
            its gradient.
    """
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=pad_id)


@dataclass
class Seq2SeqConfig:
    """Sizes and names for :meth:`Seq2Seq.from_config` (the factory the CLI uses).

    The decoder's hidden size is ``hidden_size`` times the encoder's directions, so
    ``bridge="copy"`` fits a bidirectional encoder. ``layer_options`` go to both layers
    (e.g. ``{"layer_norm": True}``). ``reverse_source`` makes the encoder read each source
    backwards (Sutskever et al. 2014; see :class:`~rnnx.seq2seq.encoder.Encoder`).
    """

    cell: str = "gru"
    embedding_dim: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    attention: str | None = "general"
    input_feeding: bool = False
    bridge: str = "copy"
    tie_embeddings: bool = False
    dropout: float = 0.0
    reverse_source: bool = False
    layer_options: dict[str, Any] = field(default_factory=dict)


class _ModelStepper:
    """The decoder as a :class:`~rnnx.seq2seq.search.Stepper`: log-softmax of its logits."""

    def __init__(self, decoder: Decoder, state: DecoderState, memory: Memory | None) -> None:
        self.decoder, self.state, self.memory = decoder, state, memory

    def step(self, tokens: Tensor) -> tuple[Tensor, Tensor | None]:
        logits, self.state, weights = self.decoder.step(tokens, self.state, self.memory)
        return F.log_softmax(logits, dim=-1), weights

    def select(self, rows: Tensor) -> None:
        self.state = self.state.index_select(rows)
        if self.memory is not None:
            self.memory = self.memory.index_select(rows)


class Seq2Seq(nn.Module):
    """Encoder-decoder (Sutskever et al. 2014; Cho et al. 2014), with attention when the
    decoder has it (Bahdanau et al. 2015; Luong et al. 2015).

    The encoder reads the source; the bridge turns its final state (the context vector) into
    the decoder's initial state; the decoder, fed ``<sos>``, predicts each next token.

    Args:
        encoder: an :class:`Encoder`.
        decoder: a :class:`Decoder`; with attention, ``attention.memory_size`` must equal the
            encoder's output width.
        bridge: ``"copy"``, ``"linear"``, ``"none"`` (see :mod:`rnnx.seq2seq.bridge`) or a
            :class:`~rnnx.seq2seq.bridge.Bridge` instance.
        src_vocab, tgt_vocab: optional vocabularies, kept with the model (and saved by
            :func:`rnnx.seq2seq.save`); their sizes must match the embeddings.
        sos_id, eos_id: the target's ``<sos>`` and ``<eos>`` ids (``<pad>`` is the decoder
            embedding's ``padding_idx``).

    Raises:
        TypeError, ValueError: parts that do not fit together, each naming both sides.
    """

    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder,
        *,
        bridge: str | Bridge = "copy",
        src_vocab: Vocab | None = None,
        tgt_vocab: Vocab | None = None,
        sos_id: int = SOS_ID,
        eos_id: int = EOS_ID,
    ) -> None:
        super().__init__()
        if not isinstance(encoder, Encoder):
            raise TypeError(f"Seq2Seq: encoder must be an rnnx.seq2seq.Encoder; got {type(encoder).__name__}")
        if not isinstance(decoder, Decoder):
            raise TypeError(f"Seq2Seq: decoder must be an rnnx.seq2seq.Decoder; got {type(decoder).__name__}")
        if decoder.attention is not None and decoder.attention.memory_size != encoder.output_size:
            raise ValueError(
                f"Seq2Seq: the decoder's attention.memory_size must equal the encoder's output width "
                f"{encoder.output_size}; got {decoder.attention.memory_size}"
            )
        for name, vocab, size in (
            ("src_vocab", src_vocab, encoder.vocab_size),
            ("tgt_vocab", tgt_vocab, decoder.vocab_size),
        ):
            if vocab is not None and not isinstance(vocab, Vocab):
                raise TypeError(f"Seq2Seq: {name} must be an rnnx.seq2seq.Vocab or None; got {type(vocab).__name__}")
            if vocab is not None and len(vocab) != size:
                raise ValueError(f"Seq2Seq: {name} has {len(vocab)} tokens but its embedding has {size} rows")
        self.encoder = encoder
        self.decoder = decoder
        if isinstance(bridge, str):
            bridge = make_bridge(bridge, encoder.rnn, decoder.rnn)
        if not isinstance(bridge, Bridge):
            raise TypeError(f"Seq2Seq: bridge must be a name or an rnnx.seq2seq.Bridge; got {type(bridge).__name__}")
        self.bridge = bridge
        self.src_vocab = src_vocab
        self.tgt_vocab = tgt_vocab
        self.sos_id = check_int("Seq2Seq", "sos_id", sos_id, minimum=0)
        self.eos_id = check_int("Seq2Seq", "eos_id", eos_id, minimum=0)
        assert decoder.embedding.padding_idx is not None
        self.pad_id = decoder.embedding.padding_idx
        if len({self.sos_id, self.eos_id, self.pad_id}) != 3 or max(self.sos_id, self.eos_id) >= decoder.vocab_size:
            raise ValueError(
                f"Seq2Seq: sos_id, eos_id and the pad id must be distinct ids of the target vocabulary "
                f"(size {decoder.vocab_size}); got {self.sos_id}, {self.eos_id}, {self.pad_id}"
            )

    @classmethod
    def from_config(cls, config: Seq2SeqConfig, src_vocab: Vocab, tgt_vocab: Vocab) -> Seq2Seq:
        """Build a model for two vocabularies from a :class:`Seq2SeqConfig`."""
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(f"Seq2Seq.from_config: config must be a Seq2SeqConfig; got {type(config).__name__}")
        encoder = Encoder.build(
            len(src_vocab),
            config.embedding_dim,
            config.hidden_size,
            cell=config.cell,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            reverse_source=config.reverse_source,
            **config.layer_options,
        )
        decoder = Decoder.build(
            len(tgt_vocab),
            config.embedding_dim,
            config.hidden_size * (2 if config.bidirectional else 1),
            cell=config.cell,
            num_layers=config.num_layers,
            attention=config.attention,
            memory_size=encoder.output_size,
            input_feeding=config.input_feeding,
            tie_embeddings=config.tie_embeddings,
            dropout=config.dropout,
            **config.layer_options,
        )
        return cls(encoder, decoder, bridge=config.bridge, src_vocab=src_vocab, tgt_vocab=tgt_vocab)

    def start(self, src: Tensor, src_lengths: Tensor | list[int]) -> tuple[DecoderState, Memory | None]:
        """Encode ``src (B, S)`` and return the decoder's initial state and attention memory."""
        encoded = self.encoder(src, src_lengths)
        state = self.decoder.initial_state(self.bridge(encoded.state))
        return state, self.decoder.prepare_memory(encoded.outputs, encoded.mask)

    def forward(
        self, src: Tensor, src_lengths: Tensor | list[int], tgt: Tensor, *, teacher_forcing: float = 1.0
    ) -> Seq2SeqOutput:
        """Score a target given the source (training).

        Args:
            src: ``(B, S)`` source ids, padded. src_lengths: ``(B,)``.
            tgt: ``(B, T)`` target ids, ``T >= 2``: ``<sos>``, the tokens, ``<eos>``, pads.
            teacher_forcing: probability of feeding the true previous token at each step and
                sequence; below 1 the model's own argmax is fed otherwise (scheduled sampling,
                Bengio et al. 2015), which decodes step by step. Must be in ``[0, 1]``.

        Returns:
            :class:`Seq2SeqOutput`: ``logits (B, T-1, V)`` where ``logits[:, t]`` scores
            ``tgt[:, t+1]``, and attention ``(B, T-1, S)`` or ``None``.

        Raises:
            TypeError, ValueError: bad ``src``/``src_lengths`` (see :class:`Encoder`), a
                ``tgt`` that is not ``(B, T >= 2)`` ids starting with ``<sos>``, or
                ``teacher_forcing`` outside ``[0, 1]``.
        """
        ratio = check_probability("Seq2Seq", "teacher_forcing", teacher_forcing)
        src = check_tokens("Seq2Seq", "src", src, vocab_size=self.encoder.vocab_size)
        tgt = check_tokens("Seq2Seq", "tgt", tgt, vocab_size=self.decoder.vocab_size)
        if tgt.shape[0] != src.shape[0]:
            raise ValueError(f"Seq2Seq: tgt must have the batch size of src ({src.shape[0]}); got {tgt.shape[0]}")
        if tgt.shape[1] < 2:
            raise ValueError(f"Seq2Seq: tgt must have at least 2 steps (<sos> and one token); got {tgt.shape[1]}")
        if bool((tgt[:, 0] != self.sos_id).any()):
            raise ValueError(f"Seq2Seq: every tgt sequence must start with <sos> (id {self.sos_id})")
        state, memory = self.start(src, src_lengths)
        inputs = tgt[:, :-1]
        if ratio == 1.0:
            logits, _, attention = self.decoder(inputs, state, memory)
            return Seq2SeqOutput(logits, attention)
        steps, weights = [], []
        token = inputs[:, 0]
        for t in range(inputs.shape[1]):
            step_logits, state, step_weights = self.decoder.step(token, state, memory)
            steps.append(step_logits)
            if step_weights is not None:
                weights.append(step_weights)
            if t + 1 < inputs.shape[1]:
                gold = torch.rand(token.shape[0], device=token.device) < ratio
                token = torch.where(gold, inputs[:, t + 1], step_logits.argmax(-1))
        return Seq2SeqOutput(torch.stack(steps, 1), torch.stack(weights, 1) if weights else None)

    @torch.no_grad()
    def generate(
        self,
        src: Tensor,
        src_lengths: Tensor | list[int],
        *,
        strategy: str = "greedy",
        beam_size: int = 5,
        max_len: int | None = None,
        min_len: int = 0,
        length_penalty: float = 0.0,
        n_best: int = 1,
    ) -> Generation:
        """Decode free-running (the model's own tokens are fed back), the batch together.

        Runs without gradients and in the module's current mode: call ``model.eval()``
        first so dropout is off.

        Args:
            src: ``(B, S)`` source ids. src_lengths: ``(B,)``.
            strategy: ``"greedy"`` or ``"beam"``.
            beam_size: hypotheses kept per source (beam only), ``>= 1``.
            max_len: most tokens generated, ``<eos>`` included; default ``2 * S + 10``.
            min_len: at least this many tokens before ``<eos>`` (``< max_len``).
            length_penalty: GNMT ``alpha >= 0`` (Wu et al. 2016), see :mod:`rnnx.seq2seq.search`.
            n_best: hypotheses returned per source, ``1 <= n_best <= beam_size`` (beam only).

        Returns:
            :class:`~rnnx.seq2seq.search.Generation`: ``tokens (B, n_best, T)``, ``lengths``,
            ``scores``, ``log_probs`` (each ``(B, n_best)``) and ``attention
            (B, n_best, T, S)`` or ``None``.

        Raises:
            TypeError, ValueError: bad inputs as in :meth:`forward`; an unknown strategy;
                ``beam_size < 1``; ``max_len < 1``; ``min_len >= max_len``; ``n_best > 1``
                with greedy or above ``beam_size``.
        """
        strategy = check_choice("Seq2Seq.generate", "strategy", strategy, STRATEGIES)
        beam_size = check_int("Seq2Seq.generate", "beam_size", beam_size, minimum=1)
        n_best = check_int("Seq2Seq.generate", "n_best", n_best, minimum=1)
        if strategy == "greedy" and n_best != 1:
            raise ValueError(f"Seq2Seq.generate: n_best={n_best} needs strategy='beam'; greedy returns one hypothesis")
        if n_best > beam_size:
            raise ValueError(f"Seq2Seq.generate: n_best must be <= beam_size={beam_size}; got {n_best}")
        src = check_tokens("Seq2Seq.generate", "src", src, vocab_size=self.encoder.vocab_size)
        if max_len is None:
            max_len = 2 * src.shape[1] + 10
        options = check_options(
            "Seq2Seq.generate",
            max_len=max_len,
            min_len=min_len,
            length_penalty=length_penalty,
            sos_id=self.sos_id,
            eos_id=self.eos_id,
            pad_id=self.pad_id,
        )
        state, memory = self.start(src, src_lengths)
        stepper = _ModelStepper(self.decoder, state, memory)
        if strategy == "greedy":
            return greedy_search(stepper, src.shape[0], options, device=src.device)
        return beam_search(stepper, src.shape[0], options, beam_size=beam_size, n_best=n_best, device=src.device)
