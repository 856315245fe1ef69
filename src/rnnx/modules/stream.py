"""``rnnx.Stream``: a recurrent layer or cell run one time step at a time, its state kept inside.

A streaming model (voice activity detection, keyword spotting, a control loop) gets one frame at
a time and must answer before the next. ``Stream`` carries the state between calls, restarts
chosen streams of a batch (a server multiplexing many users in one batch), and runs each step of
the whole stack as one C++ call on preallocated buffers where no gradient is needed::

    stream = rnnx.Stream(model.rnn, batch_size=8)
    with torch.inference_mode():
        for frame in frames:       # (8, I) each
            y = stream(frame)      # (8, P): the top layer's new h
            ...
            stream.reset([3])      # stream 3 starts a new utterance

Two paths, chosen per call:

- **compiled step** (``torch.no_grad()`` or ``torch.inference_mode()``, the module in ``eval()``,
  on CPU in float32/float64, one of rnnx's own cells): one C++ call per step for every layer
  (``csrc/stream.cpp``), weights packed once. A parameter changed in place (an optimizer step,
  ``load_state_dict``), given new storage (``.data =``, ``.to()``) or replaced on the module is
  seen at the next step and packed again: the stream never runs stale weights.
- **differentiable step** (anything else: grad mode on, training, autocast, GPU, a user's cell):
  the module itself on a one-step sequence, so every variant behaves exactly as in the layer,
  and the state carries its autograd graph. That is truncated back-propagation through time:
  call :meth:`detach` every ``k`` steps to cut the graph.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.module import register_module_parameter_registration_hook

from rnnx._checks import check_int, check_matches, check_tensor
from rnnx.backends.step import stream_kernel
from rnnx.cells import DirectionWeights
from rnnx.errors import InputError
from rnnx.modules.cell import RecurrentCell
from rnnx.modules.layer import RecurrentLayer
from rnnx.modules.weights import check_weights

_watched: weakref.WeakKeyDictionary[nn.Module, weakref.WeakSet[Stream]] = weakref.WeakKeyDictionary()
_hook_registered = False


def _on_parameter_registered(module: nn.Module, name: str, param: Tensor | None) -> None:
    """Mark the streams of ``module`` for packing again when one of its parameters is replaced."""
    for stream in _watched.get(module, ()):
        stream._step = None
        stream._packable = True


def _watch(module: nn.Module, stream: Stream) -> None:
    global _hook_registered
    if not _hook_registered:
        register_module_parameter_registration_hook(_on_parameter_registered)
        _hook_registered = True
    _watched.setdefault(module, weakref.WeakSet()).add(stream)


class Stream:
    """Run ``module`` one time step at a time, with its state carried between calls.

    Args:
        module: an rnnx recurrent layer (:class:`rnnx.LSTM`, ``GRU``, ``RNN``, ``IndRNN``,
            ``Recurrent``: any variant, ``num_layers``, ``proj_size``; not bidirectional, which
            needs the future) or cell (``LSTMCell``, ``GRUCell``, ``RNNCell``, ``RecurrentCell``).
        batch_size: ``B``, how many independent streams run side by side.
        state: the initial state in the module's ``h_n`` form (see :attr:`state`); zeros if ``None``.

    Shapes:
        ``stream(x)`` takes ``x (B, I)`` and returns ``(B, P)``, the top layer's new ``h``
        (``P = proj_size or hidden_size``).

    Raises:
        TypeError: ``module`` is not an rnnx recurrent layer or cell.
        ValueError: a bidirectional layer, or a ``batch_size`` below 1.
    """

    def __init__(self, module: nn.Module, batch_size: int = 1, *, state: Any = None) -> None:
        if not isinstance(module, RecurrentLayer | RecurrentCell):
            raise TypeError(
                f"Stream: module must be an rnnx recurrent layer or cell (rnnx.LSTM, rnnx.GRUCell, ...); "
                f"got {type(module).__name__}"
            )
        if isinstance(module, RecurrentLayer) and module.bidirectional:
            raise ValueError(
                "Stream: a bidirectional layer cannot stream: its reverse direction needs the future "
                "of the sequence; got bidirectional=True"
            )
        self.module = module
        self.batch_size = check_int("Stream", "batch_size", batch_size, minimum=1)
        self._layered = isinstance(module, RecurrentLayer)
        cell = module.cell
        self._layers = module.num_layers if isinstance(module, RecurrentLayer) else 1
        sizes = cell.state_sizes(module.hidden_size, getattr(module, "proj_size", 0))
        first = next(iter(module.parameters()))
        # The state, (L, B, size) per state tensor; the compiled kernel updates these in place.
        self._state: tuple[Tensor, ...] = tuple(
            torch.zeros(self._layers, self.batch_size, s, dtype=first.dtype, device=first.device) for s in sizes
        )
        self._kernel_state: tuple[Tensor, ...] = ()
        #: The compiled step (the kernel's bound method), or ``None`` until packed.
        self._step: Callable[[Tensor], Tensor | None] | None = None
        #: False once packing found what the kernel cannot run; reset when the module changes.
        self._packable = True
        _watch(module, self)
        if state is not None:
            self.state = state

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> Any:
        """The state in the module's ``h_n`` form: for a layer ``h (L, B, P)``, or
        ``(h, c)`` for LSTM with ``c (L, B, H)``; for a cell ``h (B, H)`` or ``(h, c)``.

        Reading gives the current state (with its autograd graph on the differentiable path);
        setting checks the shapes and replaces it."""
        state = tuple(s.clone() for s in self._state) if self._on_kernel() else self._state
        if not self._layered:
            state = tuple(s.squeeze(0) for s in state)
        return state[0] if len(state) == 1 else state

    @state.setter
    def state(self, value: Any) -> None:
        names = self.module.cell.state_names
        given = value if isinstance(value, tuple | list) else (value,)
        if len(given) != len(names):
            raise InputError(
                f"Stream: state must be {len(names)} tensor(s) ({', '.join(names)}); got {len(given)} value(s)"
            )
        state = []
        for name, current, new in zip(names, self._state, given, strict=True):
            t = check_tensor("Stream", f"state ({name})", new)
            expected = tuple(current.shape) if self._layered else tuple(current.shape[1:])
            if tuple(t.shape) != expected:
                raise InputError(f"Stream: state ({name}) must have shape {expected}; got {tuple(t.shape)}")
            check_matches("Stream", f"state ({name})", t, dtype=current.dtype, device=current.device, what="state")
            state.append(t if self._layered else t.unsqueeze(0))
        self._state = tuple(state)

    def reset(self, streams: Sequence[int] | Tensor | None = None) -> None:
        """Zero the state of the chosen streams: all of them (``None``), a bool mask ``(B,)``, or
        indices. The others carry on.

        Raises:
            TypeError, ValueError: a mask of the wrong shape, or an index outside ``[0, B)``.
        """
        if streams is None:
            rows = None
        else:
            index = torch.as_tensor(streams) if not isinstance(streams, Tensor) else streams
            if index.dtype == torch.bool:
                if tuple(index.shape) != (self.batch_size,):
                    raise InputError(
                        f"Stream: a reset mask must have shape ({self.batch_size},); got {tuple(index.shape)}"
                    )
                index = index.nonzero().flatten()
            elif index.dtype.is_floating_point or index.dtype.is_complex or index.dim() > 1:
                raise TypeError(
                    f"Stream: reset takes stream indices or a bool mask; got {index.dtype} {tuple(index.shape)}"
                )
            index = index.flatten().to(torch.long)
            if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self.batch_size):
                raise InputError(f"Stream: reset indices must be in [0, {self.batch_size}); got {index.tolist()}")
            rows = index.to(self._state[0].device)
        if self._on_kernel():  # the kernel's buffers: in place
            with torch.no_grad():
                for s in self._state:
                    s.zero_() if rows is None else s.index_fill_(1, rows, 0.0)
        else:
            self._state = tuple(
                torch.zeros_like(s) if rows is None else s.index_fill(1, rows, 0.0) for s in self._state
            )

    def _on_kernel(self) -> bool:
        """Whether the state lives in the compiled kernel's buffers."""
        return self._state is self._kernel_state

    def detach(self) -> None:
        """Cut the state's autograd graph (truncated back-propagation through time)."""
        self._state = tuple(s.detach() for s in self._state)

    # -- stepping ---------------------------------------------------------------------------

    def __call__(self, x: Tensor) -> Tensor:
        """One step: ``x (B, I)`` -> the top layer's new ``h (B, P)``.

        Raises:
            TypeError, ValueError: ``x`` is not a floating-point tensor of shape ``(B, I)`` with
                the module's dtype and device (:class:`rnnx.errors.InputError`, also a
                ``RuntimeError``).
        """
        step = self._step
        if step is not None and self._compiled_now():
            if self._state is not self._kernel_state:
                self._load_state()
            try:  # the kernel checks x itself; the clear error is made only when it refuses
                out: Tensor | None = step(x)
            except (RuntimeError, TypeError):
                self._check_input(x)  # raises the clear error where x is wrong
                if self._step is not None:
                    raise  # x fits and the kernel still refused: let it show
                out = None  # the module moved to x's dtype or device: pack again below
            if out is not None:
                return out
            self._step = None  # a parameter changed since the weights were packed
        self._check_input(x)
        if self._compiled_now() and self._pack(x):
            assert self._step is not None
            out = self._step(x)
            if out is not None:
                return out
        return self._differentiable_step(x)

    def _compiled_now(self) -> bool:
        """Whether this call may take the compiled step: no gradient, evaluation, no autocast."""
        return not torch.is_grad_enabled() and not self.module.training and not torch.is_autocast_enabled("cpu")

    def _check_input(self, x: object) -> None:
        module = self.module
        t = check_tensor("Stream", "x", x)
        if t.dim() != 2 or t.shape[0] != self.batch_size or t.shape[1] != module.input_size:
            raise InputError(
                f"Stream: x must have shape (batch_size, input_size) = ({self.batch_size}, {module.input_size}); "
                f"got {tuple(t.shape)}"
            )
        if t.dtype != self._state[0].dtype or t.device != self._state[0].device:
            self._follow(t)

    def _differentiable_step(self, x: Tensor) -> Tensor:
        module = self.module
        if isinstance(module, RecurrentLayer):
            if module.training and module.recurrent_dropout:
                raise ValueError(
                    "Stream: recurrent_dropout draws one mask per sequence, which a layer stepped one call at a "
                    "time cannot keep; in training, run the layer on whole chunks, or stream its cell"
                )
            hx = self._state if len(self._state) > 1 else self._state[0]
            out, state = module(x.unsqueeze(1 if module.batch_first else 0), hx)
            self._state = state if isinstance(state, tuple) else (state,)
            step: Tensor = out.squeeze(1 if module.batch_first else 0)
            return step
        hx = tuple(s[0] for s in self._state)
        new = module(x, hx if len(hx) > 1 else hx[0])
        new = new if isinstance(new, tuple) else (new,)
        self._state = tuple(s.unsqueeze(0) for s in new)
        h: Tensor = new[0]
        return h

    def _follow(self, x: Tensor) -> None:
        """Bring the state to ``x``'s dtype and device where the module's parameters went there
        (after ``module.double()``, say); else the input is wrong."""
        first = next(iter(self.module.parameters()))
        check_matches("Stream", "x", x, dtype=first.dtype, device=first.device, what="the module's parameters")
        self._state = tuple(s.detach().to(dtype=x.dtype, device=x.device) for s in self._state)
        self._step = None
        self._packable = True

    def _pack(self, x: Tensor) -> bool:
        """Pack the module's current weights for the compiled step; false where it cannot run
        them (a user's cell, a dtype or device it does not take)."""
        module = self.module
        if not self._packable:
            return False
        name = type(module).__name__
        if isinstance(module, RecurrentLayer):
            flat = module._flat_weights
            check_weights(name, module._weight_shapes, flat, x)
            layers = [d[0] for d in module.direction_weights(flat)]
        else:
            flat = [getattr(module, kind) for kind, _ in module._kinds]
            check_weights(name, module._kinds, flat, x)
            layers = [DirectionWeights(dict(zip((k for k, _ in module._kinds), flat, strict=True)))]
        compiled = stream_kernel(module.cell, layers, module.zoneout, flat, self._state, x)
        if compiled is None:
            self._packable = False
            return False
        kernel, buffers = compiled
        self._step = kernel.stack.step  # the bound method keeps the compiled stack alive
        self._kernel_state = buffers
        self._state = self._kernel_state
        return True

    def _load_state(self) -> None:
        """Copy a state set by hand or left by the differentiable path into the kernel's buffers."""
        with torch.no_grad():
            for buffer, s in zip(self._kernel_state, self._state, strict=True):
                buffer.copy_(s)
        self._state = self._kernel_state

    def __repr__(self) -> str:
        return f"Stream({type(self.module).__name__}, batch_size={self.batch_size})"
