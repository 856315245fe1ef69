"""What a trace holds: per module call, per layer and direction, every step's activations.

Every recorded tensor is ``(T, B, width)``, time-major whatever the module's ``batch_first``, with
the batch in the caller's order. A packed input gives padded tensors (zeros past each sequence's
end) and its ``lengths``; an unbatched ``(T, I)`` input gives ``B = 1``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor


def lengths_of(batch_sizes: Sequence[int]) -> Tensor:
    """Sequence lengths ``(B,)`` in packed (sorted) order from packed batch sizes ``(T,)``."""
    sizes = torch.tensor(list(batch_sizes))
    return (sizes.unsqueeze(1) > torch.arange(int(sizes[0])).unsqueeze(0)).sum(0)


def pad_steps(steps: Sequence[Tensor], batch: int, unsorted: Tensor | None) -> Tensor:
    """Stack per-step rows ``(batch_sizes[t], W)`` into ``(T, B, W)``, zeros past each
    sequence's end, and bring the batch back to the caller's order."""
    width = steps[0].shape[-1]
    padded = steps[0].new_zeros(len(steps), batch, width)
    for t, rows in enumerate(steps):
        padded[t, : rows.shape[0]] = rows
    return padded if unsorted is None else padded.index_select(1, unsorted.to(padded.device))


@dataclass(frozen=True)
class DirectionTrace:
    """One layer and direction of one call: every step's gate activations and state.

    Attributes:
        layer: index of the stacked layer, from 0.
        direction: 0 forward, 1 reverse.
        gates: by name (``i, f, g, o`` LSTM; ``r, z, n`` GRU; ``pre`` Elman/IndRNN; none for a
            custom cell that does not report them), each ``(T, B, H)``.
        states: by state name (``h``, and ``c`` for LSTM), each ``(T, B, width)``: the value
            after step ``t`` (for the reverse direction, after it has read step ``t``).
        lengths: ``(B,)`` steps of each sequence; values at ``t >= lengths[b]`` are zeros.
    """

    layer: int
    direction: int
    gates: dict[str, Tensor]
    states: dict[str, Tensor]
    lengths: Tensor

    @property
    def h(self) -> Tensor:
        """``(T, B, P)`` hidden state after every step."""
        return self.states["h"]

    @property
    def c(self) -> Tensor:
        """``(T, B, H)`` LSTM cell state after every step.

        Raises:
            KeyError: the cell has no state named ``c``.
        """
        return self["c"]

    @property
    def names(self) -> tuple[str, ...]:
        """Gate names, then state names."""
        return (*self.gates, *self.states)

    def __getitem__(self, name: str) -> Tensor:
        """A gate or state by name, ``(T, B, width)``.

        Raises:
            KeyError: no gate or state has this name; the message lists those that do.
        """
        if name in self.gates:
            return self.gates[name]
        if name in self.states:
            return self.states[name]
        raise KeyError(f"no gate or state named {name!r}; this trace has {list(self.names)}")

    def __repr__(self) -> str:
        # Shapes, not values: a trace holds T * B * H numbers per gate.
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in {**self.gates, **self.states}.items())
        return f"DirectionTrace(layer={self.layer}, direction={self.direction}, {shapes})"


@dataclass
class CallTrace:
    """One call of one traced module: its layers and directions.

    Index it with a layer (``call[0]``, the forward direction) or ``(layer, direction)``.

    Attributes:
        name: the module's name in the traced model (``""`` for the model itself).
        module: the module's class name.
        call: how many calls of this module came before this one in the trace.
        num_directions: 2 for a bidirectional layer, else 1.
        directions: in run order, index ``layer * num_directions + direction``.
    """

    name: str
    module: str
    call: int
    num_directions: int
    directions: list[DirectionTrace] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.directions)

    def __iter__(self) -> Iterator[DirectionTrace]:
        return iter(self.directions)

    def __getitem__(self, index: int | tuple[int, int]) -> DirectionTrace:
        """The trace of ``layer`` (forward direction) or of ``(layer, direction)``.

        Raises:
            IndexError: no such layer or direction.
        """
        layer, direction = index if isinstance(index, tuple) else (index, 0)
        layers = len(self.directions) // self.num_directions
        if not (0 <= layer < layers and 0 <= direction < self.num_directions):
            raise IndexError(
                f"{self.module} {self.name!r} has {layers} layer(s) and {self.num_directions} direction(s); "
                f"got layer={layer}, direction={direction}"
            )
        return self.directions[layer * self.num_directions + direction]
