"""build_model: every family on every kind of task runs a training step; spec parsing; sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnx
from rnnx.lab.models import FAMILIES, build_model, count_parameters, match_hidden_size, parse_spec, split_specs
from rnnx.lab.tasks import Task, get_task

SMALL = {"train_size": 8, "valid_size": 4, "test_size": 4}


def tasks() -> dict[str, Task]:
    return {
        "adding": get_task("adding", seq_len=6, **SMALL),
        "copy": get_task("copy", seq_len=3, **SMALL),
        "sine": get_task("sine", seq_len=6, horizon=2, **SMALL),
        "digits": get_task("digits", mode="row"),
        "chars": get_task("chars", seq_len=8),
    }


TASKS = tasks()
SPECS = [*FAMILIES, "lstm:layer_norm,zoneout=0.1", "gru:layer_norm", "rnn:nonlinearity=relu", "lstm:peephole"]


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("spec", SPECS)
def test_each_model_on_each_task_trains_a_step(spec: str, task_name: str) -> None:
    task = TASKS[task_name]
    model = build_model(spec, task, hidden_size=8, num_layers=2)
    batch = next(task.batches("train", 4))
    out = model(batch.inputs)
    expected = (4, task.seq_len, task.output_size) if task.per_step else (4, task.output_size)
    assert out.shape == expected
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = task.loss(out, batch)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    changed = [not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True)]
    assert any(changed)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())


def test_variant_options_reach_the_layer() -> None:
    model = build_model("lstm:layer_norm,zoneout=0.1,forget_bias=1", TASKS["adding"], hidden_size=4)
    rnn = model.encoder.rnn
    assert isinstance(rnn, rnnx.LSTM)
    assert rnn.zoneout == (0.1, 0.1)
    assert rnn.cell.layer_norm
    assert rnn.cell.forget_bias == 1.0
    relu = build_model("rnn:nonlinearity=relu", TASKS["adding"], hidden_size=4).encoder.rnn
    assert relu.nonlinearity == "relu"


def test_transformer_is_causal_only_for_per_step_tasks() -> None:
    torch.manual_seed(0)
    lm = build_model("transformer", TASKS["chars"], hidden_size=8)
    assert lm.encoder.transformer.causal
    x = torch.randint(0, TASKS["chars"].input_size, (2, 8))
    y = x.clone()
    y[:, 5:] = (y[:, 5:] + 1) % TASKS["chars"].input_size
    torch.testing.assert_close(lm(x)[:, :5], lm(y)[:, :5])  # the future does not leak into the past
    assert not torch.allclose(lm(x)[:, 5:], lm(y)[:, 5:])
    assert not build_model("transformer", TASKS["adding"], hidden_size=8).encoder.transformer.causal
    assert not build_model("transformer:causal=false", TASKS["chars"], hidden_size=8).encoder.transformer.causal


def test_causal_conv_does_not_see_the_future() -> None:
    torch.manual_seed(0)
    model = build_model("conv", TASKS["chars"], hidden_size=8, num_layers=3)
    x = torch.randint(0, TASKS["chars"].input_size, (2, 8))
    y = x.clone()
    y[:, 6:] = (y[:, 6:] + 1) % TASKS["chars"].input_size
    torch.testing.assert_close(model(x)[:, :6], model(y)[:, :6])


def test_sequence_output_reads_the_last_valid_step() -> None:
    model = build_model("gru", TASKS["adding"], hidden_size=5)
    x = torch.randn(3, 6, 2)
    lengths = torch.tensor([6, 2, 4])
    out = model(x, lengths)
    for k, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out[k], model(x[k : k + 1, :n])[0])


def test_match_params_picks_the_closest_size() -> None:
    task = TASKS["adding"]
    for spec, step in (("lstm", 1), ("gru", 1), ("transformer", 4), ("conv", 1)):
        model = build_model(spec, task, match_params=5000)
        size = model.head.in_features
        assert size % step == 0

        def count(h: int, spec: str = spec) -> int:
            return count_parameters(build_model(spec, task, hidden_size=h))

        # The count grows with the size, so the closest size beats both neighbours.
        assert count(size - step) < count(size) < count(size + step)
        gap = abs(count_parameters(model) - 5000)
        assert gap <= abs(count(size - step) - 5000)
        assert gap <= abs(count(size + step) - 5000)


def test_match_hidden_size_by_brute_force() -> None:
    count = lambda h: 3 * h * h + 7 * h  # noqa: E731
    for target in (1, 10, 11, 500, 1234, 99999):
        best = min(range(1, 1000), key=lambda h: (abs(count(h) - target), h))
        assert match_hidden_size(count, target, largest=999) == best


def test_parse_spec() -> None:
    assert parse_spec("lstm:layer_norm,zoneout=0.1") == ("lstm", {"layer_norm": True, "zoneout": 0.1})
    assert parse_spec("transformer:heads=2,positions=learned,causal=false") == (
        "transformer",
        {"heads": 2, "positions": "learned", "causal": False},
    )
    assert parse_spec(" gru ") == ("gru", {})


def test_split_specs_keeps_each_specs_options() -> None:
    assert split_specs("rnn,lstm:layer_norm,zoneout=0.1,gru") == ["rnn", "lstm:layer_norm,zoneout=0.1", "gru"]
    assert split_specs(" lstm , gru:layer_norm, zoneout=0.2 ,") == ["lstm", "gru:layer_norm,zoneout=0.2"]
    assert split_specs("transformer:heads=2,causal=false,conv:kernel=5") == [
        "transformer:heads=2,causal=false",
        "conv:kernel=5",
    ]
    assert split_specs("") == []


def test_identity_init_is_le_et_als_irnn() -> None:
    torch.manual_seed(0)
    model = build_model("rnn:nonlinearity=relu,init=identity", TASKS["adding"], hidden_size=6, num_layers=2)
    layer = next(m for m in model.modules() if isinstance(m, rnnx.RNN))
    for name, p in layer.named_parameters():
        if name.startswith("weight_hh"):
            assert torch.equal(p, torch.eye(6)), name
        elif name.startswith("bias"):
            assert torch.count_nonzero(p) == 0, name
        else:
            assert 0 < p.std().item() < 3e-3, name  # N(0, 0.001^2)
    default = build_model("rnn:init=default", TASKS["adding"], hidden_size=6)
    layer = next(m for m in default.modules() if isinstance(m, rnnx.RNN))
    assert not torch.equal(layer.weight_hh_l0, torch.eye(6))


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("lsmt", "unknown model 'lsmt' in 'lsmt'; choose one of rnn, lstm, gru, indrnn, transformer, conv"),
        ("gru:peephole", "model 'gru:peephole': gru does not take option 'peephole'; it takes layer_norm, zoneout"),
        ("lstm:zoneout=lots", "model 'lstm:zoneout=lots': option zoneout must be a number; got 'lots'"),
        ("lstm:layer_norm=maybe", "option layer_norm must be true or false; got 'maybe'"),
        ("transformer:heads", "option heads must be an integer; got None"),
        ("lstm:zoneout=1.5", r"LSTM: zoneout must be in \[0, 1\); got 1.5"),
        ("transformer:heads=3", "TransformerEncoder: num_heads must divide d_model; got d_model=8, num_heads=3"),
        ("rnn:init=orthogonal", "model option init must be one of default, identity; got 'orthogonal'"),
        ("lstm:init=identity", "lstm does not take option 'init'"),
    ],
)
def test_bad_specs(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_model(spec, TASKS["adding"], hidden_size=8)


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="build_model: hidden_size must be >= 1; got 0"):
        build_model("lstm", TASKS["adding"], hidden_size=0)
    with pytest.raises(ValueError, match="build_model: match_params must be >= 1; got 0"):
        build_model("lstm", TASKS["adding"], match_params=0)
    with pytest.raises(TypeError, match="model spec must be a str"):
        build_model(3, TASKS["adding"])  # type: ignore[arg-type]
    assert isinstance(build_model("conv", TASKS["digits"], hidden_size=4).encoder.norms[0], nn.BatchNorm1d)
