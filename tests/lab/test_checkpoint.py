"""Checkpoint pieces: RNG states round-trip, strict weight loading, the pointer and its checksums."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rnnx._files import FileFormatError, sha256_bytes
from rnnx.lab.checkpoint import load_trainer, load_weights, read_pointer, rng_states, save_weights, set_rng_states


def draws() -> tuple[list[float], list[float], list[float]]:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    np.random.randn()  # leaves a cached Gaussian in numpy's state
    torch.save(rng_states(), tmp_path / "rng.pt")
    expected = draws()
    draws()
    set_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert draws() == expected


def test_weights_must_fit(tmp_path: Path) -> None:
    save_weights(tmp_path / "w.safetensors", nn.Linear(2, 3))
    other = nn.Linear(2, 3)
    load_weights(tmp_path / "w.safetensors", other)
    with pytest.raises(
        FileFormatError,
        match=r"w.safetensors: the weights do not fit the model: missing \['1.weight', '1.bias'\], "
        r"unexpected \['bias', 'weight'\]",
    ):
        load_weights(tmp_path / "w.safetensors", nn.Sequential(nn.Identity(), nn.Linear(2, 3)))
    with pytest.raises(FileFormatError, match=r"wrong shape of weight \(3, 2\) \(model: \(4, 2\)\)"):
        load_weights(tmp_path / "w.safetensors", nn.Linear(2, 4))


def test_weights_are_verified_against_their_checksum(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    digest = save_weights(path, nn.Linear(2, 3))
    load_weights(path, nn.Linear(2, 3), sha256=digest)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # one bit of a weight: still a valid safetensors file
    path.write_bytes(bytes(data))
    load_weights(path, nn.Linear(2, 3))  # without the checksum nothing can tell
    with pytest.raises(FileFormatError, match=r"w\.safetensors: the checksum does not match"):
        load_weights(path, nn.Linear(2, 3), sha256=digest)


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("owned",))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a trainer state torch.load"),
        (b"PK\x03\x04 truncated", "not a trainer state torch.load"),
        ("evil", r"not a trainer state torch.load\(weights_only=True\) accepts \(Weights only load failed"),
        ("list", "expected a dict with an 'optimizer' state"),
        ("no-rng", "'rng' must hold the states of torch"),
    ],
)
def test_a_bad_trainer_file_is_one_clear_error(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "trainer.pt"
    if content == "evil":
        torch.save({"optimizer": {}, "rng": Evil()}, path)
    elif content == "list":
        torch.save([1, 2], path)
    elif content == "no-rng":
        torch.save({"optimizer": {}, "rng": {}}, path)
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    with pytest.raises(FileFormatError, match=message) as caught:
        load_trainer(path)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_a_truncated_trainer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trainer.pt"
    torch.save({"optimizer": {}, "rng": rng_states()}, path)
    assert set(load_trainer(path)["rng"]) == {"torch", "cuda", "numpy", "numpy_gauss", "python"}
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(FileFormatError, match=r"trainer\.pt: not a trainer state"):
        load_trainer(path)


@pytest.mark.parametrize(
    ("pointer", "message"),
    [
        ("{", "checkpoint.json: not valid JSON"),
        ("[]", "checkpoint.json: expected a JSON object; got list"),
        ('{"latest": "epoch-0001"}', "checkpoint.json: missing key\\(s\\) sha256, best"),
        ('{"latest": "../../etc", "sha256": {}, "best": null}', "'latest' must name a checkpoint folder"),
        ('{"latest": "epoch-0001", "sha256": {}, "best": null}', "'sha256' must give the digest of each of"),
    ],
)
def test_a_bad_pointer_is_one_clear_error(tmp_path: Path, pointer: str, message: str) -> None:
    (tmp_path / "checkpoint.json").write_text(pointer)
    with pytest.raises(FileFormatError, match=message):
        read_pointer(tmp_path)


def test_a_pointer_naming_a_missing_checkpoint(tmp_path: Path) -> None:
    digest = "0" * 64
    sums = {"model.safetensors": digest, "trainer.pt": digest, "state.json": digest}
    (tmp_path / "checkpoint.json").write_text(json.dumps({"latest": "epoch-0002", "sha256": sums, "best": None}))
    with pytest.raises(FileFormatError, match=r"checkpoint.json: names checkpoint 'epoch-0002', but .* does not exist"):
        read_pointer(tmp_path)
    (tmp_path / "checkpoints" / "epoch-0002").mkdir(parents=True)
    pointer = read_pointer(tmp_path)
    assert pointer is not None
    assert (pointer.latest, pointer.best_sha256) == ("epoch-0002", None)


def test_an_optimizer_state_of_another_shape_is_refused(tmp_path: Path) -> None:
    from rnnx.lab.checkpoint import load_checkpoint, save_checkpoint
    from rnnx.lab.outputs import Output

    def trained(width: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        model = nn.Linear(2, width)
        optimizer = torch.optim.AdamW(model.parameters())
        model(torch.ones(1, 2)).sum().backward()
        optimizer.step()
        return model, optimizer

    state = {"epoch": 1, "step": 1, "samples": 1, "train_seconds": 0.0, "curve": [1.0], "train_loss": [1.0],
             "epoch_seconds": [0.1], "best_metric": 1.0, "best_epoch": 1, "bad_epochs": 0, "steps_to_halfway": None,
             "stopped_early": False, "peak_memory_bytes": 0}  # fmt: skip
    run = Output.claim(tmp_path / "run", "run")
    model, optimizer = trained(3)
    save_checkpoint(run, epoch=1, model=model, optimizer=optimizer, state=state, new_best=True)
    pointer = read_pointer(run.root)
    assert pointer is not None
    assert load_checkpoint(run.root, pointer, nn.Linear(2, 3), trained(3)[1]) == state
    other, wrong = trained(3)
    # Same parameter count and names, other shapes: what load_state_dict alone would accept.
    _, wide_optimizer = trained(4)
    torch.save({"optimizer": wide_optimizer.state_dict(), "rng": rng_states()}, tmp_path / "t.pt")
    folder = run.root / "checkpoints" / "epoch-0001"
    (folder / "trainer.pt").write_bytes((tmp_path / "t.pt").read_bytes())
    sums = dict(pointer.sha256, **{"trainer.pt": sha256_bytes((folder / "trainer.pt").read_bytes())})
    forged = type(pointer)(pointer.latest, sums, pointer.best_epoch, pointer.best_sha256)
    with pytest.raises(
        FileFormatError, match=r"trainer\.pt: does not fit this run \(optimizer exp_avg of shape \(4, 2\)"
    ):
        load_checkpoint(run.root, forged, other, wrong)
