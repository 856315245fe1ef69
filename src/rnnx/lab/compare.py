"""``compare(...)``: train several models over several seeds on one task and summarise them.

Writes, under ``out_dir``: ``config.json`` (the resolved settings), ``runs/<model>/seed-<k>/``
(each a full :func:`rnnx.lab.train.train` run directory), ``results.json``, ``table.md`` and
the plots ``curves.png`` (validation metric per epoch, the trivial baseline dashed) and
``wallclock.png`` (the same against training seconds). With a sweep (``("seq_len", [10, 50])``),
every value gets its own comparison under ``<parameter>-<value>/`` and ``sweep.png`` plots the
final metric against the value.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rnnx._files import read_json, write_atomic, write_json
from rnnx.lab.config import TrainConfig
from rnnx.lab.models import parse_spec
from rnnx.lab.outputs import Output, check_output
from rnnx.lab.tasks import get_task, task_options
from rnnx.lab.train import ProgressEvent, TrainResult, train

ProgressFactory = Callable[[str], Callable[[ProgressEvent], None] | None]


def slug(spec: str) -> str:
    """A directory name for a model spec: ``lstm:zoneout=0.1`` -> ``lstm-zoneout_0.1``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.replace(":", "-").replace(",", "-").replace("=", "_"))


def _stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (0 for one value) and the values themselves."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "values": list(values)}


def summarise(results: Sequence[TrainResult]) -> dict[str, Any]:
    """One model's entry of ``results.json`` from its runs (one per seed)."""
    reached = [r.steps_to_halfway for r in results if r.steps_to_halfway is not None]
    curves = [r.curve for r in results]
    shortest = min(len(c) for c in curves)
    elapsed = [[sum(r.epoch_seconds[: e + 1]) for e in range(len(r.epoch_seconds))] for r in results]
    return {
        "params": results[0].params,
        "hidden_size": results[0].hidden_size,
        "seeds": [r.seed for r in results],
        "final": _stats([r.final_metric for r in results]),
        "best": _stats([r.best_metric for r in results]),
        "test": _stats([r.test_metric for r in results]),
        "train_seconds": _stats([r.train_seconds for r in results]),
        "samples_per_second": _stats([r.samples_per_second for r in results]),
        "peak_memory_bytes": max(r.peak_memory_bytes for r in results),
        "steps_to_halfway": {
            "values": [r.steps_to_halfway for r in results],
            "mean": statistics.fmean(reached) if reached else None,
            "reached": len(reached),
        },
        "curves": curves,
        "curve_mean": [statistics.fmean(c[e] for c in curves) for e in range(shortest)],
        "elapsed_seconds": elapsed,
        "stopped_early": [r.stopped_early for r in results],
    }


def _compare_one(
    config: TrainConfig,
    models: Sequence[str],
    seeds: Sequence[int],
    out_dir: Path | None,
    resume: bool,
    progress: ProgressFactory | None,
) -> dict[str, Any]:
    config = config.resolve()
    task = get_task(config.task, **config.task_options)
    entries: dict[str, Any] = {}
    measure = ""
    for spec in models:
        runs = []
        for seed in seeds:
            run_config = dataclasses.replace(config, model=spec, seed=seed)
            run_dir = None if out_dir is None else out_dir / "runs" / slug(spec) / f"seed-{seed}"
            again = resume and run_dir is not None and (run_dir / "config.json").exists()
            callback = None if progress is None else progress(f"{spec} seed {seed}")
            runs.append(train(run_config, out_dir=run_dir, resume=again, progress=callback))
            measure = runs[-1].peak_memory_measure
        entries[spec] = summarise(runs)
    return {
        "task": task.name,
        "task_options": config.task_options,
        "metric": task.metric,
        "lower_is_better": task.lower_is_better,
        "baseline": task.baseline,
        "baseline_note": task.baseline_note,
        "halfway": task.halfway,
        "config": config.to_dict(),
        "peak_memory_measure": measure,
        "models": entries,
    }


def _claim_output(root: Path, settings: dict[str, Any], *, resume: bool) -> None:
    """Take ``root`` for this comparison (see :mod:`rnnx.lab.outputs`) and save its settings; a
    comparison already there must be resumed with the same settings."""
    saved = root / "config.json"
    if check_output(root, "compare") and saved.exists():
        if not resume:
            raise ValueError(
                f"{str(root)!r} already holds a comparison; continue it with resume=True (rnnx compare --resume) "
                "or choose a new directory"
            )
        before = read_json(saved)
        ours = json.loads(json.dumps(settings))
        differ = sorted(k for k in ours.keys() | before.keys() if ours.get(k) != before.get(k))
        if differ:
            raise ValueError(f"cannot resume {str(root)!r} with other settings (they differ in {', '.join(differ)})")
    Output.claim(root, "compare")
    write_json(saved, settings)


def compare(
    config: TrainConfig,
    models: Sequence[str],
    *,
    seeds: int | Sequence[int] = 1,
    sweep: tuple[str, Sequence[Any]] | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: ProgressFactory | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Train every model in ``models`` with every seed on ``config``'s task and summarise.

    Arguments:
        config: the shared settings (its ``model`` and ``seed`` are replaced per run).
        models: model specs (``rnnx.lab.models``), e.g. ``["rnn", "lstm", "gru", "transformer"]``.
        seeds: a count (seeds ``0..n-1``) or the seeds themselves.
        sweep: ``(task_option, values)``: repeat the comparison for each value (e.g. ``seq_len``).
        out_dir: where runs, ``results.json``, ``table.md`` and the plots go (``None``: nowhere).
        resume: continue runs found in ``out_dir`` (finished ones are read back, not retrained).
        progress: ``label -> callback`` for each run's progress (see :class:`rnnx.lab.progress.Bars`).
        plots: write the PNG plots (needs matplotlib).

    Returns:
        The content of ``results.json``: ``task``, ``metric``, ``lower_is_better``, ``baseline``,
        ``halfway``, ``config`` and ``models`` (per spec: ``params``, ``final``/``best``/``test``
        as ``{mean, std, values}``, ``train_seconds``, ``samples_per_second``,
        ``peak_memory_bytes``, ``steps_to_halfway``, ``curves`` per seed, ``curve_mean``,
        ``elapsed_seconds``). With ``sweep``: ``sweep`` ``{parameter, values}`` and ``points``, one
        such comparison per value.

    Raises:
        ValueError: no models, a bad spec, a bad seed count, or a sweep over an option the task lacks.
    """
    models = [m.strip() for m in models if m.strip()]
    if not models:
        raise ValueError("compare: models must name at least one model, e.g. rnn,lstm,gru,transformer")
    if len(set(models)) != len(models):
        raise ValueError(f"compare: models must be distinct; got {models}")
    for spec in models:
        parse_spec(spec)  # fail before any training on a bad spec
    if isinstance(seeds, int):
        if isinstance(seeds, bool) or seeds < 1:
            raise ValueError(f"compare: seeds must be >= 1; got {seeds!r}")
        seeds = list(range(seeds))
    root = None if out_dir is None else Path(out_dir)
    # the resolved settings of the whole comparison, saved beside its results
    settings = config.resolve().to_dict() | {"models": models, "seeds": list(seeds)}
    settings |= {"sweep": {sweep[0]: list(sweep[1])}} if sweep else {}
    if sweep is not None:
        parameter, values = sweep
        if parameter not in task_options(config.task):
            raise ValueError(f"compare: task {config.task!r} has no option {parameter!r} to sweep")
        if not values:
            raise ValueError(f"compare: the sweep over {parameter} needs at least one value")
    if root is not None:
        _claim_output(root, settings, resume=resume)
    if sweep is None:
        results = _compare_one(config, models, list(seeds), root, resume, progress)
    else:
        parameter, values = sweep
        points = []
        for value in values:
            options = {**config.task_options, parameter: value}
            point_dir = None if root is None else root / f"{parameter}-{value}"
            point_config = dataclasses.replace(config, task_options=options)
            points.append(_compare_one(point_config, models, list(seeds), point_dir, resume, progress))
        first = points[0]
        results = {k: first[k] for k in ("task", "metric", "lower_is_better", "config", "peak_memory_measure")}
        results |= {"sweep": {"parameter": parameter, "values": list(values)}, "points": points}
    if root is not None:
        write_json(root / "results.json", results)
        write_atomic(root / "table.md", (format_table(results) + "\n").encode("utf-8"))
        if plots:
            from rnnx.lab import plots as plotting

            plotting.write_plots(results, root)
    return results


def _pm(stats: dict[str, Any], digits: int = 4) -> str:
    if len(stats["values"]) == 1:
        return f"{stats['mean']:.{digits}g}"
    return f"{stats['mean']:.{digits}g} ± {stats['std']:.2g}"


def format_table(results: dict[str, Any]) -> str:
    """A Markdown table of a comparison (one per sweep value), best final metric first."""
    if "points" in results:
        parameter = results["sweep"]["parameter"]
        return "\n\n".join(
            f"{parameter} = {v}\n\n{format_table(p)}"
            for v, p in zip(results["sweep"]["values"], results["points"], strict=True)
        )
    metric = results["metric"]
    halfway = "baseline/2" if results["lower_is_better"] else "half the baseline's error"
    lines = [
        f"task {results['task']} {results['task_options']}, metric {metric} "
        f"({'lower' if results['lower_is_better'] else 'higher'} is better), baseline {results['baseline']:.4g}",
        "",
        f"| model | params | final {metric} | best {metric} | train s | samples/s | peak MB | steps to {halfway} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for spec, entry in _ranked(results):
        steps = entry["steps_to_halfway"]
        n = len(steps["values"])
        if steps["mean"] is None:
            reach = "never"
        elif steps["reached"] == n:
            reach = f"{steps['mean']:.0f}"
        else:
            reach = f"{steps['mean']:.0f} ({steps['reached']}/{n} seeds)"
        lines.append(
            f"| {spec} | {entry['params']:,} | {_pm(entry['final'])} | {_pm(entry['best'])} | "
            f"{entry['train_seconds']['mean']:.1f} | {entry['samples_per_second']['mean']:,.0f} | "
            f"{entry['peak_memory_bytes'] / 2**20:.1f} | {reach} |"
        )
    return "\n".join([*lines, "", verdict(results)])


def _ranked(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The models of one comparison, best mean final metric first."""
    sign = 1 if results["lower_is_better"] else -1
    return sorted(results["models"].items(), key=lambda item: sign * item[1]["final"]["mean"])


def verdict(results: dict[str, Any]) -> str:
    """Which model wins one comparison, and how surely, from the numbers in ``results``.

    The winner has the best mean final metric. Its lead over the runner-up is called clear when the
    gap between the means exceeds the sum of their standard deviations over seeds, within the
    spread otherwise; with one seed per model there is no spread to judge by, and the line says so.
    It also names the models that got halfway from the trivial baseline to a perfect score
    (baseline/2 for losses) and those that did not. Models still at the baseline (less than
    :data:`AT_BASELINE` of the way to a perfect score) learned nothing to rank them by, and when no
    model got halfway, the whole ranking is noise around the baseline: the line says that the
    comparison cannot decide (or cannot order those) and how to give it the budget to.
    """
    metric, lower = results["metric"], results["lower_is_better"]
    sign = 1 if lower else -1
    ranked = _ranked(results)
    halfway = results["halfway"]  # Task.halfway, recorded by compare
    reached = [spec for spec, e in ranked if sign * e["final"]["mean"] <= sign * halfway]
    missed = [spec for spec, e in ranked if spec not in reached]
    target = "baseline/2" if lower else "half the baseline's error"
    best, entry = ranked[0]
    if not reached:
        return (
            f"cannot decide: no model reached {target} ({halfway:.4g}; best final {metric}: {best} "
            f"{entry['final']['mean']:.4g}, baseline {results['baseline']:.4g}), so this budget is too small "
            "to tell them apart; train longer (without --quick, or with more --epochs or --steps-per-epoch)."
        )
    text = f"winner: {best} ({metric} {entry['final']['mean']:.4g})"
    if len(ranked) > 1:
        second, other = ranked[1]
        gap = abs(entry["final"]["mean"] - other["final"]["mean"])
        seeds = min(len(entry["final"]["values"]), len(other["final"]["values"]))
        if seeds < 2:
            how = "one seed each, so no spread to judge the lead by (try --seeds 3)"
        elif gap > entry["final"]["std"] + other["final"]["std"]:
            how = "a lead larger than the spread over seeds"
        else:
            how = "within the spread over seeds: no clear winner"
        text += f"; runner-up {second} ({other['final']['mean']:.4g}), {how}"
    text += f". Reached {target} ({halfway:.4g}): {', '.join(reached)}"
    if not missed:
        return text + "."
    text += f"; not: {', '.join(missed)}"
    # Those still at the baseline learned nothing yet: their order is noise around it.
    stuck = [spec for spec in missed if _progress(results, results["models"][spec]) < AT_BASELINE]
    if len(stuck) > 1:
        return text + (
            f"; {', '.join(stuck)} stayed at the baseline, which this budget cannot order (train longer to tell "
            "them apart: without --quick, or with more --epochs)."
        )
    return text + "."


AT_BASELINE = 0.05
"""A model whose final metric is less than this fraction of the way from the trivial baseline to
a perfect score has learned nothing this comparison can rank."""


def _progress(results: dict[str, Any], entry: dict[str, Any]) -> float:
    """How far a model's mean final metric got from the baseline towards a perfect score: 0 at
    the baseline, 0.5 at halfway (the task's ``halfway``), 1 at perfect."""
    span = results["baseline"] - results["halfway"]
    return 0.5 * (results["baseline"] - entry["final"]["mean"]) / span if span else 0.0
