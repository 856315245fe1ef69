"""rnnx.TransformerEncoder against torch.nn.TransformerEncoder (pre-norm), plus masks and errors."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

import rnnx
from rnnx.modules.positions import sinusoids


def torch_twin(model: rnnx.TransformerEncoder, activation: str) -> nn.TransformerEncoder:
    """torch.nn's pre-norm encoder holding the same block weights and final norm."""
    layer = nn.TransformerEncoderLayer(
        model.d_model,
        model.num_heads,
        model.dim_feedforward,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=True,
        dtype=torch.float64,
    )
    twin = nn.TransformerEncoder(
        layer, model.num_layers, norm=nn.LayerNorm(model.d_model, dtype=torch.float64), enable_nested_tensor=False
    )
    missing, unexpected = twin.load_state_dict(
        {k: v for k, v in model.state_dict().items() if k.startswith(("layers.", "norm."))}, strict=False
    )
    assert not missing
    assert not unexpected
    return twin


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_matches_torch_pre_norm_encoder(activation: str, causal: bool, padded: bool) -> None:
    torch.manual_seed(0)
    model = rnnx.TransformerEncoder(
        3, 8, 2, num_heads=2, dim_feedforward=16, causal=causal, activation=activation, batch_first=True
    ).double()
    twin = torch_twin(model, activation)
    x = torch.randn(3, 6, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([6, 2, 4]) if padded else None

    ours = model(x, lengths=lengths)
    embedded = model.positions(model.input_proj(x))
    # torch wants both masks boolean (True = may not attend) when both are given.
    mask = torch.ones(6, 6, dtype=torch.bool).triu(1) if causal else None
    pad = torch.arange(6)[None, :] >= lengths[:, None] if lengths is not None else None
    theirs = twin(embedded, mask=mask, src_key_padding_mask=pad, is_causal=causal)
    valid = ~pad if pad is not None else torch.ones(3, 6, dtype=torch.bool)
    torch.testing.assert_close(ours[valid], theirs[valid])
    assert torch.all(ours[~valid] == 0)

    weights = torch.randn_like(ours)
    ours_grads = torch.autograd.grad((ours * weights).sum(), [x, *model.layers.parameters()])
    x_grad_theirs = torch.autograd.grad((theirs * weights * valid[..., None]).sum(), [x, *twin.layers.parameters()])
    for a, b in zip(ours_grads, x_grad_theirs, strict=True):
        torch.testing.assert_close(a, b)


def test_causal_outputs_ignore_the_future_and_padding_is_ignored() -> None:
    torch.manual_seed(1)
    causal = rnnx.TransformerEncoder(4, 8, 2, num_heads=2, causal=True).eval()
    x = torch.randn(7, 2, 4)
    changed = x.clone()
    changed[5:] = torch.randn(2, 2, 4)
    torch.testing.assert_close(causal(x)[:5], causal(changed)[:5])
    assert not torch.allclose(causal(x)[5:], causal(changed)[5:])

    full = rnnx.TransformerEncoder(4, 8, 2, num_heads=2).eval()
    lengths = torch.tensor([4, 7])
    padded = x.clone()
    padded[4:, 0] = 100.0  # garbage past sequence 0's length
    torch.testing.assert_close(full(x, lengths=lengths)[:4, 0], full(padded, lengths=lengths)[:4, 0])
    torch.testing.assert_close(full(x, lengths=lengths)[:4, 0:1], full(x[:4, 0:1]))


def test_layouts_agree() -> None:
    torch.manual_seed(2)
    model = rnnx.TransformerEncoder(3, 8, 1, num_heads=4, positions="learned").eval()
    x = torch.randn(5, 2, 3)
    batch_first = rnnx.TransformerEncoder(3, 8, 1, num_heads=4, positions="learned", batch_first=True).eval()
    batch_first.load_state_dict(model.state_dict())
    torch.testing.assert_close(batch_first(x.transpose(0, 1)).transpose(0, 1), model(x))
    torch.testing.assert_close(model(x[:, 1]), model(x)[:, 1])


def test_sinusoids_follow_the_formula() -> None:
    table = sinusoids(50, 6, dtype=torch.float64)
    for t in (0, 1, 17, 49):
        for i in range(3):
            angle = t / 10000 ** (2 * i / 6)
            assert table[t, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-12)
            assert table[t, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-12)
    assert sinusoids(4, 5).shape == (4, 5)


def test_gradcheck() -> None:
    torch.manual_seed(3)
    model = rnnx.TransformerEncoder(2, 4, 1, num_heads=2, dim_feedforward=6, causal=True).double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: model(inp, lengths=[4, 3]), (x,))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_heads": 3}, ValueError, "num_heads must divide d_model; got d_model=8, num_heads=3"),
        ({"positions": "rotary"}, ValueError, "positions must be one of"),
        ({"dropout": 1.0}, ValueError, "dropout must be in [0, 1)"),
        ({"causal": 1}, TypeError, "causal must be a bool"),
        ({"max_len": 0}, ValueError, "max_len must be >= 1"),
    ],
)
def test_bad_options(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match="^TransformerEncoder: " + re.escape(message)):
        rnnx.TransformerEncoder(3, 8, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x", "lengths", "error", "message"),
    [
        (torch.randn(5, 2, 4), None, ValueError, "input must have 3 features; got shape (5, 2, 4)"),
        (torch.randn(5), None, ValueError, "input must be 2-D (T, I) or 3-D; got 1-D"),
        (torch.randn(5, 2, 3), [5], ValueError, "lengths must have shape (2,), one per sequence; got (1,)"),
        (torch.randn(5, 2, 3), [5, 0], ValueError, "lengths must be in [1, 5] (the input's steps); got [5, 0]"),
        (torch.randn(5, 2, 3), [5, 6], ValueError, "lengths must be in [1, 5]"),
        (
            torch.randn(5, 2, 3),
            torch.tensor([5.0, 2.0]),
            TypeError,
            "lengths must hold integers; got dtype torch.float32",
        ),
        (torch.randn(9, 2, 3), None, ValueError, "the input has 9 steps but max_len is 8"),
    ],
)
def test_bad_inputs(x: torch.Tensor, lengths: object, error: type[Exception], message: str) -> None:
    model = rnnx.TransformerEncoder(3, 8, max_len=8)
    with pytest.raises(error) as info:
        model(x, lengths=lengths)  # type: ignore[arg-type]
    assert message in str(info.value)
