"""Plots: the panels and lines they promise, written as PNG files, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import rnnx
from rnnx.inspection.plots import file_mode, plot_gates, plot_gradient_flow

PNG = b"\x89PNG\r\n\x1a\n"


def test_gate_heatmaps_one_panel_per_name_over_the_sequence_length(tmp_path: Path) -> None:
    model = rnnx.LSTM(3, 4)
    x = torch.randn(6, 2, 3)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor([6, 4]))
    with rnnx.trace(model) as tr:
        model(packed)
    path = tmp_path / "sub" / "gates.png"
    figure = plot_gates(tr[""][0], sequence=1, path=path)
    panels = [ax for ax in figure.axes if ax.get_ylabel()]
    assert [ax.get_ylabel().split("\n")[0] for ax in panels] == ["i", "f", "g", "o", "h", "c"]
    image = panels[1].images[0].get_array()
    assert image.shape == (4, 4), "units x the sequence's own length"
    torch.testing.assert_close(torch.as_tensor(image.data), tr[""][0]["f"][:4, 1].T)
    assert path.read_bytes().startswith(PNG)
    assert [p.name for p in path.parent.iterdir()] == ["gates.png"], "no temporary file left"
    assert path.stat().st_mode & 0o777 == file_mode(), "an ordinary file, not mkstemp's private one"
    only = plot_gates(tr[""][0], names=["f"], inputs=x[:, 0])
    assert [ax.get_ylabel().split("\n")[0] for ax in only.axes if ax.get_ylabel()] == ["input", "f"]
    torch.testing.assert_close(torch.as_tensor(only.axes[0].images[0].get_array().data), x[:, 0].T)
    with pytest.raises(IndexError, match="sequence must be in \\[0, 2\\); got 2"):
        plot_gates(tr[""][0], sequence=2)


def test_gradient_flow_plot_is_log_scale_against_distance(tmp_path: Path) -> None:
    path = tmp_path / "flow.png"
    figure = plot_gradient_flow({"a": [1e-3, 1e-2, 1.0], "b": torch.tensor([0.0, 2.0, 1.0])}, path=path)
    ax = figure.axes[0]
    assert ax.get_yscale() == "log"
    (a, b) = ax.get_lines()
    assert a.get_xdata().tolist() == [2, 1, 0]  # the last step is at distance 0
    assert a.get_ydata().tolist() == [1e-3, 1e-2, 1.0]
    assert b.get_xdata().tolist() == [1, 0], "a zero cannot be drawn on a log axis"
    assert path.read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="curves is empty"):
        plot_gradient_flow({})
    with pytest.raises(ValueError, match="the curve 'x' has no values"):
        plot_gradient_flow({"x": []})
