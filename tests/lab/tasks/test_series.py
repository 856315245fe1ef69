"""csv: column lookup, standardisation, windows, baseline and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnx.lab.tasks import get_task


def write(tmp_path: Path, rows: list[str]) -> str:
    path = tmp_path / "series.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_windows_are_standardised_slices(tmp_path: Path) -> None:
    values = [float(v * v % 17) for v in range(100)]
    path = write(tmp_path, ["day,price"] + [f"{k},{v}" for k, v in enumerate(values)])
    task = get_task("csv", path=path, column="price", window=5, horizon=2)
    series = torch.tensor(values, dtype=torch.float64)
    train = series[:70]
    z = (series - train.mean()) / train.std()
    assert task.train.inputs.shape == (70 - 5 - 2 + 1, 5, 1)
    torch.testing.assert_close(task.train.inputs[3, :, 0].double(), z[3:8], atol=1e-6, rtol=0)
    torch.testing.assert_close(task.train.targets[3].double(), z[8:10], atol=1e-6, rtol=0)
    torch.testing.assert_close(task.valid.inputs[0, :, 0].double(), z[70:75], atol=1e-6, rtol=0)
    mean = task.train.targets.double().mean(0)
    assert task.baseline == pytest.approx(float(((task.valid.targets.double() - mean) ** 2).mean()), rel=1e-9)
    by_index = get_task("csv", path=path, column="1", window=5, horizon=2)
    assert torch.equal(by_index.train.inputs, task.train.inputs)


def test_bad_files(tmp_path: Path) -> None:
    path = write(tmp_path, ["day,price"] + [f"{k},{k}" for k in range(50)])
    with pytest.raises(
        ValueError, match=r"csv: column 'cost' is not in '.*series.csv'; its columns are \['day', 'price'\]"
    ):
        get_task("csv", path=path, column="cost")
    with pytest.raises(FileNotFoundError, match=r"csv: file '.*nope.csv' does not exist"):
        get_task("csv", path=str(tmp_path / "nope.csv"), column="price")
    with pytest.raises(ValueError, match="csv: column is required"):
        get_task("csv", path=path)
    with pytest.raises(ValueError, match="csv: path is required"):
        get_task("csv", column="price")
    with pytest.raises(ValueError, match="csv: 50 rows are too few for window=32, horizon=1"):
        get_task("csv", path=path, column="price")
    bad = write(tmp_path, ["day,price", "0,1", "1,x"])
    with pytest.raises(ValueError, match=r"csv: line 3 of '.*series.csv': column 'price' is not a number: 'x'"):
        get_task("csv", path=bad, column="price", window=1)
    for cell in ("nan", " NaN", "inf", "-Infinity"):
        bad = write(tmp_path, ["day,price", "0,1", f"1,{cell}"])
        with pytest.raises(
            ValueError, match=rf"csv: line 3 of '.*series.csv': column 'price' holds '{cell.strip()}'; every value must"
        ):
            get_task("csv", path=bad, column="price", window=1)
    (tmp_path / "binary.csv").write_bytes(b"day,price\n\xff\xfe,1\n")
    with pytest.raises(ValueError, match=r"csv: file '.*binary.csv' is not UTF-8 \(invalid start byte at byte 10\)"):
        get_task("csv", path=str(tmp_path / "binary.csv"), column="price", window=1)
