"""Every claim's verdict function on synthetic numbers that give each outcome: the verdict comes
from the numbers, so other numbers must give another verdict."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rnnx.claims import attention, dropout, gradients, gru_lstm, memory, normalisation, speed
from rnnx.claims.base import DEPENDS, FAILS, HOLDS, UNDECIDED, Verdict, combine, over_conditions


def test_combine_and_over_conditions() -> None:
    yes, no = Verdict(HOLDS, "a"), Verdict(FAILS, "b")
    assert combine([("x", yes), ("y", yes)]).outcome == HOLDS
    assert combine([("x", no), ("y", no)]).outcome == FAILS
    mixed = combine([("x", yes), ("y", no)])
    assert mixed.outcome == DEPENDS
    assert mixed.reason == "x: holds: a; y: does not hold: b"
    assert over_conditions("fast", {"T=10": True, "T=100": True}).outcome == HOLDS
    assert over_conditions("fast", {"T=10: 1 ms": False}) == Verdict(FAILS, "T=10: 1 ms")
    assert over_conditions("fast", {"T=10": False, "T=100": False}) == Verdict(FAILS, "fast in none of 2 cases")
    assert over_conditions("fast", {"T=10": True, "T=100": False}) == Verdict(DEPENDS, "fast only at T=10")
    assert over_conditions("fast", {"T=10": None, "T=100": None}) == Verdict(
        UNDECIDED, "the experiment cannot tell them apart at T=10, T=100"
    )
    assert over_conditions("fast", {"T=10": True, "T=100": None}) == Verdict(
        HOLDS, "fast in all 1 decided cases (cannot tell at T=100)"
    )
    assert over_conditions("fast", {"T=10": False, "T=30": True, "T=100": None}).reason == (
        "fast only at T=30 (cannot tell at T=100)"
    )
    undecided = Verdict(UNDECIDED, "")
    assert combine([("x", undecided), ("y", undecided)]).outcome == UNDECIDED
    assert combine([("x", yes), ("y", undecided)]).outcome == UNDECIDED  # cannot hold with a part unknown
    assert combine([("x", no), ("y", undecided)]).outcome == FAILS
    assert combine([("x", yes), ("y", no), ("z", undecided)]).outcome == DEPENDS
    with pytest.raises(ValueError, match="outcome must be one of"):
        Verdict("maybe", "")


# -- claim 1: speed -----------------------------------------------------------------------


def speed_numbers(times: dict[str, float], long: dict[str, float] | None = None) -> dict[str, Any]:
    """Same times in both settings; ``long`` overrides them at T=1000."""
    seconds = {s: {k: {"10": times[k], "1000": (long or times)[k]} for k in speed.MODELS} for s in speed.SETTINGS}
    return {"lengths": [10, 1000], "seconds": seconds}


def test_speed_verdict_each_outcome() -> None:
    claimed = {"RNN": 1.0, "GRU": 2.0, "LSTM": 3.0, "Transformer": 0.5}
    assert speed.verdict(speed_numbers(claimed)).outcome == HOLDS
    reverse = {"RNN": 4.0, "GRU": 3.0, "LSTM": 2.0, "Transformer": 5.0}
    assert speed.verdict(speed_numbers(reverse)).outcome == FAILS
    both = speed.verdict(speed_numbers(claimed, long={"RNN": 1.0, "GRU": 2.0, "LSTM": 3.0, "Transformer": 9.0}))
    assert both.outcome == DEPENDS
    assert "Transformer fastest only at (equal H) T=10, (equal params) T=10" in both.reason
    tie = {"RNN": 1.0, "GRU": 2.0, "LSTM": 2.02, "Transformer": 0.5}  # within the 5% margin
    assert "GRU vs LSTM: does not hold" in speed.verdict(speed_numbers(tie)).reason


# -- claim 2: range of memory -------------------------------------------------------------


def memory_numbers(longest: dict[str, int]) -> dict[str, Any]:
    return {"lengths": [10, 30, 100, 200, 400], "longest": {t: dict(longest) for t in memory.TASKS}}


def test_memory_verdict_each_outcome() -> None:
    assert memory.verdict(memory_numbers({"rnn": 10, "gru": 30, "lstm": 100, "transformer": 200})).outcome == HOLDS
    assert memory.verdict(memory_numbers({"rnn": 100, "gru": 100, "lstm": 30, "transformer": 10})).outcome == FAILS
    tie = memory.verdict(memory_numbers({"rnn": 10, "gru": 100, "lstm": 100, "transformer": 200}))
    assert tie.outcome == DEPENDS
    assert "GRU < LSTM: does not hold" in tie.reason
    numbers = memory_numbers({"rnn": 10, "gru": 30, "lstm": 100, "transformer": 200})
    numbers["longest"]["copy"]["transformer"] = 10
    assert "Transformer reaches furthest only at adding" in memory.verdict(numbers).reason


def test_memory_verdict_cannot_decide_where_nothing_separates() -> None:
    numbers = memory_numbers({"rnn": 10, "gru": 30, "lstm": 100, "transformer": 200})
    numbers["longest"]["copy"] = {"rnn": 0, "gru": 0, "lstm": 0, "transformer": 400}  # only attention learned it
    result = memory.verdict(numbers)
    assert result.outcome == HOLDS  # the copy task cannot tell the recurrent models apart, adding can
    assert "LSTM reaches further in all 1 decided cases (cannot tell at copy)" in result.reason
    assert "Transformer reaches furthest in all 2 cases" in result.reason
    nothing = memory.verdict(memory_numbers({"rnn": 0, "gru": 0, "lstm": 0, "transformer": 0}))
    assert nothing.outcome == UNDECIDED
    assert "LSTM > RNN: cannot decide: the experiment cannot tell them apart at adding, copy" in nothing.reason
    everything = memory.verdict(memory_numbers({"rnn": 400, "gru": 400, "lstm": 400, "transformer": 400}))
    assert everything.outcome == UNDECIDED  # every model solved the longest length: lengths too short
    partly = memory.verdict(memory_numbers({"rnn": 0, "gru": 30, "lstm": 0, "transformer": 100}))
    assert partly.outcome == DEPENDS  # GRU < LSTM fails where decided; the rest cannot tell or holds


def test_longest_solved_length() -> None:
    baseline = {"10": 1.0, "30": 1.0, "100": 1.0}
    assert memory.longest({"10": 0.1, "30": 0.4, "100": 0.9}, baseline) == 30
    assert memory.longest({"10": 0.6, "30": 0.9, "100": 0.9}, baseline) == 0


# -- claim 3: gradients -------------------------------------------------------------------


def gradient_numbers(ratios: dict[str, float], per_step: float = 0.9, r2: float = 0.99) -> dict[str, Any]:
    stats = {name: {"ratio": ratio, "per_step": per_step, "r2": r2} for name, ratio in ratios.items()}
    return {"stats": stats}


def claimed_ratios() -> dict[str, float]:
    ratios = {f"RNN, orthogonal x {s}": 1e-3 for s in gradients.SCALES if s <= 1}
    ratios["RNN, orthogonal x 1.1"] = 1e3
    for state in ("init", "trained"):
        ratios[f"RNN, {state}"] = 1e-10
        ratios[f"LSTM, {state}"] = 1e-3
        ratios[f"GRU, {state}"] = 1e-3
    return ratios


def test_gradient_verdict_each_outcome() -> None:
    ratios = claimed_ratios()
    assert gradients.verdict(gradient_numbers(ratios)).outcome == HOLDS
    flat = dict.fromkeys(ratios, 1e-10)  # nothing explodes, gated no better
    assert gradients.verdict(gradient_numbers(flat, per_step=1.0)).outcome == FAILS
    partial = dict(ratios)
    partial["LSTM, init"] = 5e-10  # only 5x the RNN: under the 10x margin
    verdict = gradients.verdict(gradient_numbers(partial))
    assert verdict.outcome == DEPENDS
    assert "only for LSTM trained, GRU init, GRU trained" in verdict.reason
    # a poor straight-line fit is not "exponential"
    assert "no exponential decay" in gradients.verdict(gradient_numbers(ratios, r2=0.5)).reason


def test_curve_stats_of_a_geometric_curve() -> None:
    norms = [0.5**k for k in range(10, -1, -1)]  # distance 10 .. 0, halving per step
    stats = gradients.curve_stats(norms)
    assert stats["per_step"] == pytest.approx(0.5)
    assert stats["ratio"] == pytest.approx(0.5**10)
    assert stats["r2"] == pytest.approx(1.0)


# -- claim 4: normalisation ---------------------------------------------------------------


def norm_numbers(acc: dict[str, tuple[float, float, float]]) -> dict[str, Any]:
    sizes = normalisation.BATCH_SIZES
    return {
        "batch_sizes": list(sizes),
        "accuracy": {n: {str(b): [a, a] for b, a in zip(sizes, values, strict=True)} for n, values in acc.items()},
    }


def test_normalisation_verdict_each_outcome() -> None:
    claimed = {"batch norm": (0.3, 0.6, 0.8), "layer norm": (0.75, 0.85, 0.9), "none": (0.7, 0.8, 0.85)}
    assert normalisation.verdict(norm_numbers(claimed)).outcome == HOLDS
    opposite = {"batch norm": (0.9, 0.9, 0.95), "layer norm": (0.3, 0.6, 0.8), "none": (0.7, 0.8, 0.85)}
    assert normalisation.verdict(norm_numbers(opposite)).outcome == FAILS
    mixed = {"batch norm": (0.3, 0.6, 0.8), "layer norm": (0.7, 0.8, 0.85), "none": (0.7, 0.8, 0.85)}
    verdict = normalisation.verdict(norm_numbers(mixed))
    assert verdict.outcome == DEPENDS
    assert "LN good for RNNs: does not hold" in verdict.reason


# -- claim 5: GRU vs LSTM -----------------------------------------------------------------


def gru_numbers(params: tuple[int, int], epoch: dict[str, tuple[float, float]]) -> dict[str, Any]:
    return {
        "hidden_sizes": [32, 128],
        "parameters": {"gru": dict.fromkeys(("32", "128"), params[0]), "lstm": dict.fromkeys(("32", "128"), params[1])},
        "epoch_seconds": {"gru": {h: v[0] for h, v in epoch.items()}, "lstm": {h: v[1] for h, v in epoch.items()}},
    }


def test_gru_lstm_verdict_each_outcome() -> None:
    assert gru_lstm.verdict(gru_numbers((75, 100), {"32": (1.0, 2.0), "128": (1.0, 2.0)})).outcome == HOLDS
    assert gru_lstm.verdict(gru_numbers((100, 75), {"32": (2.0, 1.0), "128": (2.0, 1.0)})).outcome == FAILS
    verdict = gru_lstm.verdict(gru_numbers((75, 100), {"32": (1.0, 2.0), "128": (2.0, 1.0)}))
    assert verdict.outcome == DEPENDS
    assert (
        verdict.reason == "parameters: holds: GRU smaller in all 2 cases; epoch time: depends: GRU faster only at H=32"
    )


# -- claim 6: attention -------------------------------------------------------------------


def attention_numbers(plain: tuple[float, float], attended: tuple[float, float]) -> dict[str, Any]:
    buckets = ["4-7", "16-16"]
    return {
        "buckets": buckets,
        "accuracy": {
            "context vector": dict(zip(buckets, plain, strict=True)),
            "attention": dict(zip(buckets, attended, strict=True)),
        },
    }


def test_attention_verdict_each_outcome() -> None:
    assert attention.verdict(attention_numbers((0.95, 0.5), (0.99, 0.97))).outcome == HOLDS
    assert attention.verdict(attention_numbers((0.95, 0.94), (0.9, 0.85))).outcome == FAILS
    partly = attention.verdict(attention_numbers((0.95, 0.5), (0.99, 0.7)))
    assert partly.outcome == DEPENDS
    assert "attention helps on long inputs (0.70) but also falls with length" in partly.reason
    untrained = attention.verdict(attention_numbers((0.3, 0.1), (0.99, 0.97)))
    assert untrained.outcome == UNDECIDED
    assert "the context-vector model did not learn the task (0.30 on lengths" in untrained.reason


# -- claim 7: dropout ---------------------------------------------------------------------


def dropout_numbers(gaps: list[tuple[float, float]]) -> dict[str, Any]:
    def run(gap: float) -> dict[str, float]:
        return {"train": 1.0, "valid": 1.0 + gap, "gap": gap, "best_valid": 1.0 + gap}

    return {"dropout": 0.5, "runs": {"without": [run(a) for a, _ in gaps], "with": [run(b) for _, b in gaps]}}


def test_dropout_verdict_each_outcome() -> None:
    assert dropout.verdict(dropout_numbers([(1.0, 0.5), (1.2, 0.4)])).outcome == HOLDS
    assert dropout.verdict(dropout_numbers([(1.0, 1.0), (1.2, 1.3)])).outcome == FAILS
    verdict = dropout.verdict(dropout_numbers([(1.0, 0.5), (1.2, 1.3)]))
    assert verdict == Verdict(DEPENDS, "gap 1.10 -> 0.90 bits/char: smaller in 1 of 2 seeds")
    no_overfitting = dropout.verdict(dropout_numbers([(0.05, 0.01), (0.04, 0.02)]))
    assert no_overfitting.outcome == UNDECIDED
    assert "the model without dropout did not overfit" in no_overfitting.reason


def test_verdicts_do_not_change_their_input() -> None:
    numbers = speed_numbers({"RNN": 1.0, "GRU": 2.0, "LSTM": 3.0, "Transformer": 0.5})
    before = copy.deepcopy(numbers)
    speed.verdict(numbers)
    assert numbers == before
