"""``TrainConfig``: everything that defines a training run, resolved to plain values and saved
as JSON beside the run; ``load_toml`` reads the same fields from a TOML file.

``quick=True`` fills the fields left unset (``None``) with small sizes meant for a smoke test
or a demo on a laptop: fewer epochs, a smaller model and, for tasks that take them, smaller
generated datasets. Explicit values always win.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnx._checks import check_bool, check_choice, check_int
from rnnx._files import FileFormatError, read_json
from rnnx.lab.tasks import task_options

SCHEDULES = ("cosine", "constant")
DEFAULTS: dict[str, Any] = {"epochs": 20, "hidden_size": 64, "lr": 3e-3}
# A high learning rate gets LSTM and GRU off the adding problem's plateau within the few
# quick steps; the Transformer tolerates it at these sizes.
QUICK: dict[str, Any] = {"epochs": 10, "hidden_size": 32, "lr": 1e-2}
QUICK_TASK = {"train_size": 4000, "valid_size": 500, "test_size": 500}


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        task, task_options: the task name and its options (``rnnx.lab.tasks.get_task``).
        model: a model spec such as ``"lstm:layer_norm"`` (``rnnx.lab.models.build_model``).
        hidden_size, num_layers, match_params, dropout: the model's size (``match_params`` picks
            ``hidden_size`` for a parameter count).
        epochs: passes over the training split; ``steps_per_epoch`` caps the batches per epoch.
        batch_size: the global batch (split across processes under ``torchrun``).
        lr, weight_decay: AdamW's (Loshchilov & Hutter 2019); ``lr`` defaults to 3e-3 (1e-2 quick).
        clip: maximum global gradient norm (Pascanu et al. 2013), or ``None``.
        schedule: ``"cosine"`` (decay to 0 over the run; Loshchilov & Hutter 2017) or ``"constant"``,
            after ``warmup_steps`` of linear warm-up.
        patience: stop after this many epochs without a better validation metric, or ``None``.
        target: stop at the end of the first epoch whose validation metric reaches this value
            (at or below it for a loss, at or above it for an accuracy), or ``None``. An
            experiment that only asks whether a model solves a task spends no steps after it has.
        seed: initialises the model, dropout and the data order (the data itself is seeded by the
            task's own ``seed`` option).
        quick: small defaults for unset fields (see the module docstring).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ... or ``"auto"`` (CUDA when available).
        eval_batch_size: batch size for evaluation.
    """

    task: str = "adding"
    task_options: dict[str, Any] = field(default_factory=dict)
    model: str = "lstm"
    hidden_size: int | None = None
    num_layers: int = 1
    match_params: int | None = None
    dropout: float = 0.0
    epochs: int | None = None
    steps_per_epoch: int | None = None
    batch_size: int = 32
    lr: float | None = None
    weight_decay: float = 0.0
    clip: float | None = 1.0
    schedule: str = "cosine"
    warmup_steps: int = 0
    patience: int | None = None
    target: float | None = None
    seed: int = 0
    quick: bool = False
    device: str = "cpu"
    eval_batch_size: int = 500

    def resolve(self) -> TrainConfig:
        """A copy with every ``None`` default filled in (quick or normal sizes) and every value checked.

        Raises:
            ValueError/TypeError: naming the field with a bad value.
        """
        owner = "TrainConfig"
        for name, kind in (("task", str), ("model", str), ("device", str)):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{owner}: {name} must be a str; got {type(getattr(self, name)).__name__}")
        if not isinstance(self.task_options, dict):
            raise TypeError(f"{owner}: task_options must be a dict; got {type(self.task_options).__name__}")
        preset = QUICK if self.quick else DEFAULTS
        epochs = preset["epochs"] if self.epochs is None else self.epochs
        hidden = preset["hidden_size"] if self.hidden_size is None else self.hidden_size
        lr = preset["lr"] if self.lr is None else self.lr
        options = dict(self.task_options)
        if self.quick:
            options = {k: v for k, v in QUICK_TASK.items() if k in task_options(self.task)} | options
        accepted = task_options(self.task)  # an unknown task fails here, naming the choices
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"task {self.task!r} does not take {', '.join(unknown)}; it takes {', '.join(accepted)}")
        check_int(owner, "epochs", epochs, minimum=1)
        check_int(owner, "hidden_size", hidden, minimum=1)
        check_int(owner, "num_layers", self.num_layers, minimum=1)
        check_int(owner, "batch_size", self.batch_size, minimum=1)
        check_int(owner, "eval_batch_size", self.eval_batch_size, minimum=1)
        check_int(owner, "warmup_steps", self.warmup_steps, minimum=0)
        check_int(owner, "seed", self.seed, minimum=0)
        for name in ("match_params", "steps_per_epoch", "patience"):
            if getattr(self, name) is not None:
                check_int(owner, name, getattr(self, name), minimum=1)
        check_choice(owner, "schedule", self.schedule, SCHEDULES)
        check_bool(owner, "quick", self.quick)
        check_device_name(self.device)
        _check_number(owner, "lr", lr, low=0.0)  # 0 is allowed: a frozen, untrained control run
        _check_number(owner, "weight_decay", self.weight_decay, low=0.0)
        _check_number(owner, "dropout", self.dropout, low=0.0, high=1.0)
        if self.clip is not None:
            _check_number(owner, "clip", self.clip, low=0.0, low_open=True, none=True)
        target = self.target
        if target is not None and (
            isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target)
        ):
            raise TypeError(f"{owner}: target must be a finite number or None; got {type(target).__name__} {target!r}")
        return dataclasses.replace(self, epochs=epochs, hidden_size=hidden, lr=lr, task_options=options)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config", complete: bool = False) -> TrainConfig:
        """Build a config from a dict (a TOML file or a saved ``config.json``); unknown keys are
        errors, and so are missing ones when ``complete`` (a saved config holds every key)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {', '.join(unknown)}; valid keys are {', '.join(sorted(names))}"
            )
        missing = sorted(names - set(data) - ADDED_LATER) if complete else []
        if missing:
            raise ValueError(f"{source}: missing key(s) {', '.join(missing)}")
        return cls(**data)


# Fields a config.json saved before they existed lacks; their defaults keep such runs as they were.
ADDED_LATER = frozenset({"target"})

DEVICES = ("cpu", "cuda", "mps")
_DEVICE = re.compile(r"(cpu|cuda|mps)(:\d+)?|auto")


def check_device_name(name: object) -> str:
    """``name`` if it is ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (whether such
    a device exists here is :func:`rnnx.lab.rundir.check_device`'s question).

    Raises:
        ValueError: any other name.
    """
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise ValueError(f"TrainConfig: device must be auto, cpu, cuda, cuda:N or mps; got {name!r}")
    return name


def _check_number(
    owner: str,
    name: str,
    value: object,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    none: bool = False,
) -> float:
    """``value`` if it is a finite real number in the range (``> low`` when ``low_open``, else ``>= low``;
    ``< high`` when given)."""
    lower = f"> {low:g}" if low_open else f">= {low:g}"
    expected = f"a finite number {lower}" + ("" if high is None else f" and < {high:g}") + (" or None" if none else "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{owner}: {name} must be {expected}; got {type(value).__name__} {value!r}")
    number = float(value)
    bad = not math.isfinite(number) or number < low or (low_open and number == low)
    if bad or (high is not None and number >= high):
        raise ValueError(f"{owner}: {name} must be {expected}; got {value!r}")
    return number


def read_saved_config(path: str | Path) -> TrainConfig:
    """The resolved :class:`TrainConfig` saved as ``config.json`` in a run directory.

    Raises:
        FileNotFoundError: no file; FileFormatError: not JSON, keys missing or unknown, or a
            value of the wrong type or out of range (the message names the file).
    """
    file = Path(path)
    data = read_json(file)
    try:
        return TrainConfig.from_dict(data, source=str(file), complete=True).resolve()
    except FileNotFoundError as error:
        raise FileFormatError(f"{file}: {error}") from None
    except (ValueError, TypeError) as error:
        text = str(error)
        raise FileFormatError(text if text.startswith(str(file)) else f"{file}: {text}") from None


def load_toml(path: str | Path) -> dict[str, Any]:
    """The key/value pairs of a TOML file (top level; ``[task_options]`` as a table).

    Raises:
        FileNotFoundError: when the file does not exist; ValueError: when it is not valid TOML.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"config file {str(file)!r} does not exist")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]
        except ImportError as error:
            raise ImportError("reading TOML on Python 3.10 needs tomli: pip install tomli") from error
    try:
        data: dict[str, Any] = tomllib.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"config file {str(file)!r} is not UTF-8 ({error.reason} at byte {error.start})") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"config file {str(file)!r} is not valid TOML: {error}") from None
    return data
