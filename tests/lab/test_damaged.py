"""Damaged or edited files of a run: one line naming the file and the fault, exit code 2, never a
traceback, never a resume from a damaged weight; and the same readers fuzzed with hypothesis."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnx._files import FileFormatError, load_tensors, read_json, sha256_bytes
from rnnx.cli import main
from rnnx.lab.checkpoint import check_state, load_checkpoint, load_trainer, read_pointer
from rnnx.lab.config import TrainConfig, read_saved_config
from rnnx.lab.models import build_model
from rnnx.lab.outputs import marker_kind
from rnnx.lab.runs import load_run, saved_task

EPOCH = "checkpoints/epoch-0002"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-epoch character run whose best weights are not its last ones."""
    from rnnx._files import save_tensors
    from rnnx.lab.train import train

    root = tmp_path_factory.mktemp("damaged")
    text = root / "text.txt"
    text.write_text("abcabd " * 30, encoding="utf-8")
    options = {"path": str(text), "seq_len": 8}
    config = TrainConfig(task="chars", task_options=options, model="gru", hidden_size=4, epochs=2, lr=0.01)
    run = root / "run"
    train(config, out_dir=run)
    # As if epoch 1 had been the best: other weights in best.safetensors, recorded in the pointer.
    best = {k: v / 2 for k, v in load_tensors(run / "best.safetensors").items()}
    pointer = json.loads((run / "checkpoint.json").read_text())
    pointer["best"] = {"epoch": 1, "sha256": save_tensors(run / "best.safetensors", best)}
    (run / "checkpoint.json").write_text(json.dumps(pointer))
    return run


def copy_run(finished: Path, into: Path) -> Path:
    run = into / "run"
    shutil.copytree(finished, run)
    return run


def repoint(run: Path, name: str) -> None:
    """Make checkpoint.json vouch for the file as it is now, as a careful forger would."""
    pointer = json.loads((run / "checkpoint.json").read_text())
    pointer["sha256"][name] = sha256_bytes((run / EPOCH / name).read_bytes())
    (run / "checkpoint.json").write_text(json.dumps(pointer))


def edit_json(path: Path, change: Callable[[dict[str, object]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x10
    path.write_bytes(bytes(data))


def evil_trainer(run: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("owned",))

    buffer = io.BytesIO()
    torch.save({"optimizer": {}, "rng": Evil()}, buffer)
    (run / EPOCH / "trainer.pt").write_bytes(buffer.getvalue())
    repoint(run, "trainer.pt")


def state_without_step(run: Path) -> None:
    edit_json(run / EPOCH / "state.json", lambda d: d.pop("step"))
    repoint(run, "state.json")


DAMAGE: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # name: (damage, file named, fault)
    "model truncated": (lambda r: truncate(r / EPOCH / "model.safetensors"), "model.safetensors", "checksum"),
    "model empty": (lambda r: (r / EPOCH / "model.safetensors").write_bytes(b""), "model.safetensors", "empty"),
    "model one bit": (lambda r: flip_last_byte(r / EPOCH / "model.safetensors"), "model.safetensors", "checksum"),
    "trainer truncated": (lambda r: truncate(r / EPOCH / "trainer.pt"), "trainer.pt", "checksum"),
    "trainer pickled": (evil_trainer, "trainer.pt", "torch.load(weights_only=True)"),
    "state edited": (lambda r: flip_last_byte(r / EPOCH / "state.json"), "state.json", "checksum"),
    "state lacks a key": (state_without_step, "state.json", "missing key(s) step"),
    "state gone": (lambda r: (r / EPOCH / "state.json").unlink(), "state.json", "no such file"),
    "pointer nowhere": (
        lambda r: edit_json(r / "checkpoint.json", lambda d: d.update(latest="epoch-0009")),
        "checkpoint.json",
        "names checkpoint 'epoch-0009'",
    ),
    "pointer not json": (lambda r: (r / "checkpoint.json").write_text("{"), "checkpoint.json", "not valid JSON"),
    "config empty": (lambda r: (r / "config.json").write_text(""), "config.json", "the file is empty"),
    "config wrong type": (
        lambda r: edit_json(r / "config.json", lambda d: d.update(epochs="many")),
        "config.json",
        "epochs must be an int; got str 'many'",
    ),
    "config unknown key": (
        lambda r: edit_json(r / "config.json", lambda d: d.update(colour="red")),
        "config.json",
        "unknown key(s) colour",
    ),
    "config missing key": (
        lambda r: edit_json(r / "config.json", lambda d: d.pop("lr")),
        "config.json",
        "missing key(s) lr",
    ),
    "config nan": (
        lambda r: (r / "config.json").write_text((r / "config.json").read_text().replace('"lr": 0.01', '"lr": NaN')),
        "config.json",
        "lr must be a finite number >= 0; got nan",
    ),
    "vocab not json": (lambda r: (r / "vocab.json").write_text("[1,"), "vocab.json", "not valid JSON"),
    "vocab numbers": (lambda r: (r / "vocab.json").write_text("[1, 2]"), "vocab.json", "array of strings"),
    "marker": (lambda r: (r / "rnnx.json").write_text("null"), "rnnx.json", "expected a JSON object"),
}


def one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_resume_refuses_a_damaged_run_in_one_line(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    run = copy_run(finished, tmp_path)
    damage, file, fault = DAMAGE[name]
    damage(run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    err = one_line_error(["train", "--resume", str(run), "--threads", "1"], capsys)
    assert err.startswith("rnnx train: error: ")
    assert file in err
    assert fault in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing rewritten


@pytest.mark.parametrize(
    ("damage", "fault"),
    [
        (lambda r: flip_last_byte(r / "best.safetensors"), "best.safetensors: the checksum does not match"),
        (lambda r: truncate(r / "best.safetensors"), "best.safetensors: the checksum does not match"),
        (lambda r: (r / "best.safetensors").unlink(), "best.safetensors: no such file"),
    ],
)
def test_damaged_best_weights_are_refused_by_generate_and_inspect(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Callable[[Path], None], fault: str
) -> None:
    run = copy_run(finished, tmp_path)
    damage(run)
    assert fault in one_line_error(["generate", str(run), "--length", "3"], capsys)
    assert fault in one_line_error(["inspect", "--checkpoint", str(run), "--out", str(tmp_path / "i")], capsys)
    assert main(["generate", str(run), "--length", "3", "--weights", "latest"]) == 0  # the checkpoint is intact


def test_a_kill_before_the_best_weights_were_rewritten_is_repaired(finished: Path, tmp_path: Path) -> None:
    run = copy_run(finished, tmp_path)
    pointer = json.loads((run / "checkpoint.json").read_text())
    pointer["best"] = {"epoch": 2, "sha256": pointer["sha256"]["model.safetensors"]}  # epoch 2 was the best ...
    (run / "checkpoint.json").write_text(json.dumps(pointer))  # ... but best.safetensors still holds epoch 1
    model, _, _ = load_run(run)  # the checkpoint's identical weights stand in
    latest = load_tensors(run / EPOCH / "model.safetensors")
    assert all(torch.equal(v, latest[k]) for k, v in model.state_dict().items())
    config = read_saved_config(run / "config.json")
    from rnnx.lab.train import train

    train(config, out_dir=run, resume=True)
    assert (run / "best.safetensors").read_bytes() == (run / EPOCH / "model.safetensors").read_bytes()


# Fuzzing: every reader of a run's files, on random damage, raises one of three types and names the file.

ALLOWED = (FileFormatError, FileNotFoundError, ValueError)


def readers(run: Path) -> dict[str, Callable[[], object]]:
    def resume_checkpoint() -> object:
        pointer = read_pointer(run)
        assert pointer is not None
        config = read_saved_config(run / "config.json")
        task = saved_task(config, run / "config.json")
        model = build_model(config.model, task, hidden_size=4)
        optimizer = torch.optim.AdamW(model.parameters())
        return load_checkpoint(run, pointer, model, optimizer)

    return {
        "config.json": lambda: read_saved_config(run / "config.json"),
        "checkpoint.json": lambda: read_pointer(run),
        "state.json": lambda: check_state(run / EPOCH / "state.json", read_json(run / EPOCH / "state.json")),
        "trainer.pt": lambda: load_trainer(run / EPOCH / "trainer.pt"),
        "model.safetensors": lambda: load_tensors(run / EPOCH / "model.safetensors"),
        "best.safetensors": lambda: load_run(run),
        "vocab.json": lambda: load_run(run),
        "rnnx.json": lambda: marker_kind(run),
        "resume": resume_checkpoint,
    }


FILES = {
    "config.json": "config.json",
    "checkpoint.json": "checkpoint.json",
    "state.json": f"{EPOCH}/state.json",
    "trainer.pt": f"{EPOCH}/trainer.pt",
    "model.safetensors": f"{EPOCH}/model.safetensors",
    "best.safetensors": "best.safetensors",
    "vocab.json": "vocab.json",
    "rnnx.json": "rnnx.json",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def damage(draw: st.DrawFn, original: bytes, is_json: bool) -> bytes:
    kind = draw(st.sampled_from(["truncate", "random", "flip", "json"] if is_json else ["truncate", "random", "flip"]))
    if kind == "truncate":
        return original[: draw(st.integers(0, max(0, len(original) - 1)))]
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "flip":
        data = bytearray(original)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    value = json.loads(original)
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        if draw(st.booleans()):
            del value[key]
        else:
            value[key] = draw(json_values)
    elif isinstance(value, list) and value:
        value[draw(st.integers(0, len(value) - 1))] = draw(json_values)
    else:
        value = draw(json_values)
    return json.dumps(value).encode()


@pytest.mark.parametrize("name", sorted(FILES))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_files_give_a_named_error(finished: Path, name: str, data: st.DataObject) -> None:
    original = (finished / FILES[name]).read_bytes()
    mutated = data.draw(damage(original, name.endswith(".json")))
    with tempfile.TemporaryDirectory() as folder:
        run = copy_run(finished, Path(folder))
        (run / FILES[name]).write_bytes(mutated)
        calls = readers(run)
        for reader in (calls.get(name), calls["resume"]):
            if reader is None:
                continue
            try:
                reader()
            except ALLOWED as error:
                text = str(error)
                assert "\n" not in text
                assert name in text or str(run) in text, text
