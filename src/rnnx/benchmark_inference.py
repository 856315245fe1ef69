"""Timing inference (no gradient) against torch.nn and onnxruntime, in one process.

``rnnx bench --suite inference``: per shape, the forward pass under ``torch.inference_mode()`` of
``torch.nn``, rnnx ``auto``, rnnx's fused kernel and its streaming step kernel run over the whole
sequence, and onnxruntime running the same layer
exported to ONNX (``torch.nn``'s through the TorchScript exporter, as its own ``LSTM``/``GRU``
node; the layer-norm LSTM, which ``torch.nn`` lacks, from rnnx's own export, an ONNX ``Scan``).
onnxruntime gets as many threads as torch, without spinning between runs (its threads would take
the cores from the job timed next). The implementations of a shape are timed in
interleaved rounds after warm-up; each keeps its minimum. Ratios are to onnxruntime where it ran,
else to the group's first row.
"""

from __future__ import annotations

import importlib
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import rnnx
from rnnx.benchmark import SHAPES, Shape, interleaved_minimum

ONNXRUNTIME = "onnxruntime"


@dataclass(frozen=True)
class Group:
    """What one inference group times: a torch.nn layer (or ``None``) and rnnx's equivalent."""

    torch_cls: type[nn.Module] | None
    rnnx_cls: type[nn.Module]
    options: dict[str, Any]


GROUPS: dict[str, Group] = {
    "lstm": Group(nn.LSTM, rnnx.LSTM, {}),
    "gru": Group(nn.GRU, rnnx.GRU, {}),
    "layernorm-lstm": Group(None, rnnx.LSTM, {"layer_norm": True}),
}


@dataclass
class InferenceTiming:
    """Best seconds per forward call of one implementation on one shape."""

    group: str
    shape: Shape
    implementation: str
    seconds: float


def _session(module: nn.Module, x: torch.Tensor, *, rnnx_export: bool) -> Callable[[], None] | None:
    """An onnxruntime run of ``module`` on ``x``, or ``None`` without onnxruntime."""
    try:
        ort: Any = importlib.import_module("onnxruntime")  # an optional extra, without type stubs
    except ImportError:
        return None
    path = Path(tempfile.mkdtemp()) / "model.onnx"
    with warnings.catch_warnings():  # the exporters' notes about themselves
        warnings.simplefilter("ignore")
        if rnnx_export:
            import rnnx.export

            rnnx.export.onnx(module, path, example=x)
        else:
            torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["input"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    # Its threads would otherwise spin after each run, taking the cores from the next timed job.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {"input": x.numpy()}
    return lambda: session.run(None, feed) and None


def _forward(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        with torch.inference_mode():
            module(x)

    return run


def _step_kernel(module: Any, x: torch.Tensor) -> Callable[[], None]:
    """The streaming step kernel over the whole sequence, whatever ``auto`` would choose (the
    row that tells where its rule should draw the line): the step backend on the layer's call."""
    from rnnx.backends import REGISTRY, LayerCall
    from rnnx.modules.inputs import read_input

    seq = read_input(type(module).__name__, x, input_size=module.input_size, batch_first=module.batch_first)
    state = module._initial_state(None, seq, seq.data)
    weights = module._flat_weights
    call = LayerCall(module, seq)

    def run() -> None:
        with torch.inference_mode():
            REGISTRY["step"].run(call, state, weights)

    return run


def time_inference(group: str, shape: Shape, *, repeats: int, warmup: int = 2) -> list[InferenceTiming]:
    """Time every implementation of ``group`` on one shape, interleaved."""
    steps, batch, features, hidden = shape
    spec = GROUPS[group]
    torch.manual_seed(0)
    ours = spec.rnnx_cls(features, hidden, **spec.options).eval()
    x = torch.randn(steps, batch, features)
    jobs: dict[str, Callable[[], None]] = {}
    if spec.torch_cls is not None:
        theirs = spec.torch_cls(features, hidden).eval()
        ours.load_state_dict(theirs.state_dict())
        jobs["torch.nn"] = _forward(theirs, x)
        runtime = _session(theirs, x, rnnx_export=False)
    else:
        runtime = _session(ours, x, rnnx_export=True)
    if runtime is not None:
        jobs[ONNXRUNTIME] = runtime
    jobs["rnnx auto"] = _forward(ours, x)
    fused = spec.rnnx_cls(features, hidden, backend="fused", **spec.options).eval()
    fused.load_state_dict(ours.state_dict())
    jobs["rnnx fused"] = _forward(fused, x)
    jobs["rnnx step kernel"] = _step_kernel(ours, x)
    best = interleaved_minimum(jobs, repeats=repeats, warmup=warmup)
    return [InferenceTiming(group, shape, name, seconds) for name, seconds in best.items()]


def run(
    groups: Sequence[str] = tuple(GROUPS),
    shapes: Sequence[Shape] = SHAPES,
    *,
    repeats: int = 10,
    echo: Callable[[str], None] | None = None,
) -> list[InferenceTiming]:
    """Time every group on every shape; ``echo`` receives one line per finished shape."""
    timings: list[InferenceTiming] = []
    for group in groups:
        for shape in shapes:
            row = time_inference(group, shape, repeats=repeats)
            timings += row
            if echo is not None:
                echo(f"{group} {shape}: " + ", ".join(f"{t.implementation} {t.seconds * 1e3:.2f} ms" for t in row))
    return timings


def format_table(timings: Sequence[InferenceTiming]) -> str:
    """A Markdown table of milliseconds with ratios to onnxruntime (else the group's first row)."""
    base: dict[tuple[str, Shape], InferenceTiming] = {}
    for t in timings:
        key = (t.group, t.shape)
        if key not in base or t.implementation == ONNXRUNTIME:
            base[key] = t
    lines = ["| group | T, B, I, H | implementation | forward ms | ratio |", "|---|---|---|---:|---:|"]
    for t in timings:
        b = base[(t.group, t.shape)]
        lines.append(
            f"| {t.group} | {', '.join(map(str, t.shape))} | {t.implementation} | "
            f"{t.seconds * 1e3:.2f} | {t.seconds / b.seconds:.2f} |"
        )
    return "\n".join(lines)
