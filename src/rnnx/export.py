"""Exporting rnnx models: ONNX and ``torch.export`` with dynamic sequence length and batch.

Every layer exports, every variant included:

- ``torch.export.export`` and ``torch.onnx.export(..., dynamo=True)`` capture each layer as one
  scan over time (:mod:`rnnx.recurrence.graph`; an ONNX ``Scan``), so the program runs at any
  sequence length and batch size;
- the TorchScript-based ``torch.onnx.export(..., dynamo=False)`` and ``torch.jit.trace`` record
  what one example runs, so only PyTorch's own kernels keep the length free (the standard
  configurations, as ONNX's ``LSTM``/``GRU``/``RNN`` nodes), and under ``torch.onnx.export`` the
  peephole LSTM, as ONNX's ``LSTM`` node with its peephole input ``P``
  (:mod:`rnnx.backends.onnx_lstm`); for the other variants they raise at export time and say to
  use ``dynamo=True``. Never a graph specialised to the example's length.

Export in evaluation mode: random regularisers (zoneout, dropout, ...) draw masks per call, and a
layer in training mode with one of them active refuses to export. :func:`onnx` picks the
settings::

    rnnx.export.onnx(model, "model.onnx", example=torch.randn(50, 1, 40))

A :class:`rnnx.Stream` exports its single step, the state as inputs and outputs, the form
streaming runtimes take: ``rnnx.export.onnx(stream, "step.onnx")``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnx.modules.cell import RecurrentCell
from rnnx.modules.layer import RecurrentLayer
from rnnx.modules.stream import Stream

__all__ = ["StreamStep", "onnx"]


class StreamStep(nn.Module):
    """One step of a stream's module as a pure function of the state: the form to export.

    ``forward(x (B, I), *state) -> (y (B, P), *new_state)``, each state tensor in the stream's
    ``h_n`` form (``h (L, B, P)`` and, for LSTM, ``c (L, B, H)``; a cell's without the ``L``).
    """

    def __init__(self, module: RecurrentLayer | RecurrentCell) -> None:
        super().__init__()
        self.module = module
        self.train(module.training)  # a wrapper in training mode would put the module there

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        module = self.module
        hx: Any = state if len(state) > 1 else state[0]
        if isinstance(module, RecurrentLayer):
            out, new = module(x.unsqueeze(1 if module.batch_first else 0), hx)
            new = new if isinstance(new, tuple) else (new,)
            return (out.squeeze(1 if module.batch_first else 0), *new)
        new = module(x, hx)
        new = new if isinstance(new, tuple) else (new,)
        return (new[0], *new)


def _layer_dims(layer: RecurrentLayer, example: Tensor) -> dict[int, Any]:
    steps, batch = torch.export.Dim("steps", min=1), torch.export.Dim("batch", min=1)
    if example.dim() == 2:  # unbatched (T, I)
        return {0: steps}
    return {0: batch, 1: steps} if layer.batch_first else {0: steps, 1: batch}


def onnx(
    model: nn.Module | Stream,
    path: str | os.PathLike[str],
    *,
    example: Any = None,
    dynamic_shapes: Any = None,
    opset_version: int | None = None,
) -> Path:
    """Export ``model`` to the ONNX file ``path`` with ``torch.onnx.export(..., dynamo=True)``.

    Args:
        model: an rnnx layer (its sequence length and batch are made dynamic), a
            :class:`rnnx.Stream` (its single step, with batch dynamic), or any module containing
            rnnx layers (give ``dynamic_shapes`` as ``torch.export`` takes them).
        path: where to write the ``.onnx`` file.
        example: the example input (a tensor or a tuple of arguments); for a stream, ``None``
            (a zero step of its batch is used).
        dynamic_shapes: as :func:`torch.export.export` takes them; derived for a layer or a stream.
        opset_version: ONNX opset, or ``None`` for the exporter's default.

    Returns:
        The path written.

    Raises:
        TypeError: ``model`` is neither a module nor a stream, or ``example`` is missing.
        ValueError: a configuration that cannot be exported without fixing the sequence length
            (see this module's docstring), with the reason.
    """
    target: nn.Module
    input_names: list[str] | None = None
    output_names: list[str] | None = None
    if isinstance(model, Stream):
        target = StreamStep(model.module)
        state = model.state if isinstance(model.state, tuple) else (model.state,)
        first = next(iter(model.module.parameters()))
        x = torch.zeros(model.batch_size, model.module.input_size, dtype=first.dtype, device=first.device)
        args: tuple[Any, ...] = (x, *(s.detach() for s in state))
        names = model.module.cell.state_names
        input_names = ["x", *names]
        output_names = ["y", *(f"{n}_new" for n in names)]
        batch = torch.export.Dim("batch", min=1)
        dims = 1 if isinstance(model.module, RecurrentLayer) else 0
        # forward(x, *state): torch.export sees the state as one tuple argument.
        dynamic_shapes = dynamic_shapes or ({0: batch}, tuple({dims: batch} for _ in state))
    elif isinstance(model, nn.Module):
        if example is None:
            raise TypeError("onnx: example must be given for a module (an input it can run)")
        target = model
        args = example if isinstance(example, tuple) else (example,)
        if isinstance(model, RecurrentLayer):
            input_names = ["input", *(["hx"] if len(args) > 1 else [])]
            output_names = ["output", *(f"{n}_n" for n in model.cell.state_names)]
        if dynamic_shapes is None and isinstance(model, RecurrentLayer) and isinstance(args[0], Tensor):
            dynamic_shapes = (_layer_dims(model, args[0]), *([None] * (len(args) - 1)))
    else:
        raise TypeError(f"onnx: model must be an nn.Module or an rnnx.Stream; got {type(model).__name__}")
    was_training = target.training
    target.eval()
    try:
        with warnings.catch_warnings():  # the exporter's notes about itself, not about the model
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message="The axis name: .* will not be used")
            torch.onnx.export(
                target,
                args,
                str(path),
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                opset_version=opset_version,
                input_names=input_names,
                output_names=output_names,
                verbose=False,
            )
    finally:
        target.train(was_training)
    return Path(path)
