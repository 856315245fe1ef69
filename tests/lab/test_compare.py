"""compare(): the summary numbers against the runs they come from, sweeps, resume, the table."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from rnnx.lab.compare import compare, format_table, slug, verdict
from rnnx.lab.config import TrainConfig

TINY = {"seq_len": 5, "train_size": 64, "valid_size": 16, "test_size": 16}


def base(**changes: object) -> TrainConfig:
    settings: dict[str, object] = {"task": "adding", "task_options": dict(TINY), "hidden_size": 6, "epochs": 2}
    return TrainConfig(**(settings | changes), batch_size=16)  # type: ignore[arg-type]


def test_summary_matches_the_runs(tmp_path: Path) -> None:
    results = compare(base(), ["lstm", "rnn:nonlinearity=relu"], seeds=[0, 3], out_dir=tmp_path)
    assert (results["task"], results["metric"], results["lower_is_better"]) == ("adding", "mse", True)
    assert results["halfway"] == results["baseline"] / 2
    entry = results["models"]["rnn:nonlinearity=relu"]
    runs = [
        json.loads((tmp_path / "runs" / "rnn-nonlinearity_relu" / f"seed-{s}" / "result.json").read_text())
        for s in (0, 3)
    ]
    finals = [r["final_metric"] for r in runs]
    assert entry["final"] == {"mean": statistics.fmean(finals), "std": statistics.stdev(finals), "values": finals}
    assert entry["best"]["values"] == [r["best_metric"] for r in runs]
    assert entry["curves"] == [r["curve"] for r in runs]
    assert entry["curve_mean"] == [statistics.fmean(c) for c in zip(*entry["curves"], strict=True)]
    assert entry["train_seconds"]["values"] == [r["train_seconds"] for r in runs]
    assert entry["params"] == runs[0]["params"]
    assert entry["seeds"] == [0, 3]
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(json.dumps(results))
    settings = json.loads((tmp_path / "config.json").read_text())
    assert settings == base().resolve().to_dict() | {"models": ["lstm", "rnn:nonlinearity=relu"], "seeds": [0, 3]}
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    table = (tmp_path / "table.md").read_text()
    assert table.strip() == format_table(results)
    assert f"| lstm | {results['models']['lstm']['params']:,} |" in table


def test_resume_reads_finished_runs_back(tmp_path: Path) -> None:
    first = compare(base(), ["gru"], out_dir=tmp_path, plots=False)
    again = compare(base(), ["gru"], out_dir=tmp_path, resume=True, plots=False)
    assert again["models"]["gru"]["final"] == first["models"]["gru"]["final"]
    with pytest.raises(ValueError, match="already holds a comparison; continue it with resume=True"):
        compare(base(), ["gru"], out_dir=tmp_path, plots=False)
    with pytest.raises(ValueError, match=r"cannot resume .* with other settings \(they differ in epochs\)"):
        compare(base(epochs=3), ["gru"], out_dir=tmp_path, resume=True, plots=False)


def test_sweep(tmp_path: Path) -> None:
    results = compare(base(epochs=1), ["gru"], sweep=("seq_len", [3, 6]), out_dir=tmp_path)
    assert results["sweep"] == {"parameter": "seq_len", "values": [3, 6]}
    assert [p["task_options"]["seq_len"] for p in results["points"]] == [3, 6]
    assert (tmp_path / "seq_len-6" / "runs" / "gru" / "seed-0" / "result.json").is_file()
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert format_table(results).startswith("seq_len = 3\n\ntask adding")


def test_table_for_accuracy_and_unreached_seeds() -> None:
    entry = {
        "params": 1234,
        "final": {"mean": 0.5, "std": 0.1, "values": [0.4, 0.6]},
        "best": {"mean": 0.6, "std": 0.0, "values": [0.6, 0.6]},
        "train_seconds": {"mean": 2.0},
        "samples_per_second": {"mean": 1000.0},
        "peak_memory_bytes": 3 * 2**20,
        "steps_to_halfway": {"values": [40, None], "mean": 40.0, "reached": 1},
    }
    results = {
        "task": "digits",
        "task_options": {},
        "metric": "accuracy",
        "lower_is_better": False,
        "baseline": 0.1,
        "halfway": 0.55,
    }
    table = format_table(results | {"models": {"gru": entry}})
    assert "| gru | 1,234 | 0.5 ± 0.1 | 0.6 ± 0 | 2.0 | 1,000 | 3.0 | 40 (1/2 seeds) |" in table
    assert "steps to half the baseline's error" in table
    assert table.endswith(
        "cannot decide: no model reached half the baseline's error (0.55; best final accuracy: gru 0.5, "
        "baseline 0.1), so this budget is too small to tell them apart; train longer (without --quick, "
        "or with more --epochs or --steps-per-epoch)."
    )


def _entry(values: list[float]) -> dict[str, object]:
    return {
        "final": {
            "mean": sum(values) / len(values),
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "values": values,
        }
    }


@pytest.mark.parametrize(
    ("lstm", "gru", "expected"),
    [
        (
            [0.01, 0.02, 0.03],
            [0.30, 0.31, 0.29],
            "winner: lstm (mse 0.02); runner-up gru (0.3), a lead larger than the spread over seeds. Reached baseline/2 (0.08): lstm; not: gru.",
        ),
        (
            [0.05, 0.01, 0.09],
            [0.07, 0.03, 0.05],
            "winner: lstm (mse 0.05); runner-up gru (0.05), within the spread over seeds: no clear winner. Reached baseline/2 (0.08): lstm, gru.",
        ),
        (
            [0.15, 0.16],
            [0.17, 0.16],
            "cannot decide: no model reached baseline/2 (0.08; best final mse: lstm 0.155, baseline 0.16), so this "
            "budget is too small to tell them apart; train longer (without --quick, or with more --epochs or "
            "--steps-per-epoch).",
        ),
        (
            [0.01],
            [0.17, 0.16],
            "winner: lstm (mse 0.01); runner-up gru (0.165), one seed each, so no spread to judge the lead by "
            "(try --seeds 3). Reached baseline/2 (0.08): lstm; not: gru.",
        ),
        (
            [0.5],
            [0.02],
            "winner: gru (mse 0.02); runner-up lstm (0.5), one seed each, so no spread to judge the lead by (try --seeds 3). Reached baseline/2 (0.08): gru; not: lstm.",
        ),
    ],
)
def test_verdict_follows_the_numbers(lstm: list[float], gru: list[float], expected: str) -> None:
    results = {
        "metric": "mse",
        "lower_is_better": True,
        "baseline": 0.16,
        "halfway": 0.08,
        "models": {"lstm": _entry(lstm), "gru": _entry(gru)},
    }
    assert verdict(results) == expected


def test_models_that_missed_halfway_are_not_ordered() -> None:
    results = {
        "metric": "cross_entropy",
        "lower_is_better": True,
        "baseline": 0.17,
        "halfway": 0.085,
        "models": {
            "transformer": _entry([0.001]),
            "gru": _entry([0.168]),
            "lstm": _entry([0.173]),
            "rnn": _entry([0.178]),
        },
    }
    assert verdict(results).endswith(
        "Reached baseline/2 (0.085): transformer; not: gru, lstm, rnn; gru, lstm, rnn stayed at the baseline, "
        "which this budget cannot order (train longer to tell them apart: without --quick, or with more --epochs)."
    )
    # a model that learned part of the way (the IRNN at T=150: 0.099 against 0.165) is ranked
    results["models"]["gru"] = _entry([0.099])
    assert verdict(results).endswith(
        "not: gru, lstm, rnn; lstm, rnn stayed at the baseline, which this budget cannot order (train longer to "
        "tell them apart: without --quick, or with more --epochs)."
    )
    results["models"]["lstm"] = _entry([0.12])
    assert verdict(results).endswith("Reached baseline/2 (0.085): transformer; not: gru, lstm, rnn.")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="compare: models must name at least one model"):
        compare(base(), [" "])
    with pytest.raises(ValueError, match="unknown model 'lsm'"):
        compare(base(), ["lstm", "lsm"])
    with pytest.raises(ValueError, match="compare: seeds must be >= 1; got 0"):
        compare(base(), ["lstm"], seeds=0)
    assert slug("lstm:layer_norm,zoneout=0.1") == "lstm-layer_norm-zoneout_0.1"
