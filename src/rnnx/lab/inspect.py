"""Gate heatmaps and the gradient-flow plot of a trained lab run (``rnnx inspect``).

A run directory (``rnnx train --out DIR``) holds ``config.json`` and the weights; the model is
rebuilt with :func:`rnnx.lab.runs.load_run`, fed a few sequences of its own task, traced, and
its gradient flow measured with the task's own loss.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from rnnx.inspection.gradients import gradient_flow
from rnnx.inspection.plots import plot_gates, plot_gradient_flow
from rnnx.inspection.trace import trace

SPLITS = ("train", "valid", "test")
_SELECTION = re.compile(r"^(train|valid|test):(\d+)(?:-(\d+))?$")


def parse_selection(text: str) -> tuple[str, list[int]]:
    """``"valid:0"`` -> ``("valid", [0])``; ``"test:2-5"`` -> ``("test", [2, 3, 4, 5])``.

    Raises:
        ValueError: anything else; the message shows the accepted forms.
    """
    match = _SELECTION.match(text.strip())
    if match is None:
        raise ValueError(f"--input must be SPLIT:INDEX or SPLIT:FIRST-LAST with SPLIT in {SPLITS}; got {text!r}")
    split, first, last = match.group(1), int(match.group(2)), match.group(3)
    end = first if last is None else int(last)
    if end < first:
        raise ValueError(f"--input: the range {first}-{end} is empty; give FIRST <= LAST")
    return split, list(range(first, end + 1))


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "model"


def inspect_run(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    selection: str = "valid:0",
    weights: str = "best",
) -> list[Path]:
    """Write ``trace_<layer>_l<k>[_reverse].png`` (the gates and states of the first selected
    sequence, for every traced layer and direction) and ``gradient_flow.png`` (the norm of
    ``dLoss/dh_t`` of every layer over the selected sequences, loss = the task's training loss).

    Args:
        run_dir: a lab run directory.
        out_dir: where the PNGs go (created).
        selection: which sequences of the run's task, e.g. ``"valid:0"`` or ``"test:0-7"``.
        weights: ``"best"`` or ``"latest"``.

    Returns:
        The paths written.

    Raises:
        FileNotFoundError: ``run_dir`` is not a run directory or lacks the weights.
        ValueError: a bad selection, an index past the split, or a model without rnnx
            recurrent layers (a Transformer or ConvNet run).
    """
    from rnnx.lab.runs import load_run

    split, rows = parse_selection(selection)
    model, task, config = load_run(Path(run_dir), weights=weights)
    data = task.split(split)
    if rows[-1] >= len(data):
        raise ValueError(f"--input: {split} has {len(data)} sequences; got index {rows[-1]}")
    batch = data.take(torch.tensor(rows))
    model.eval()
    out = Path(out_dir)
    written: list[Path] = []
    try:
        recorder = trace(model)
    except ValueError as error:
        raise ValueError(
            f"run {str(run_dir)!r} (model {config.model!r}) has no rnnx recurrent layer to inspect"
        ) from error
    with torch.no_grad(), recorder as tr:
        model(batch.inputs, batch.lengths)
    first = tr.calls()[0].name  # the layer that reads the inputs
    for call in tr.calls():
        for record in call:
            suffix = "_reverse" if record.direction else ""
            path = out / f"trace_{_file_name(call.name)}_l{record.layer}{suffix}.png"
            where = f"{call.name or 'model'} layer {record.layer}{suffix}"
            title = f"{config.model} on {task.name}: {where}, {split}[{rows[0]}]"
            features = batch.inputs[0] if batch.inputs.dim() == 3 else None  # token ids are not drawn
            plot_gates(record, sequence=0, inputs=features if call.name == first else None, title=title, path=path)
            written.append(path)
    flow = gradient_flow(model, (batch.inputs, batch.lengths), lambda output: task.loss(output, batch))
    curves = {f"{f.name or 'model'} layer {f.layer}{' reverse' if f.direction else ''}": f.norms for f in flow.flows}
    path = out / "gradient_flow.png"
    plot_gradient_flow(curves, title=f"{config.model} on {task.name}: gradient reaching each step", path=path)
    written.append(path)
    return written
