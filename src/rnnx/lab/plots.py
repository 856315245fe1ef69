"""PNG plots of a comparison (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnx._files import write_atomic_with

COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _log_scale(results: dict[str, Any], values: list[float]) -> bool:
    return bool(results["lower_is_better"]) and min(values) > 0 and max(values) / min(values) > 20


def write_plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``curves.png`` and ``wallclock.png`` (and ``sweep.png`` for a sweep); return the paths."""
    if "points" in results:
        return [_sweep(results, out_dir / "sweep.png")]
    return [
        _curves(results, out_dir / "curves.png", wallclock=False),
        _curves(results, out_dir / "wallclock.png", wallclock=True),
    ]


def _curves(results: dict[str, Any], path: Path, *, wallclock: bool) -> Path:
    """Validation metric per epoch (or per training second) for every model and seed: the mean
    over seeds bold, each seed thin; the trivial baseline dashed."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    everything = [results["baseline"]]
    for k, (spec, entry) in enumerate(results["models"].items()):
        color = COLORS[k % len(COLORS)]
        for curve, elapsed in zip(entry["curves"], entry["elapsed_seconds"], strict=True):
            x = elapsed if wallclock else list(range(1, len(curve) + 1))
            axes.plot(x, curve, color=color, alpha=0.3, linewidth=0.8)
            everything += curve
        mean = entry["curve_mean"]
        if wallclock:
            x = [sum(e[i] for e in entry["elapsed_seconds"]) / len(entry["elapsed_seconds"]) for i in range(len(mean))]
        else:
            x = list(range(1, len(mean) + 1))
        axes.plot(x, mean, color=color, linewidth=2, label=f"{spec} ({entry['params']:,} params)")
    axes.axhline(results["baseline"], color="black", linestyle="--", linewidth=1, label="trivial baseline")
    if _log_scale(results, everything):
        axes.set_yscale("log")
    axes.set_xlabel("training seconds" if wallclock else "epoch")
    axes.set_ylabel(f"validation {results['metric']}")
    axes.set_title(f"{results['task']} {_options(results)}")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    write_atomic_with(path, lambda temporary: figure.savefig(temporary, format="png"))
    plt.close(figure)
    return path


def _sweep(results: dict[str, Any], path: Path) -> Path:
    """Final validation metric (mean ± std over seeds) against the swept option, per model."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    values = results["sweep"]["values"]
    points = results["points"]
    everything = []
    for k, spec in enumerate(points[0]["models"]):
        means = [p["models"][spec]["final"]["mean"] for p in points]
        stds = [p["models"][spec]["final"]["std"] for p in points]
        everything += means
        axes.errorbar(values, means, yerr=stds, color=COLORS[k % len(COLORS)], marker="o", capsize=3, label=spec)
    baselines = [p["baseline"] for p in points]
    everything += baselines
    axes.plot(values, baselines, color="black", linestyle="--", linewidth=1, label="trivial baseline")
    if _log_scale(results, everything):
        axes.set_yscale("log")
    axes.set_xlabel(results["sweep"]["parameter"])
    axes.set_ylabel(f"final validation {results['metric']}")
    axes.set_title(f"{results['task']}: {results['metric']} against {results['sweep']['parameter']}")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    write_atomic_with(path, lambda temporary: figure.savefig(temporary, format="png"))
    plt.close(figure)
    return path


def _options(results: dict[str, Any]) -> str:
    options = results.get("task_options") or {}
    return ", ".join(f"{k}={v}" for k, v in options.items() if k not in ("train_size", "valid_size", "test_size"))
