"""The command-line flags of ``rnnx train`` and ``rnnx compare`` and how they become a
:class:`TrainConfig`: values from ``--config run.toml`` first, then every flag given on the
command line on top (a flag never given leaves the file's value, or the default, alone).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnx.cli._args import nonnegative_float, nonnegative_int, positive_float, positive_int
from rnnx.lab.config import SCHEDULES, TrainConfig, load_toml

# flag -> task option, for the options most tasks take; any other goes through --task-option.
TASK_FLAGS: dict[str, Callable[[str], Any]] = {
    "seq_len": positive_int,
    "path": str,
    "column": str,
    "window": positive_int,
    "horizon": positive_int,
    "mode": str,
    "train_size": positive_int,
    "valid_size": positive_int,
    "test_size": positive_int,
}


def _clip(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0 or 'none'; got {text!r}") from None


def _dropout(text: str) -> float:
    value = nonnegative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 and < 1; got {text!r}")
    return value


def parse_value(text: str) -> Any:
    """``"true"``/``"false"`` -> bool, then int, then a finite float, else the string itself
    (``nan`` and ``inf`` stay strings, for the option's own check to refuse)."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _key_value(text: str) -> tuple[str, Any]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE; got {text!r}")
    return key.strip(), parse_value(value.strip())


def add_training_flags(parser: argparse.ArgumentParser, *, models: bool) -> None:
    """Add the task, model and optimisation flags; ``models`` adds ``--models`` (compare) instead
    of ``--model`` (train). Every flag defaults to "not given" so a TOML file can set it."""
    s = argparse.SUPPRESS
    parser.add_argument("--config", metavar="TOML", help="read settings from a TOML file (flags override it)")
    parser.add_argument("--task", default=s, help="adding, copy, sine, digits, chars, csv, ...")
    for name, kind in TASK_FLAGS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}", dest=f"task_{name}", type=kind, default=s, metavar=name.upper()
        )
    parser.add_argument(
        "--permute", dest="task_permute", action="store_true", default=s, help="digits: permuted pixels"
    )
    parser.add_argument(
        "--data-seed", dest="task_seed", type=nonnegative_int, default=s, help="seed of a generated dataset"
    )
    parser.add_argument("--task-option", action="append", type=_key_value, default=s, metavar="KEY=VALUE")
    if models:
        parser.add_argument("--models", default=s, help="comma-separated model specs, e.g. rnn,lstm,gru,transformer")
    else:
        parser.add_argument("--model", default=s, help="a model spec, e.g. lstm or lstm:layer_norm,zoneout=0.1")
    parser.add_argument("--hidden-size", type=positive_int, default=s)
    parser.add_argument("--num-layers", type=positive_int, default=s)
    parser.add_argument(
        "--match-params", type=positive_int, default=s, metavar="N", help="size each model to ~N params"
    )
    parser.add_argument("--dropout", type=_dropout, default=s)
    parser.add_argument("--epochs", type=positive_int, default=s)
    parser.add_argument("--steps-per-epoch", type=positive_int, default=s)
    parser.add_argument("--batch-size", type=positive_int, default=s)
    parser.add_argument("--lr", type=nonnegative_float, default=s, help="AdamW learning rate (0: an untrained control)")
    parser.add_argument("--weight-decay", type=nonnegative_float, default=s)
    parser.add_argument("--clip", type=_clip, default=s, help="max gradient norm, or 'none'")
    parser.add_argument("--schedule", choices=SCHEDULES, default=s)
    parser.add_argument("--warmup-steps", type=nonnegative_int, default=s)
    parser.add_argument("--patience", type=positive_int, default=s, help="early stopping after N epochs without gain")
    parser.add_argument(
        "--target",
        type=nonnegative_float,
        default=s,
        help="stop once the validation metric reaches this value (a loss at or below it)",
    )
    parser.add_argument("--seed", type=nonnegative_int, default=s, help="seed of the model, dropout and data order")
    parser.add_argument("--quick", action="store_true", default=s, help="small sizes for a fast run")
    parser.add_argument("--device", default=s, help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The TOML file's settings (if ``--config``) overridden by the flags given, as TrainConfig
    keys plus ``models`` for compare (``task_options`` merged key by key)."""
    settings: dict[str, Any] = load_toml(args.config) if getattr(args, "config", None) else {}
    if not isinstance(settings.get("task_options", {}), dict):
        raise ValueError(
            f"{args.config}: task_options must be a table ([task_options]); got {settings['task_options']!r}"
        )
    options = dict(settings.get("task_options", {}))
    given = vars(args)
    for name, value in given.items():
        if name.startswith("task_") and name != "task_option":
            options[name.removeprefix("task_")] = value
    for key, value in given.get("task_option", []):
        options[key] = value
    if isinstance(options.get("path"), str) and Path(options["path"]).is_file():
        # Saved absolute, so rnnx generate and --resume find the data from any directory.
        options["path"] = str(Path(options["path"]).resolve())
    fields = set(TrainConfig.__dataclass_fields__) - {"task_options"}
    settings.update({k: v for k, v in given.items() if k in fields or k == "models"})
    if options:
        settings["task_options"] = options
    return settings


def config_from_settings(settings: dict[str, Any], *, source: str) -> TrainConfig:
    """A :class:`TrainConfig` from ``settings`` (as :func:`settings_from_args` returns, without ``models``)."""
    return TrainConfig.from_dict(settings, source=source)
