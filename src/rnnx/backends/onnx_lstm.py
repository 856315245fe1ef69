"""The peephole LSTM as ONNX's own ``LSTM`` node, for the TorchScript-based ONNX exporter.

``torch.onnx.export(..., dynamo=False)`` traces what one example runs, so rnnx's Python time
loop would be unrolled for the example's length, and PyTorch's kernel has no peepholes. ONNX's
``LSTM`` node has them: its input ``P`` holds ``P_i, P_o, P_f`` and its equations are rnnx's
(:class:`rnnx.cells.LSTMStep` with ``peephole=True``)::

    i = sigmoid(W_i x + R_i h + Wb_i + Rb_i + P_i * c)      f = sigmoid(... + P_f * c)
    c' = f * c + i * tanh(...)      o = sigmoid(... + P_o * c')      h' = o * tanh(c')

So each layer runs through :class:`PeepholeLSTMNode`, a ``torch.autograd.Function`` whose
``forward`` is rnnx's reference path (what the trace's example run returns) and whose
``symbolic`` emits one ``LSTM`` node for the layer, both directions in it: the exported graph
holds no loop of rnnx's and runs at any sequence length and batch.

ONNX's layout: gate blocks ``i, o, f, c`` (rnnx's are ``i, f, g, o``); ``W [D, 4H, I]``,
``R [D, 4H, H]``, ``B [D, 8H]`` (input biases, then recurrent ones), ``P [D, 3H]``; outputs
``Y [T, D, B, H]``, ``Y_h`` and ``Y_c [D, B, H]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnx.cells import CellStep, DirectionWeights, LSTMStep
from rnnx.recurrence.stack import run_stack

ONNX_GATES = (0, 3, 1, 2)
"""For each of ONNX's gate blocks ``i, o, f, c``, the index of rnnx's block (``i, f, g, o``)."""

ONNX_PEEPHOLES = (0, 2, 1)
"""For each of ONNX's peephole blocks ``i, o, f``, the row of ``weight_peephole`` (``i, f, o``)."""


def onnx_lstm_unsupported(
    cell: CellStep, *, proj_size: int, zoneout: Sequence[float], packed: bool, onnx_export: bool
) -> str | None:
    """Why ONNX's ``LSTM`` node with its peephole input cannot export this call, or ``None``.

    Args:
        cell: the layer's cell.
        proj_size: the layer's projection width (0 for none).
        zoneout: the layer's zoneout probabilities.
        packed: whether the input is a ``PackedSequence``.
        onnx_export: whether ``torch.onnx.export`` runs (not only ``torch.jit.trace``).
    """
    if type(cell) is not LSTMStep or not cell.peephole:
        return "only an LSTM with peephole=True takes that form"
    if cell.layer_norm:
        return "the node has no layer normalisation"
    if proj_size:
        return f"the node has no recurrent projection (proj_size={proj_size})"
    if any(zoneout):
        return "the node has no zoneout"
    if packed:
        return "a PackedSequence's lengths are data; export on a padded (T, B, I) batch"
    if not onnx_export:
        return "the node exists in ONNX only: torch.jit.trace outside torch.onnx.export would keep a Python call"
    return None


class PeepholeLSTMNode(torch.autograd.Function):
    """One peephole LSTM layer, both its directions, as one ONNX ``LSTM`` node.

    Arguments of ``apply``: ``x (T, B, I)``, ``h0`` and ``c0`` ``(D, B, H)``, ``hidden_size``,
    ``has_bias``, then per direction ``weight_ih, weight_hh, [bias_ih, bias_hh,] weight_peephole``
    in rnnx's layout. Returns ``out (T, B, D*H)``, ``h_n`` and ``c_n (D, B, H)``.
    """

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, h0: Tensor, c0: Tensor, hidden_size: int, has_bias: bool, *weights: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        kinds = ["weight_ih", "weight_hh", *(["bias_ih", "bias_hh"] if has_bias else []), "weight_peephole"]
        per = len(kinds)
        directions = [
            DirectionWeights(dict(zip(kinds, weights[i : i + per], strict=True))) for i in range(0, len(weights), per)
        ]
        steps, batch, features = x.shape
        out, (h, c) = run_stack(
            LSTMStep(peephole=True), x.reshape(steps * batch, features), [batch] * steps, (h0, c0), [directions]
        )
        return out.view(steps, batch, out.shape[-1]), h, c

    @staticmethod
    def symbolic(
        g: Any, x: Any, h0: Any, c0: Any, hidden_size: int, has_bias: bool, *weights: Any
    ) -> tuple[Any, Any, Any]:
        per = 5 if has_bias else 3
        groups = [weights[i : i + per] for i in range(0, len(weights), per)]
        size = hidden_size

        def constant(value: Tensor) -> Any:
            return g.op("Constant", value_t=value)

        def blocks(t: Any, order: Sequence[int], shape: Sequence[int]) -> Any:
            """Rows of ``t`` reordered block by block (blocks of ``H`` rows), then reshaped."""
            rows = torch.cat([torch.arange(k * size, (k + 1) * size) for k in order])
            picked = g.op("Gather", t, constant(rows), axis_i=0)
            return g.op("Reshape", picked, constant(torch.tensor(list(shape), dtype=torch.int64)))

        def per_direction(parts: list[Any]) -> Any:
            return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis_i=0)

        w = per_direction([blocks(group[0], ONNX_GATES, (1, 4 * size, -1)) for group in groups])
        r = per_direction([blocks(group[1], ONNX_GATES, (1, 4 * size, -1)) for group in groups])
        if has_bias:
            b = per_direction(
                [
                    g.op("Concat", blocks(gr[2], ONNX_GATES, (1, -1)), blocks(gr[3], ONNX_GATES, (1, -1)), axis_i=1)
                    for gr in groups
                ]
            )
        else:
            dtype = x.type().dtype() or torch.float32
            b = constant(torch.zeros(len(groups), 8 * size, dtype=dtype))
        flat = (3 * size,)  # weight_peephole (3, H): its rows as blocks of one flattened row each
        p = per_direction(
            [
                blocks(g.op("Reshape", group[-1], constant(torch.tensor(flat))), ONNX_PEEPHOLES, (1, -1))
                for group in groups
            ]
        )
        sequence_lens = g.op("prim::Constant")  # an omitted optional input, as torch.onnx writes it
        sequence_lens.setType(torch._C.OptionalType.ofTensor())
        direction = "bidirectional" if len(groups) == 2 else "forward"
        y, y_h, y_c = g.op(
            "LSTM", x, w, r, b, sequence_lens, h0, c0, p, outputs=3, hidden_size_i=size, direction_s=direction
        )
        # Y (T, D, B, H) -> (T, B, D*H), the forward direction first.
        y = g.op("Transpose", y, perm_i=[0, 2, 1, 3])
        y = g.op("Reshape", y, constant(torch.tensor([0, 0, -1], dtype=torch.int64)))
        return y, y_h, y_c


def onnx_lstm_stack(
    x: Tensor, state0: tuple[Tensor, ...], weights: Sequence[Sequence[DirectionWeights]], *, hidden_size: int
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run ``len(weights)`` peephole LSTM layers over ``x (T, B, I)``, one :class:`PeepholeLSTMNode`
    each, in evaluation (no dropout between layers).

    Args:
        x: the input, time-major.
        state0: ``(h0, c0)``, each ``(L*D, B, H)``, indexed ``layer * D + direction``.
        weights: ``weights[layer][direction]``.
        hidden_size: ``H``.

    Returns:
        ``(out, (h_n, c_n))``: ``out (T, B, D*H)``, the states ``(L*D, B, H)``.
    """
    h0, c0 = state0
    directions = len(weights[0])
    hs: list[Tensor] = []
    cs: list[Tensor] = []
    for layer, layer_weights in enumerate(weights):
        has_bias = layer_weights[0].get("bias_ih") is not None
        kinds = ["weight_ih", "weight_hh", *(["bias_ih", "bias_hh"] if has_bias else []), "weight_peephole"]
        flat = [w.tensors[kind] for w in layer_weights for kind in kinds]
        rows = slice(layer * directions, (layer + 1) * directions)
        x, h, c = PeepholeLSTMNode.apply(x, h0[rows], c0[rows], hidden_size, has_bias, *flat)  # type: ignore[no-untyped-call]
        hs.append(h)
        cs.append(c)
    return x, (torch.cat(hs), torch.cat(cs))
