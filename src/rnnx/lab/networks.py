"""The networks the lab trains: an encoder over time between an input layer and an output head.

Every encoder maps ``(B, T, I)`` to ``(B, T, H)``; :class:`SequenceModel` puts an optional
token embedding in front and a linear head behind, reading either every step (language models,
copy) or one summary of the sequence (its last valid step, or the mean over time for the
convolutional baseline). The parts are injected, so a user can wrap any encoder of their own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnx.modules.dropout import SampleDropout


class RecurrentEncoder(nn.Module):
    """A batch-first recurrent layer stack (``rnnx.LSTM``, ...) seen as an encoder.

    ``forward(x (B, T, I), lengths (B,) | None) -> (B, T, H)``: the layer's output sequence. The
    layers run left to right, so outputs at valid steps never depend on padding after them.
    """

    summary = "last"

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        if not getattr(rnn, "batch_first", False):
            raise ValueError("RecurrentEncoder: rnn must be batch_first; build it with batch_first=True")
        self.rnn = rnn

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out: Tensor = self.rnn(x)[0]
        return out


class AttentionEncoder(nn.Module):
    """A batch-first :class:`rnnx.TransformerEncoder` seen as an encoder (padding keys masked)."""

    summary = "last"

    def __init__(self, transformer: nn.Module) -> None:
        super().__init__()
        if not getattr(transformer, "batch_first", False):
            raise ValueError("AttentionEncoder: transformer must be batch_first; build it with batch_first=True")
        self.transformer = transformer

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out: Tensor = self.transformer(x, lengths=lengths)
        return out


class ConvEncoder(nn.Module):
    r"""A 1-D convolutional baseline: ``num_layers`` blocks of Conv1d (kernel ``k``), norm, ReLU.

    ``causal=False`` (one output per sequence): each block is
    :math:`\mathrm{MaxPool}_2(\mathrm{ReLU}(\mathrm{BN}(\mathrm{Conv}(x))))` and the model reads the
    mean over the remaining steps. ``causal=True`` (one output per step): the input is padded on
    the left only and the dilation doubles per block (Bai et al. 2018), so step ``t`` sees only
    steps ``<= t``; there is no pooling, and no batch norm, whose batch statistics in training would
    mix the future of a sequence into its past.

    ``forward(x (B, T, I), lengths=None) -> (B, T', H)`` with ``T' = T`` when causal.
    """

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, *, kernel_size: int = 3, causal: bool = False
    ) -> None:
        super().__init__()
        self.causal = causal
        self.kernel_size = kernel_size
        self.summary = "every" if causal else "mean"
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.dilations = [2**k if causal else 1 for k in range(num_layers)]
        for k, dilation in enumerate(self.dilations):
            padding = 0 if causal else kernel_size // 2
            in_size = input_size if k == 0 else hidden_size
            self.convs.append(nn.Conv1d(in_size, hidden_size, kernel_size, padding=padding, dilation=dilation))
            self.norms.append(nn.Identity() if causal else nn.BatchNorm1d(hidden_size))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        h = x.transpose(1, 2)  # (B, I, T): Conv1d's layout
        for conv, norm, dilation in zip(self.convs, self.norms, self.dilations, strict=True):
            if self.causal:
                h = F.pad(h, ((self.kernel_size - 1) * dilation, 0))
            h = F.relu(norm(conv(h)))
            if not self.causal and h.shape[-1] >= 2:
                h = F.max_pool1d(h, 2)
        return h.transpose(1, 2)  # (B, T', H)


class SequenceModel(nn.Module):
    """``embedding -> encoder -> dropout -> head``.

    Arguments:
        encoder: maps ``(B, T, I)`` to ``(B, T', H)``; its ``summary`` attribute says how a
            per-sequence output reads it: ``"last"`` (the last valid step) or ``"mean"`` (over time).
        head: ``nn.Linear(H, O)``.
        embedding: ``nn.Embedding(V, I)`` for token inputs, or ``None`` for feature inputs.
        per_step: one output per step ``(B, T, O)`` instead of one per sequence ``(B, O)``.
        dropout: on the encoder's output before the head.

    ``forward(inputs (B, T, I) or (B, T) token ids, lengths (B,) | None) -> (B, O) or (B, T, O)``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        head: nn.Linear,
        *,
        embedding: nn.Embedding | None = None,
        per_step: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embedding = embedding
        self.encoder = encoder
        self.dropout = SampleDropout(dropout)  # keyed by sample: the same masks under DDP
        self.head = head
        self.per_step = per_step

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        x = inputs if self.embedding is None else self.embedding(inputs)  # (B, T, I)
        h = self.dropout(self.encoder(x, lengths))  # (B, T', H)
        if self.per_step:
            out: Tensor = self.head(h)  # (B, T, O)
            return out
        if getattr(self.encoder, "summary", "last") == "mean":
            return self.head(h.mean(1))  # type: ignore[no-any-return]
        if lengths is None:
            return self.head(h[:, -1])  # type: ignore[no-any-return]
        rows = torch.arange(h.shape[0], device=h.device)
        return self.head(h[rows, lengths.to(h.device) - 1])  # type: ignore[no-any-return]
