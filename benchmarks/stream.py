"""Streaming: the time of one step of a recurrent model, the state carried between calls.

    python benchmarks/stream.py                  # the full table
    python benchmarks/stream.py --quick          # B=1, H=128 only

Per configuration (cell, layers, B, H; I = 32), in interleaved rounds after warm-up, each keeps
its minimum time per step over ``--repeats`` rounds of ``--calls`` steps:

- ``torch.nn cell``: ``nn.LSTMCell`` / ``nn.GRUCell`` (one layer only), the tutorials' loop;
- ``torch.nn layer``: ``nn.LSTM`` / ``nn.GRU`` on a length-1 sequence with the state passed back;
- ``onnxruntime``: the same ``torch.nn`` layer exported to ONNX (one step, state as inputs and
  outputs) and run by onnxruntime with as many threads as torch uses (when it is installed);
- ``rnnx.Stream``: the compiled step (``torch.inference_mode()``).

Every implementation runs under ``torch.inference_mode()`` with the same weights. Ratios are to
onnxruntime when it ran, else to ``torch.nn layer``. The first line names the CPU and the
instruction set torch detected.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

import rnnx
from rnnx.benchmark import interleaved_minimum, machine_line


def _onnxruntime_step(layer: nn.Module, batch: int, features: int) -> Callable[[], None] | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    lstm = isinstance(layer, nn.LSTM)
    rows, hidden = layer.num_layers, layer.hidden_size
    x = torch.randn(1, batch, features)
    h = torch.zeros(rows, batch, hidden)
    names = ["x", "h0", "c0"] if lstm else ["x", "h0"]
    inputs = (x, (h, h.clone())) if lstm else (x, h)
    path = Path(tempfile.mkdtemp()) / "step.onnx"
    with warnings.catch_warnings():  # the exporter's notices about itself and about batch sizes
        warnings.simplefilter("ignore")
        torch.onnx.export(layer, inputs, str(path), input_names=names, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {n: t.numpy() for n, t in zip(names, [x, h, h.clone()], strict=False)}
    out_names = [o.name for o in session.get_outputs()]

    def run() -> None:
        outputs = session.run(out_names, feeds)
        feeds["h0"] = outputs[1]
        if lstm:
            feeds["c0"] = outputs[2]

    return run


def implementations(kind: str, layers: int, batch: int, hidden: int, features: int) -> dict[str, Callable[[], None]]:
    torch.manual_seed(0)
    torch_cls = nn.LSTM if kind == "lstm" else nn.GRU
    layer = torch_cls(features, hidden, layers).eval()
    ours = (rnnx.LSTM if kind == "lstm" else rnnx.GRU).from_torch(layer).eval()
    x = torch.randn(batch, features)
    jobs: dict[str, Callable[[], None]] = {}
    onnx = _onnxruntime_step(layer, batch, features)
    if onnx is not None:
        jobs["onnxruntime"] = onnx
    if layers == 1:
        cell_cls = nn.LSTMCell if kind == "lstm" else nn.GRUCell
        cell = cell_cls(features, hidden)
        cell_state: list[object] = [None]

        def cell_step() -> None:
            cell_state[0] = cell(x, cell_state[0])  # type: ignore[arg-type]

        jobs["torch.nn cell"] = cell_step
    layer_state: list[object] = [None]
    seq = x.unsqueeze(0)

    def layer_step() -> None:
        _, layer_state[0] = layer(seq, layer_state[0])

    jobs["torch.nn layer"] = layer_step
    stream = rnnx.Stream(ours, batch_size=batch)
    jobs["rnnx.Stream"] = lambda: stream(x)  # type: ignore[assignment,return-value]
    return jobs


def measure(jobs: dict[str, Callable[[], None]], *, calls: int, repeats: int) -> dict[str, float]:
    with torch.inference_mode():
        return interleaved_minimum(jobs, repeats=repeats, warmup=calls // 4, calls=calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="B=1, H=128 only")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"{machine_line()}; numpy {np.__version__}")
    batches, hiddens = ((1,), (128,)) if args.quick else ((1, 16, 256), (64, 128, 512))
    print("| model | B | H | implementation | us per step | ratio |")
    print("|---|---:|---:|---|---:|---:|")
    for kind, layers in (("lstm", 1), ("gru", 1), ("lstm", 2)):
        for batch in batches:
            for hidden in hiddens:
                best = measure(implementations(kind, layers, batch, hidden, 32), calls=args.calls, repeats=args.repeats)
                base = best.get("onnxruntime", best["torch.nn layer"])
                for name, seconds in best.items():
                    label = f"{layers}-layer {kind.upper()}"
                    print(f"| {label} | {batch} | {hidden} | {name} | {seconds * 1e6:.1f} | {seconds / base:.2f} |")


if __name__ == "__main__":
    main()
