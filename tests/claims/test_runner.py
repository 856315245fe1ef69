"""The claims runner with a stubbed measurement, and `rnnx claims --quick --only 5` end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from rnnx.claims import gru_lstm, runner
from rnnx.claims.base import Settings
from rnnx.cli import main


def stubbed(numbers: dict[str, Any]) -> Any:
    """Claim 5 as it is, except that its measurement returns ``numbers``."""
    return dataclasses.replace(gru_lstm.CLAIM, measure=lambda settings: copy_of(numbers))


def copy_of(numbers: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(numbers))


def numbers(gru_epoch: float) -> dict[str, Any]:
    return {
        "hidden_sizes": [32],
        "parameters": {"gru": {"32": 3489}, "lstm": {"32": 4641}},
        "epoch_seconds": {"gru": {"32": gru_epoch}, "lstm": {"32": 0.5}},
        "task": "adding, T=50",
    }


@pytest.mark.parametrize(("gru_epoch", "outcome"), [(0.3, "holds"), (0.6, "depends")], ids=["gru-faster", "gru-slower"])
def test_the_same_runner_prints_the_verdict_the_numbers_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gru_epoch: float, outcome: str
) -> None:
    monkeypatch.setattr(runner, "load", lambda number: stubbed(numbers(gru_epoch)))
    results = runner.run_claims([5], Settings(quick=True, seeds=1, out_dir=tmp_path))
    assert [r.verdict.outcome for r in results] == [outcome]
    table = runner.format_table(results)
    assert f"| 5 | {gru_lstm.CLAIM.statement} |" in table
    assert f"**{outcome}**" in table
    assert "params GRU/LSTM 3489/4641 (0.75x)" in table
    saved = json.loads((tmp_path / "claims.json").read_text())
    assert saved["claims"][0]["verdict"] == outcome
    assert saved["claims"][0]["numbers"]["epoch_seconds"]["gru"]["32"] == gru_epoch
    assert (tmp_path / "claim5.png").read_bytes().startswith(b"\x89PNG")


def test_unknown_claim_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"claims: no claim 9; available: \[1, 2, 3, 4, 5, 6, 7\]"):
        runner.run_claims([5, 9], Settings(out_dir=tmp_path))
    assert not (tmp_path / "claims.json").exists()


def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["claims", "--only", "9", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "rnnx claims: error: claims: no claim 9; available: [1, 2, 3, 4, 5, 6, 7]\n"
    with pytest.raises(SystemExit) as stop:
        main(["claims", "--only", "one"])
    assert stop.value.code == 2
    assert "expected claim numbers separated by commas, e.g. 1,5; got 'one'" in capsys.readouterr().err


def test_rnnx_claims_quick_only_5_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "claims"
    # one thread: a CI runner's cores are shared, and two threads then wait on each other
    assert main(["claims", "--quick", "--only", "5", "--out", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| # | claim (as tutorials state it) | measured | verdict |")
    saved = json.loads((out / "claims.json").read_text())
    (claim,) = saved["claims"]
    numbers = claim["numbers"]
    # the verdict printed is the one the saved numbers give
    assert claim["verdict"] == gru_lstm.verdict(numbers).outcome
    assert f"**{claim['verdict']}**" in printed
    # a GRU layer has 3 gate blocks where an LSTM has 4: 3 (I+H+2) H vs 4 (I+H+2) H, plus the same head
    for h in ("32", "128"):
        head = int(h) + 1
        assert numbers["parameters"]["gru"][h] - head == 3 * (2 + int(h) + 2) * int(h)
        assert numbers["parameters"]["lstm"][h] - head == 4 * (2 + int(h) + 2) * int(h)
    assert (out / "claim5.png").is_file()
    assert saved["claims"][0]["settings"] == {"quick": True, "seeds": 1, "threads": 1}
    assert saved["environment"]["threads"] == 1
