"""The README's two commands stay true: CI runs the same steps as the test command, and the
demo command runs the demo that tests/test_demo.py checks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_opens_with_demo_and_test_commands() -> None:
    demo, test = commands()[:2]
    assert demo.endswith(".venv/bin/python examples/demo.py")
    assert test.startswith("python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && ")
    assert (ROOT / "examples" / "demo.py").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    test = commands()[1]
    ci = (ROOT / ".ci" / "run").read_text()
    steps = [step.strip() for step in test.split("&&")]
    assert steps[1] == ".venv/bin/pip install torch==2.13.0"
    assert ".venv/bin/pip install --disable-pip-version-check -q torch==2.13.0" in ci
    assert '.venv/bin/pip install --disable-pip-version-check -q -e ".[test]"' in ci
    assert steps[2] == '.venv/bin/pip install -e ".[test]"'
    assert ci.rstrip().endswith(steps[3])
