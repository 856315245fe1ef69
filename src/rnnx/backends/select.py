"""Choosing the backend that runs a call: the one place where the decision is made.

A layer module asks :func:`choose` on every call with a :class:`~rnnx.backends.call.LayerCall`;
:func:`choose` asks each backend of :data:`REGISTRY` why it cannot run the call (``None`` when it
can) and whether it was measured faster, and applies the rule (:func:`choose_backend`, or while
exporting :func:`choose_for_export`). The module hands the call to :func:`run` and keeps the
choice as ``module.backend_choice``, so users can see what ``"auto"`` chose and why. A
single-step cell module asks :func:`choose_cell`; both ask :func:`check_request` when built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.jit._trace import is_tracing  # torch.jit does not re-export it for type checkers

from rnnx._checks import check_choice
from rnnx.backends.call import Backend, LayerCall, LayerResult
from rnnx.backends.export import GraphBackend, OnnxLstmBackend
from rnnx.backends.fused import FusedBackend
from rnnx.backends.native import NativeBackend
from rnnx.backends.reference import ReferenceBackend
from rnnx.backends.step import StepBackend
from rnnx.cells import State

BACKENDS = ("auto", "reference", "native", "fused")
"""``"reference"``: the cell equations in :mod:`rnnx.cells` run by :mod:`rnnx.recurrence`.
``"native"``: PyTorch's fused kernels (cuDNN on GPU, oneDNN or ATen on CPU).
``"fused"``: rnnx's own fused CPU kernels (:mod:`rnnx.fused`), for the variants too.
``"auto"``: the fastest that can run the configuration (see :func:`choose_backend`)."""

TRACED = "rnnx.trace records this call step by step"
"""The reason a call runs on the reference path while :func:`rnnx.trace` records its module."""


SINGLE_STEP = "the fused kernels run whole sequences; a single-step cell has none"
"""Why a cell module never runs on the fused kernels."""

_NATIVE, _FUSED, _STEP = NativeBackend(), FusedBackend(), StepBackend()

REGISTRY: dict[str, Backend] = {
    b.name: b for b in (ReferenceBackend(), _NATIVE, _FUSED, _STEP, GraphBackend(), OnnxLstmBackend())
}
"""Every backend by the name :class:`BackendChoice` gives it."""


@dataclass(frozen=True)
class BackendChoice:
    """What ran a call, and why.

    Attributes:
        backend: ``"native"``, ``"fused"``, ``"reference"`` or ``"step"`` (inference through the
            streaming step kernel, :func:`rnnx.fused.stream.infer_sequence`); while exporting also ``"graph"``
            (one scan over time) or ``"onnx-lstm"`` (ONNX's ``LSTM`` node with its peephole input).
        requested: the module's ``backend`` setting (one of :data:`BACKENDS`).
        reason: why ``backend`` ran: the request itself, or the rule ``"auto"`` applied.
    """

    backend: str
    requested: str
    reason: str

    def __str__(self) -> str:
        return f"{self.backend}: {self.reason}"


def check_backend(owner: str, backend: object) -> str:
    """Return ``backend`` if it names a backend, else raise ``ValueError``."""
    return check_choice(owner, "backend", backend, BACKENDS)


def choose_backend(
    owner: str,
    requested: str,
    *,
    native: str | None,
    fused: Callable[[], str | None],
    fused_faster: str | None = None,
    step_faster: str | None = None,
) -> BackendChoice:
    """The backend that runs a call.

    ``"auto"`` takes rnnx's step kernel for inference at small batch sizes (``step_faster``);
    else rnnx's fused kernel where it was measured faster than PyTorch's (``fused_faster``) and
    can run the call; else PyTorch's kernel where it can; else the fused kernel where it can;
    else the reference path. An explicit request runs as asked or raises: it is never silently
    downgraded.

    Args:
        owner: the module's name, for messages.
        requested: the module's ``backend``, one of :data:`BACKENDS`.
        native: why PyTorch's kernels cannot run this call, or ``None``.
        fused: gives why rnnx's fused kernels cannot run it, or ``None``; called only when the
            answer matters (it may build the kernels).
        fused_faster: why the fused kernel is the faster one for this call, or ``None``.
        step_faster: why the streaming step kernel, run over the whole sequence, is the fastest
            for this inference call (:func:`rnnx.fused.stream.sequence_faster`), or ``None``.

    Raises:
        ValueError: ``"native"`` or ``"fused"`` was asked for a call it cannot run; the message
            says why.
    """
    if requested == "reference":
        return BackendChoice("reference", requested, "requested")
    if requested in ("native", "fused"):
        reason = native if requested == "native" else fused()
        if reason:
            raise ValueError(
                f"{owner}: backend={requested!r} cannot run this configuration: {reason}. "
                "Use backend='auto' or backend='reference'."
            )
        return BackendChoice(requested, requested, "requested")
    if step_faster:
        return BackendChoice("step", requested, step_faster)
    fused_reason = fused() if fused_faster or native else None
    if fused_faster and fused_reason is None:
        return BackendChoice("fused", requested, fused_faster)
    if native is None:
        why = "PyTorch's own kernel runs this configuration"
        if fused_faster:
            why += f" (the faster fused kernel cannot: {fused_reason})"
        return BackendChoice("native", requested, why)
    if fused_reason is None:
        return BackendChoice("fused", requested, f"PyTorch's kernels cannot run it ({native})")
    return BackendChoice(
        "reference", requested, f"PyTorch's kernels cannot run it ({native}), nor the fused kernel ({fused_reason})"
    )


def export_mode() -> str | None:
    """``"graph"`` while ``torch.export`` (or ``torch.onnx.export(..., dynamo=True)``) captures a
    program, ``"trace"`` while ``torch.jit.trace`` (or the TorchScript-based ONNX exporter)
    records one, ``None`` otherwise."""
    if torch.compiler.is_exporting():
        return "graph"
    if is_tracing():
        return "trace"
    return None


def choose_for_export(
    owner: str,
    requested: str,
    mode: str,
    *,
    native: str | None,
    random: str | None,
    packed: bool,
    onnx_lstm: str | None = "only an LSTM with peephole=True takes that form",
) -> BackendChoice:
    """The backend that exports a call, so that the program runs at any sequence length and batch.

    - Tracing (``torch.jit.trace``, the TorchScript-based ONNX exporter) records the operations
      one example runs, so a Python time loop would be unrolled for its length: only PyTorch's own
      kernel (``"native"``, ONNX's ``LSTM``/``GRU``/``RNN`` nodes) exports, and under
      ``torch.onnx.export`` the peephole LSTM, as ONNX's ``LSTM`` node with its input ``P``
      (``"onnx-lstm"``, :mod:`rnnx.backends.onnx_lstm`).
    - Capture (``torch.export``, ``dynamo=True``): PyTorch's kernel where asked for, else the
      cell's equations in one ``scan`` over time (``"graph"``, an ONNX ``Scan``).

    Args:
        owner: the module's name, for messages.
        requested: the module's ``backend``.
        mode: what :func:`export_mode` said.
        native: why PyTorch's kernels cannot run this call, or ``None``.
        random: which random regulariser is active (training mode), or ``None``.
        packed: whether the input is a ``PackedSequence``.
        onnx_lstm: why ONNX's ``LSTM`` node with its peephole input cannot export this call
            (:func:`rnnx.backends.onnx_lstm.onnx_lstm_unsupported`), or ``None``.

    Raises:
        ValueError: what cannot be exported without fixing the sequence length, with the reason
            and what to do instead. Never a program specialised to the example.
    """
    if random is not None:
        raise ValueError(
            f"{owner}: cannot export a layer in training mode with {random} (its masks are drawn per call); "
            "call .eval() before exporting"
        )
    if requested == "fused":
        raise ValueError(
            f"{owner}: backend='fused' has no exported form (rnnx's C++ kernel); export with backend='auto'"
        )
    if mode == "trace" or requested == "native":
        node = mode == "trace" and requested != "native"  # ONNX's LSTM node with P may export it
        if native is not None and node and onnx_lstm is None:
            return BackendChoice("onnx-lstm", requested, "exporting: ONNX's LSTM node with its peephole input P")
        if native is not None:
            nor = f", nor ONNX's LSTM node with its peephole input P ({onnx_lstm})" if node else ""
            raise ValueError(
                f"{owner}: tracing (torch.jit.trace or torch.onnx.export(..., dynamo=False)) would unroll the time "
                f"loop for the example's length: only PyTorch's own kernel traces, and it cannot run this "
                f"configuration ({native}){nor}; export with torch.onnx.export(..., dynamo=True) or "
                "torch.export.export"
            )
        return BackendChoice("native", requested, "exporting: PyTorch's kernel (ONNX's own recurrent node)")
    if packed:
        raise ValueError(
            f"{owner}: cannot export a call on a PackedSequence (its lengths are data); export on a padded "
            "(T, B, I) batch"
        )
    return BackendChoice("graph", requested, "exporting: the cell's equations as one scan over time (ONNX Scan)")


def check_request(owner: str, requested: str, *, native: str | None) -> None:
    """At construction: refuse ``backend="native"`` for a module PyTorch's kernels cannot run
    (``native``: why, in evaluation mode), so it fails when built, not at its first call."""
    if requested == "native":
        choose_backend(owner, "native", native=native, fused=lambda: None)


def choose(call: LayerCall) -> BackendChoice:
    """The backend that runs one layer call: the reference loop while :func:`rnnx.trace` records
    the layer; while exporting, :func:`choose_for_export`; otherwise :func:`choose_backend`'s rule
    on what each backend says of the call."""
    layer = call.layer
    if call.traced is not None:
        return BackendChoice("reference", layer.backend, TRACED)
    mode = export_mode()
    if mode is not None:
        return _choose_for_export(call, mode)
    return choose_backend(
        call.owner,
        layer.backend,
        native=_NATIVE.unsupported(call),
        fused=lambda: _FUSED.unsupported(call),
        fused_faster=_FUSED.faster(call),
        step_faster=_STEP.faster(call) if layer.backend == "auto" else None,
    )


def run(call: LayerCall, choice: BackendChoice, state: State, weights: list[Tensor]) -> LayerResult:
    """Run ``call`` on the backend ``choice`` names (see :class:`~rnnx.backends.call.Backend`)."""
    return REGISTRY[choice.backend].run(call, state, weights)


def choose_cell(owner: str, requested: str, *, native: str | None, traced: bool = False) -> BackendChoice:
    """The backend that runs one step of a cell module: ``native`` is why PyTorch's cell kernel
    cannot, ``traced`` whether :func:`rnnx.trace` records the cell (then the reference step runs)."""
    if traced:
        return BackendChoice("reference", requested, TRACED)
    return choose_backend(owner, requested, native=native, fused=lambda: SINGLE_STEP)


def refuse_packed_export(owner: str, requested: str, packed: bool) -> None:
    """Refuse a ``PackedSequence`` while ``torch.export`` captures a program, before its lengths
    (data) are read."""
    if packed and export_mode() == "graph":
        choose_for_export(owner, requested, "graph", native=None, random=None, packed=True)


def _choose_for_export(call: LayerCall, mode: str) -> BackendChoice:
    layer = call.layer
    random = [
        name
        for name, active in (
            ("dropout", layer.dropout > 0 and layer.num_layers > 1),
            ("zoneout", any(layer.zoneout)),
            ("recurrent_dropout", layer.recurrent_dropout > 0),
            ("weight_drop", layer.weight_drop > 0),
        )
        if active
    ]
    return choose_for_export(
        call.owner,
        layer.backend,
        mode,
        native=layer.native_unsupported(),
        random=", ".join(random) if layer.training and random else None,
        packed=call.seq.packed,
        onnx_lstm=REGISTRY["onnx-lstm"].unsupported(call),
    )
