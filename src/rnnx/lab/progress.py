"""Progress bars for the lab's commands: one rich bar per training run on stderr, shown only
when stderr is a terminal (logs and CI output stay quiet)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rnnx.lab.train import ProgressEvent

Callback = Callable[[ProgressEvent], None]


class Bars:
    """``with Bars(enabled) as bars: train(..., progress=bars.callback("lstm seed 0"))``.

    Disabled (``enabled=False``, or rich not installed), ``callback`` returns ``None``.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress: Any = None

    def __enter__(self) -> Bars:
        if self.enabled:
            try:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            except ImportError:  # pragma: no cover - rich is in the lab extra
                self.enabled = False
                return self
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("epoch {task.fields[epoch]}  loss {task.fields[loss]:.4g}  valid {task.fields[metric]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def callback(self, label: str) -> Callback | None:
        """A ``progress`` callback drawing one bar labelled ``label``, or ``None`` when disabled."""
        progress = self._progress
        if progress is None:
            return None
        bar: list[Any] = []

        def update(event: ProgressEvent) -> None:
            if not bar:
                total = event.epochs * event.steps_per_epoch
                bar.append(progress.add_task(label, total=total, epoch=0, loss=float("nan"), metric="-"))
            fields: dict[str, Any] = {"completed": event.step, "loss": event.loss}
            if event.kind == "epoch":
                fields |= {"epoch": event.epoch, "metric": f"{event.metric:.4g}"}
            progress.update(bar[0], **fields)

        return update
