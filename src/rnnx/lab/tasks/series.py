"""``csv``: forecast a column of the user's own CSV time series.

Rows are time steps in file order. The series is split in time (70/15/15 percent, so the model
never trains on the future of its validation data), standardised with the training part's mean
and standard deviation, and cut into sliding windows of ``window`` steps, each followed by the
``horizon`` values to predict. MSE is in standardised units.
"""

from __future__ import annotations

import csv as csvlib
import math
from pathlib import Path

import torch
from torch import Tensor

from rnnx._checks import check_int
from rnnx.lab.tasks.base import Split, Task, split_sizes, train_mean_mse


def read_column(path: str | Path, column: str) -> list[float]:
    """The numbers in ``column`` (a header name, or a 0-based index when the header lacks it)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"csv: file {str(file)!r} does not exist")
    try:
        with file.open(newline="", encoding="utf-8") as handle:
            rows = list(csvlib.reader(handle))
    except UnicodeDecodeError as error:
        raise ValueError(f"csv: file {str(file)!r} is not UTF-8 ({error.reason} at byte {error.start})") from None
    except csvlib.Error as error:
        raise ValueError(f"csv: file {str(file)!r} is not a CSV file ({error})") from None
    if not rows:
        raise ValueError(f"csv: file {str(file)!r} is empty")
    header = [h.strip() for h in rows[0]]
    if column in header:
        index = header.index(column)
    elif column.isdigit() and int(column) < len(header):
        index = int(column)
    else:
        raise ValueError(f"csv: column {column!r} is not in {str(file)!r}; its columns are {header}")
    values = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        try:
            value = float(row[index])
        except (ValueError, IndexError):
            cell = row[index] if index < len(row) else "<missing>"
            where = f"line {line} of {str(file)!r}"
            raise ValueError(f"csv: {where}: column {header[index]!r} is not a number: {cell!r}") from None
        if not math.isfinite(value):
            where = f"line {line} of {str(file)!r}"
            raise ValueError(
                f"csv: {where}: column {header[index]!r} holds {row[index].strip()!r}; every value must be a "
                "finite number (fill or drop the gaps first)"
            )
        values.append(value)
    return values


def sliding(series: Tensor, window: int, horizon: int) -> Split:
    """Inputs ``(N, window, 1)`` and targets ``(N, horizon)`` from every position of ``series``."""
    n = len(series) - window - horizon + 1
    index = torch.arange(n)[:, None] + torch.arange(window + horizon)
    chunks = series[index]
    return Split(chunks[:, :window, None].contiguous(), chunks[:, window:].contiguous())


def csv(*, path: str | None = None, column: str = "", window: int = 32, horizon: int = 1) -> Task:
    """Forecast ``horizon`` values of ``column`` of the CSV file at ``path`` from the ``window``
    before them. Baseline: predict the training mean (MSE on the validation windows)."""
    if not path:
        raise ValueError("csv: path is required (the CSV file with a header row), e.g. --path data.csv")
    if not column:
        raise ValueError("csv: column is required (a header name or a 0-based index), e.g. --column price")
    check_int("csv", "window", window, minimum=1)
    check_int("csv", "horizon", horizon, minimum=1)
    values = torch.tensor(read_column(path, column), dtype=torch.float32)
    n_train, n_valid, _ = split_sizes("csv", len(values), (0.15, 0.15))
    parts = values[:n_train], values[n_train : n_train + n_valid], values[n_train + n_valid :]
    shortest = min(len(p) for p in parts)
    if shortest < window + horizon:
        raise ValueError(
            f"csv: {len(values)} rows are too few for window={window}, horizon={horizon}: each of the "
            f"train/valid/test parts (70/15/15 percent) needs at least window + horizon = {window + horizon} rows"
        )
    mean, std = parts[0].mean(), parts[0].std().clamp_min(1e-8)
    train, valid, test = (sliding((p - mean) / std, window, horizon) for p in parts)
    return Task(
        "csv",
        "regression",
        "mse",
        train_mean_mse(train.targets, valid.targets),
        "MSE of predicting the training mean (standardised units)",
        input_size=1,
        output_size=horizon,
        seq_len=window,
        tokens=False,
        per_step=False,
        train=train,
        valid=valid,
        test=test,
        options={"path": str(path), "column": column, "window": window, "horizon": horizon},
        info={"mean": float(mean), "std": float(std)},
    )
