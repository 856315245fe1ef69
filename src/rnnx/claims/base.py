"""What every claim experiment shares: its settings, its verdict and its result.

A claim is a module with a ``CLAIM`` (:class:`Claim`): the statement as tutorials make it, a
``measure`` function that runs the experiment and returns plain numbers, a pure ``verdict``
function from those numbers to a :class:`Verdict`, and a ``plot`` function. The verdict is never
written down in advance: other numbers give another verdict (the tests feed each verdict
function synthetic numbers for every outcome).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

HOLDS = "holds"
FAILS = "does not hold"
DEPENDS = "depends"
UNDECIDED = "cannot decide"  # the experiment could not tell the compared models apart
OUTCOMES = (HOLDS, FAILS, DEPENDS, UNDECIDED)

# "Faster" and "better" need a margin: timings on a shared CPU move by a few percent run to run.
FASTER = 0.95  # a is faster than b when time_a < FASTER * time_b


@dataclass(frozen=True)
class Settings:
    """How hard to measure.

    Attributes:
        quick: the small version of every experiment (all seven in minutes on 2 cores).
        seeds: repetitions with different seeds where a claim trains models.
        out_dir: where plots (and ``claims.json``) go.
        threads: torch's intra-op threads while the claims run (``None``: torch's default). On
            a CPU that other work shares, 1 avoids threads waiting on each other.
    """

    quick: bool = True
    seeds: int = 2
    out_dir: Path = Path("claims")
    threads: int | None = None


@dataclass(frozen=True)
class Verdict:
    """``outcome`` is :data:`HOLDS`, :data:`FAILS`, :data:`DEPENDS` or :data:`UNDECIDED`;
    ``reason`` says which numbers decided it and, for :data:`DEPENDS`, on what.

    :data:`UNDECIDED` is the honest answer of an experiment that cannot separate what the claim
    compares (no model learned the task within the budget, or every model solved every length
    tried): its numbers support neither "holds" nor "does not hold", and the reason says what
    would decide it."""

    outcome: str
    reason: str

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"Verdict: outcome must be one of {OUTCOMES}; got {self.outcome!r}")

    def __str__(self) -> str:
        return f"{self.outcome}: {self.reason}" if self.reason else self.outcome


def combine(parts: Sequence[tuple[str, Verdict]]) -> Verdict:
    """The verdict on a claim made of several parts (``(name, verdict)``).

    Over the parts that were decided: it holds if every one holds, does not hold if every one
    fails, and otherwise depends on which part. A claim with an undecided part cannot be said to
    hold, so holding parts beside undecided ones give :data:`UNDECIDED`; failing parts still
    fail it (the reason names every part)."""
    outcomes = {v.outcome for _, v in parts}
    reason = "; ".join(f"{name}: {v}" for name, v in parts)
    decided = outcomes - {UNDECIDED}
    if decided == {HOLDS}:
        return Verdict(UNDECIDED if UNDECIDED in outcomes else HOLDS, reason)
    if decided == {FAILS}:
        return Verdict(FAILS, reason)
    if not decided:
        return Verdict(UNDECIDED, reason)
    return Verdict(DEPENDS, reason)


def over_conditions(name: str, results: Mapping[str, bool | None]) -> Verdict:
    """A part checked under one or several conditions (e.g. sequence lengths), each named by a
    key that shows its numbers: holds if it held under all, does not hold if under none, else
    depends, naming where it held. With one condition the reason is its key.

    ``None`` marks a condition whose experiment could not tell the two sides apart; such
    conditions are left out of the verdict and named in its reason, and a part with no decided
    condition is :data:`UNDECIDED`."""
    undecided = [k for k, ok in results.items() if ok is None]
    decided = {k: ok for k, ok in results.items() if ok is not None}
    held = [k for k, ok in decided.items() if ok]
    count = len(decided)
    if not decided:
        return Verdict(UNDECIDED, f"the experiment cannot tell them apart at {', '.join(undecided)}")
    note = f" (cannot tell at {', '.join(undecided)})" if undecided else ""
    if count == 1 and not undecided:
        (key,) = decided
        return Verdict(HOLDS if held else FAILS, key)
    if len(held) == count:
        return Verdict(HOLDS, f"{name} in all {count} decided cases{note}" if note else f"{name} in all {count} cases")
    if not held:
        return Verdict(FAILS, f"{name} in none of {count} cases{note}")
    return Verdict(DEPENDS, f"{name} only at {', '.join(held)}{note}")


@dataclass(frozen=True)
class Claim:
    """One claim and how to test it.

    Attributes:
        number: 1 to 7, as in the issue and the README.
        title: a few words.
        statement: the claim as tutorials state it.
        measure: runs the experiment; returns JSON-able numbers.
        verdict: pure function of those numbers.
        summary: the numbers in one line for the table.
        plot: draws the numbers to a PNG path.
    """

    number: int
    title: str
    statement: str
    measure: Callable[[Settings], dict[str, Any]]
    verdict: Callable[[dict[str, Any]], Verdict]
    summary: Callable[[dict[str, Any]], str]
    plot: Callable[[dict[str, Any], Path], None]


@dataclass(frozen=True)
class ClaimResult:
    """A claim tested: what was measured, the verdict, the plot, and how long it took."""

    number: int
    title: str
    statement: str
    measured: str
    verdict: Verdict
    numbers: dict[str, Any]
    plot: str
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "statement": self.statement,
            "measured": self.measured,
            "verdict": self.verdict.outcome,
            "reason": self.verdict.reason,
            "numbers": self.numbers,
            "plot": self.plot,
            "seconds": round(self.seconds, 2),
            "settings": self.settings,
        }


def run_claim(claim: Claim, settings: Settings) -> ClaimResult:
    """Measure, judge and plot one claim."""
    start = time.perf_counter()
    numbers = claim.measure(settings)
    verdict = claim.verdict(numbers)
    plot = settings.out_dir / f"claim{claim.number}.png"
    claim.plot(numbers, plot)
    return ClaimResult(
        number=claim.number,
        title=claim.title,
        statement=claim.statement,
        measured=claim.summary(numbers),
        verdict=verdict,
        numbers=numbers,
        plot=plot.name,
        seconds=time.perf_counter() - start,
        settings={"quick": settings.quick, "seeds": settings.seeds, "threads": torch.get_num_threads()},
    )
