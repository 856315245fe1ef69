"""The helpers behind the measurements: matched widths and interleaved timing rounds."""

from __future__ import annotations

from rnnx.claims import speed
from rnnx.lab.models import count_parameters


def test_equal_parameter_widths_match_the_lstm_within_a_few_percent() -> None:
    widths = speed.widths()
    assert widths["equal H"] == dict.fromkeys(speed.MODELS, speed.HIDDEN)
    target = count_parameters(speed.build("LSTM", speed.HIDDEN))
    for kind, width in widths["equal params"].items():
        count = count_parameters(speed.build(kind, width))
        assert abs(count - target) / target < 0.05, (kind, width, count, target)
    assert widths["equal params"]["Transformer"] % speed.HEADS == 0
    assert widths["equal params"]["RNN"] > widths["equal params"]["GRU"] > speed.HIDDEN


def test_time_rounds_calls_each_after_a_warm_up_and_keeps_the_minimum() -> None:
    calls: list[str] = []
    best = speed.time_rounds({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up, then interleaved rounds
    assert set(best) == {"a", "b"}
    assert all(0 <= v < 0.1 for v in best.values())
