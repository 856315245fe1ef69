"""The first example of docs/inspection.md runs as written and gives the shapes it states."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "inspection.md"


def test_trace_example_runs_with_the_shapes_it_states() -> None:
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    call = namespace["call"]
    assert call[0]["f"].shape == (20, 4, 16)
    assert call[1, 1].h.shape == (20, 4, 16)
    assert call[0].c.shape == (20, 4, 16)
    assert call[0].lengths.tolist() == [20] * 4
