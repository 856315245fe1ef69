"""The README's demo runs, reproduces the tutorials' shapes and trains."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_demo():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("demo", ROOT / "examples" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sine_gru_loss_falls() -> None:
    first, last = load_demo().train_sine(60)
    assert last < first / 10


def test_demo_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--steps", "20"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "RNN(5, 10, 2) on (6, 3, 5): output (6, 3, 10), h_n (2, 3, 10)" in result.stdout
    assert "out[-1] == h_n[-1]: True | same as torch.nn.RNN: True" in result.stdout
    assert result.stdout.count("output (1, 10, 16), h_n (4, 1, 8)") == 3
    assert "same as torch.nn.LSTM: True" in result.stdout
    assert "same as torch.nn.GRU: True" in result.stdout


def test_demo_rejects_bad_steps() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--steps", "0"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "--steps must be >= 1; got 0" in result.stderr
