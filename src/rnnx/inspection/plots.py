"""Plots of traces and gradient flow (matplotlib, headless: figures are drawn with Agg and never
shown). matplotlib is part of the ``lab`` extra: ``pip install rnnx[lab]``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from rnnx.inspection.records import DirectionTrace

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Gates squashed by a sigmoid live in [0, 1]; candidates and h (tanh) in [-1, 1].
_UNIT_RANGE = {"i", "f", "o", "r", "z"}
_SIGNED_RANGE = {"g", "n", "h"}


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas, outside pyplot (no global state, no display)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - matplotlib is a test dependency
        raise ImportError("rnnx plots need matplotlib: pip install 'rnnx[lab]'") from error
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def file_mode() -> int:
    """The mode ``open()`` would give a new file: ``0o666`` less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def save_figure(figure: Figure, path: str | os.PathLike[str], *, dpi: int = 100) -> Path:
    """Write ``figure`` as PNG atomically (a temporary file in the same folder, then
    :func:`os.replace`), creating the folder. Returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as handle:
            figure.savefig(handle, format="png", dpi=dpi)
        os.chmod(temp, file_mode())  # mkstemp makes it private; a saved plot is an ordinary file
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def plot_gates(
    record: DirectionTrace,
    *,
    sequence: int = 0,
    names: Sequence[str] | None = None,
    inputs: Tensor | None = None,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Heatmaps over time of each gate and state of one sequence: one panel per name, units
    on the vertical axis, steps on the horizontal one (up to the sequence's length).

    Args:
        record: one layer and direction of a trace, e.g. ``tr["lstm"][0]``.
        sequence: which sequence of the batch.
        names: the gates and states to show, in order; default all (gates first).
        inputs: that sequence's input ``(T, F)``, shown in a first panel (features over time).
        title: the figure's title.
        path: also write the PNG here.

    Raises:
        IndexError: ``sequence`` is not in the batch.
        KeyError: a name is not in the trace.
    """
    batch = int(record.lengths.shape[0])
    if not 0 <= sequence < batch:
        raise IndexError(f"plot_gates: sequence must be in [0, {batch}); got {sequence}")
    shown = list(names) if names is not None else list(record.names)
    length = int(record.lengths[sequence])
    panels = len(shown) + (inputs is not None)
    figure = new_figure(8.0, 1.2 + 1.5 * panels)
    axes = list(figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0])
    if inputs is not None:
        ax = axes.pop(0)
        values = inputs[:length].T.float().cpu().numpy()  # (features, time)
        image = ax.imshow(values, aspect="auto", cmap="Greys", interpolation="nearest")
        ax.set_ylabel("input\nfeature")
        if values.shape[0] <= 10:
            ax.set_yticks(range(values.shape[0]))
        figure.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    for ax, name in zip(axes, shown, strict=True):
        values = record[name][:length, sequence].T.float().cpu().numpy()  # (units, time)
        if name in _UNIT_RANGE:
            image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            bound = 1.0 if name in _SIGNED_RANGE else max(float(abs(values).max()), 1e-12)
            image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_ylabel(f"{name}\nunit")
        figure.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    axes[-1].set_xlabel("time step")
    figure.suptitle(title or f"layer {record.layer}, direction {record.direction}, sequence {sequence}")
    if path is not None:
        save_figure(figure, path)
    return figure


def plot_gradient_flow(
    curves: Mapping[str, Tensor | Sequence[float]],
    *,
    title: str = "Gradient reaching each step",
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """:math:`\\lVert \\partial L / \\partial h_t \\rVert` against the distance from the loss,
    one line per model, log scale.

    Args:
        curves: per label, the norms ``(T,)`` in time order (e.g. ``flow.get("lstm").norms``);
            the loss is taken to read the last step, so step ``t`` is at distance ``T - 1 - t``.
        title: the figure's title.
        path: also write the PNG here.

    Raises:
        ValueError: ``curves`` is empty or a curve has no values.
    """
    if not curves:
        raise ValueError("plot_gradient_flow: curves is empty; give at least one label -> norms")
    figure = new_figure(7.0, 4.5)
    ax = figure.add_subplot()
    for label, norms in curves.items():
        values = torch.as_tensor(norms, dtype=torch.float64).flatten()
        if values.numel() == 0:
            raise ValueError(f"plot_gradient_flow: the curve {label!r} has no values")
        distance = torch.arange(values.numel() - 1, -1, -1)
        positive = values > 0  # a log axis cannot show an exact zero
        ax.plot(distance[positive].numpy(), values[positive].numpy(), label=label)
    ax.set_yscale("log")
    ax.set_xlabel("distance from the loss (steps)")
    ax.set_ylabel("‖∂L/∂h_t‖")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if path is not None:
        save_figure(figure, path)
    return figure
