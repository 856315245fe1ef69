"""The numeric flags of rnnx train: a value a flag accepts is one the config accepts, and a value
it refuses is one line with exit code 2, for any text (hypothesis)."""

from __future__ import annotations

import argparse
import io
import math
from contextlib import redirect_stderr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnx.cli import build_parser
from rnnx.cli.flags import config_from_settings, parse_value, settings_from_args

NUMERIC = [
    "--hidden-size", "--num-layers", "--match-params", "--dropout", "--epochs", "--steps-per-epoch", "--batch-size",
    "--lr", "--weight-decay", "--clip", "--warmup-steps", "--patience", "--target", "--seed", "--seq-len", "--window",
    "--horizon", "--train-size", "--valid-size", "--test-size", "--data-seed", "--threads",
]  # fmt: skip
SPECIAL = ["nan", "NaN", "inf", "-inf", "infinity", "1e400", "-1", "0", "-0", "0.0", "1", "2", "0.5", "1.0", "none", ""]
texts = st.sampled_from(SPECIAL) | st.text(max_size=6) | st.floats().map(repr) | st.integers(-5, 10**6).map(str)


def parse(args: list[str]) -> argparse.Namespace | str:
    """The parsed namespace, or argparse's error line."""
    err = io.StringIO()
    try:
        with redirect_stderr(err):
            return build_parser().parse_args(args)
    except SystemExit as stop:
        return f"exit {stop.code}: {err.getvalue()}"


@settings(max_examples=300, deadline=None)
@given(flag=st.sampled_from(NUMERIC), text=texts)
def test_a_numeric_flag_accepts_only_what_the_config_accepts(flag: str, text: str) -> None:
    parsed = parse(["train", flag, text, "--out", "o"])
    if isinstance(parsed, str):
        assert parsed.count("\n") == 1
        assert parsed.startswith(f"exit 2: rnnx train: error: argument {flag}: expected ")
        return
    config = config_from_settings(settings_from_args(parsed), source="flags")
    option = flag.removeprefix("--").replace("-", "_")
    if option in ("threads",):
        assert parsed.threads >= 1
        return
    if option in ("seq_len", "window", "horizon", "train_size", "valid_size", "test_size", "data_seed"):
        value = config.task_options["seed" if option == "data_seed" else option]
        assert isinstance(value, int)
        assert value >= 0
        return
    value = getattr(config, option)
    assert value is None or math.isfinite(value)  # no flag lets NaN or infinity through
    assert getattr(config.resolve(), option) == value  # and the config takes what the flag took


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "Infinity"])
def test_task_option_values_that_are_not_finite_stay_text(text: str) -> None:
    assert parse_value(text) == text
    assert parse_value("1e-3") == 0.001
    assert parse_value("7") == 7
