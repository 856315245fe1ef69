"""``rnnx.gradient_flow``: how much of the loss's gradient reaches each time step.

For a loss :math:`L` and the hidden state :math:`h_t` a layer emits after step :math:`t`, the
measure is :math:`\\lVert \\partial L / \\partial h_t \\rVert`, the total derivative (through
the outputs and through every later step). When the loss reads only the last step it falls or
grows roughly geometrically with the distance :math:`T - 1 - t`: the vanishing and exploding
gradients of Bengio, Simard & Frasconi, "Learning Long-Term Dependencies with Gradient Descent
is Difficult", IEEE TNN 1994, and Pascanu, Mikolov & Bengio, "On the difficulty of training
recurrent neural networks", ICML 2013.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnx.inspection.records import lengths_of, pad_steps
from rnnx.inspection.trace import Trace


@dataclass(frozen=True)
class DirectionFlow:
    """Gradient norms for one layer and direction of one module call.

    Attributes:
        name: the module's name in the model (``""`` for the model itself).
        call: index of the call among that module's calls.
        layer, direction: which stacked layer and direction (0 forward, 1 reverse).
        per_sequence: ``(T, B)``, :math:`\\lVert \\partial L / \\partial h_t \\rVert` of each
            sequence's own ``h_t (P,)``; zero past a sequence's end.
        lengths: ``(B,)`` sequence lengths.
    """

    name: str
    call: int
    layer: int
    direction: int
    per_sequence: Tensor
    lengths: Tensor

    @property
    def norms(self) -> Tensor:
        """``(T,)``: the norm of :math:`\\partial L / \\partial h_t` over the whole batch ``(B, P)``."""
        return self.per_sequence.pow(2).sum(dim=1).sqrt()

    def __repr__(self) -> str:
        norms = self.norms
        return (
            f"DirectionFlow(name={self.name!r}, call={self.call}, layer={self.layer}, direction={self.direction}, "
            f"steps={norms.shape[0]}, first={norms[0].item():.3g}, last={norms[-1].item():.3g})"
            if norms.numel()
            else f"DirectionFlow(name={self.name!r}, call={self.call}, layer={self.layer}, steps=0)"
        )


@dataclass(frozen=True)
class GradientFlow:
    """What :func:`gradient_flow` measured: the loss and one :class:`DirectionFlow` per layer,
    direction and call, in the order they ran."""

    loss: float
    flows: tuple[DirectionFlow, ...]

    def get(self, name: str = "", *, layer: int = 0, direction: int = 0, call: int = -1) -> DirectionFlow:
        """The flow of one module (by its name in the model), layer and direction; the last call
        of that module unless ``call`` says otherwise.

        Raises:
            KeyError: nothing matches; the message lists what was measured.
        """
        matches = [f for f in self.flows if f.name == name and f.layer == layer and f.direction == direction]
        calls = sorted({f.call for f in matches})
        if not calls or not -len(calls) <= call < len(calls):
            measured = sorted({(f.name, f.layer, f.direction) for f in self.flows})
            raise KeyError(
                f"gradient_flow: nothing for name={name!r}, layer={layer}, direction={direction}, call={call}; "
                f"measured (name, layer, direction): {measured}"
            )
        wanted = calls[call]
        return next(f for f in matches if f.call == wanted)


def gradient_flow(model: nn.Module, inputs: Any, loss_fn: Callable[[Any], Tensor]) -> GradientFlow:
    """Run ``model`` once and measure :math:`\\lVert \\partial L / \\partial h_t \\rVert` for
    every step ``t`` of every rnnx recurrent layer (each layer and direction) and cell in it.

    The model runs as it is (train or eval mode is yours to set) under :func:`rnnx.trace`, so
    on the reference path; the gradients come from one :func:`torch.autograd.grad` call with
    respect to the hidden states, so no parameter's ``.grad`` changes.

    Example::

        flow = rnnx.gradient_flow(model, x, lambda out: out[0][-1].pow(2).sum())
        flow.get("lstm").norms      # (T,), one value per step

    Args:
        model: a module containing rnnx recurrent layers or cells (or one itself).
        inputs: the model's input: a tensor, a ``PackedSequence``, or a plain tuple of
            positional arguments.
        loss_fn: maps the model's output to a scalar loss tensor.

    Returns:
        A :class:`GradientFlow`.

    Raises:
        TypeError: ``model`` is not a module, ``loss_fn`` is not callable or returns no tensor.
        ValueError: the model has no rnnx layer, or the loss is not a scalar that depends on
            the model through autograd.
    """
    if not callable(loss_fn):
        raise TypeError(f"gradient_flow: loss_fn must be callable; got {type(loss_fn).__name__}")
    recorder = Trace(model, keep_graph=True)
    with torch.enable_grad(), recorder:
        output = model(*inputs) if type(inputs) is tuple else model(inputs)  # a PackedSequence is a tuple too
        loss = loss_fn(output)
    if not isinstance(loss, Tensor):
        raise TypeError(f"gradient_flow: loss_fn must return a tensor; got {type(loss).__name__}")
    if loss.numel() != 1:
        raise ValueError(f"gradient_flow: loss_fn must return a scalar; got shape {tuple(loss.shape)}")
    if not loss.requires_grad:
        raise ValueError("gradient_flow: the loss does not depend on the model through autograd (no grad_fn)")
    live = recorder.live
    hs = [h for entry in live for h in entry.steps]
    grads = torch.autograd.grad(loss.reshape(()), hs, allow_unused=True)
    flows: list[DirectionFlow] = []
    k = 0
    for entry in live:
        rows = []
        for h in entry.steps:
            g = grads[k]
            k += 1
            norm = h.new_zeros(h.shape[0]) if g is None else torch.linalg.vector_norm(g.detach(), dim=-1)
            rows.append(norm.unsqueeze(-1))
        per_sequence = pad_steps(rows, entry.batch, entry.unsorted).squeeze(-1)
        lengths = lengths_of([r.shape[0] for r in rows])
        if entry.unsorted is not None:
            lengths = lengths.index_select(0, entry.unsorted.cpu())
        flows.append(
            DirectionFlow(entry.call.name, entry.call.call, entry.layer, entry.direction, per_sequence, lengths)
        )
    return GradientFlow(float(loss.detach()), tuple(flows))
