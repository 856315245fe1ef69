"""examples/stream_vad.py: a detector trained on sequences streams frame by frame with the same answers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_stream_example_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "stream_vad.py"), "--steps", "40", "--frames", "300"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    difference = re.search(r"largest difference from the whole-sequence run: (\S+)", result.stdout)
    assert difference is not None, result.stdout
    assert float(difference.group(1)) < 1e-5
    assert re.search(r"latency per frame \(GRU step and head\): median [\d.]+ us", result.stdout)
    accuracy = re.search(r"trained 40 steps: frame accuracy ([\d.]+)%", result.stdout)
    assert accuracy is not None
    assert float(accuracy.group(1)) > 60  # above the share of silent frames a constant answer gets
