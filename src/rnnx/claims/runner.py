"""Run the claims, print the table, write ``claims.json``."""

from __future__ import annotations

import importlib
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from rnnx import _files as files
from rnnx.claims.base import Claim, ClaimResult, Settings, run_claim
from rnnx.lab.outputs import Output

# Claim number -> the module that tests it (imported only when run: each pulls in what it needs).
MODULES: dict[int, str] = {
    1: "rnnx.claims.speed",
    2: "rnnx.claims.memory",
    3: "rnnx.claims.gradients",
    4: "rnnx.claims.normalisation",
    5: "rnnx.claims.gru_lstm",
    6: "rnnx.claims.attention",
    7: "rnnx.claims.dropout",
}


def load(number: int) -> Claim:
    """The :class:`Claim` with this number.

    Raises:
        ValueError: no claim has this number.
    """
    if number not in MODULES:
        raise ValueError(f"claims: no claim {number}; available: {sorted(MODULES)}")
    claim: Claim = importlib.import_module(MODULES[number]).CLAIM
    return claim


def run_claims(
    numbers: Sequence[int], settings: Settings, *, echo: Callable[[str], None] = lambda _: None
) -> list[ClaimResult]:
    """Run the given claims in order; plots and ``claims.json`` go to ``settings.out_dir``.

    Raises:
        ValueError: an unknown claim number.
    """
    claims = [load(n) for n in numbers]  # fail on a bad number before any work
    Output.claim(settings.out_dir, "claims")  # a new or empty folder, or one rnnx claims wrote
    threads = torch.get_num_threads()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    try:
        results = []
        for claim in claims:
            echo(f"claim {claim.number} ({claim.title}) ...")
            result = run_claim(claim, settings)
            echo(f"claim {claim.number}: {result.verdict.outcome} ({result.seconds:.0f} s)")
            results.append(result)
        write_json(results, settings.out_dir / "claims.json")
    finally:
        torch.set_num_threads(threads)
    return results


def environment() -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def write_json(results: Sequence[ClaimResult], path: Path) -> None:
    """``{"environment": ..., "claims": [...]}``, written atomically."""
    payload = {"environment": environment(), "claims": [r.to_json() for r in results]}
    files.write_json(path, payload)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_table(results: Sequence[ClaimResult]) -> str:
    """A Markdown table: claim, what was measured, verdict (with its reason)."""
    lines = ["| # | claim (as tutorials state it) | measured | verdict |", "|---|---|---|---|"]
    for r in results:
        verdict = f"**{r.verdict.outcome}**: {r.verdict.reason}" if r.verdict.reason else f"**{r.verdict.outcome}**"
        lines.append(f"| {r.number} | {_cell(r.statement)} | {_cell(r.measured)} | {_cell(verdict)} |")
    return "\n".join(lines)
