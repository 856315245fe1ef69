"""``TrainConfig``: everything that defines a training run, resolved to plain values and saved
as JSON beside the run; ``load_toml`` reads the same fields from a TOML file.

``quick=True`` fills the fields left unset (``None``) with small sizes meant for a smoke test
or a demo on a laptop: fewer epochs, a smaller model and, for tasks that take them, smaller
generated datasets. Explicit values always win.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnx._checks import check_choice, check_int
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
        preset = QUICK if self.quick else DEFAULTS
        epochs = preset["epochs"] if self.epochs is None else self.epochs
        hidden = preset["hidden_size"] if self.hidden_size is None else self.hidden_size
        lr = preset["lr"] if self.lr is None else self.lr
        options = dict(self.task_options)
        if self.quick:
            accepted = task_options(self.task)
            options = {k: v for k, v in QUICK_TASK.items() if k in accepted} | options
        else:
            task_options(self.task)  # an unknown task fails here, naming the choices
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
        for name, value in (("lr", lr), ("weight_decay", self.weight_decay), ("dropout", self.dropout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{owner}: {name} must be a number >= 0; got {value!r}")
        if self.clip is not None and (not isinstance(self.clip, int | float) or self.clip <= 0):
            raise ValueError(f"{owner}: clip must be a number > 0 or None; got {self.clip!r}")
        return dataclasses.replace(self, epochs=epochs, hidden_size=hidden, lr=lr, task_options=options)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> TrainConfig:
        """Build a config from a dict (a TOML file or a saved ``config.json``); unknown keys are errors."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {', '.join(unknown)}; valid keys are {', '.join(sorted(names))}"
            )
        return cls(**data)


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
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"config file {str(file)!r} is not valid TOML: {error}") from None
    return data
