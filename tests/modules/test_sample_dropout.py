"""rnnx.SampleDropout: inverted dropout keyed by the global sample index."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import rnnx
from tests.recurrence import plain_masks


def plain_sample_dropout(x: torch.Tensor, p: float, seed: int, offset: int) -> torch.Tensor:
    """The documented mask written out: stream kind 3, sample offset + b, step t, unit j."""
    key = plain_masks.stream_key(seed, plain_masks.SAMPLE_DROPOUT, 0)
    scale = 65536 / (65536 - round(p * 65536))
    rows = x.reshape(x.shape[0], 1, -1) if x.dim() == 2 else x.reshape(x.shape[0], x.shape[1], -1)  # (B, T, units)
    out = torch.empty_like(rows)
    for b in range(rows.shape[0]):
        for t in range(rows.shape[1]):
            for j in range(rows.shape[2]):
                out[b, t, j] = 0.0 if plain_masks.hit(key, offset + b, t, j, p) else rows[b, t, j] * scale
    return out.view(x.shape)


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 7), (2, 3, 2, 3)], ids=["BTH", "BF", "BT2D"])
def test_matches_the_plain_definition(shape: tuple[int, ...]) -> None:
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    layer = rnnx.SampleDropout(0.4).train()
    with rnnx.sample_offset(6):
        torch.manual_seed(3)
        out = layer(x)
    torch.manual_seed(3)
    expected = plain_sample_dropout(x.detach(), 0.4, plain_masks.draw_seed(), 6)
    torch.testing.assert_close(out, expected)
    (grad,) = torch.autograd.grad(out.sum(), x)
    torch.testing.assert_close(grad, (expected != 0).double() * (65536 / (65536 - round(0.4 * 65536))))


def test_a_sample_keeps_its_mask_in_another_shard() -> None:
    x = torch.randn(4, 6, 8)
    layer = rnnx.SampleDropout(0.5).train()
    torch.manual_seed(1)
    whole = layer(x)
    with rnnx.sample_offset(2):
        torch.manual_seed(1)
        part = layer(x[2:])
    torch.testing.assert_close(part, whole[2:])
    torch.manual_seed(1)
    assert not torch.equal(layer(x[2:]), whole[2:])  # row 0 without the offset: another mask


def test_rate_scale_and_evaluation() -> None:
    x = torch.ones(64, 50, 40)
    layer = rnnx.SampleDropout(0.3)
    torch.manual_seed(0)
    out = layer(x)
    assert abs((out == 0).double().mean().item() - 0.3) < 0.01
    assert abs(out.mean().item() - 1.0) < 0.02
    layer.eval()
    assert layer(x) is x
    assert rnnx.SampleDropout(0.0).train()(x) is x
    assert torch.equal(rnnx.SampleDropout(1.0).train()(x), torch.zeros_like(x))
    assert repr(rnnx.SampleDropout(0.25)) == "SampleDropout(p=0.25)"


@pytest.mark.parametrize(
    ("p", "error", "match"),
    [(1.5, ValueError, r"SampleDropout: p must be in \[0, 1\]; got 1.5"), ("0.1", TypeError, r"p must be a number")],
)
def test_refuses_a_bad_probability(p: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        rnnx.SampleDropout(p)


@pytest.mark.parametrize("input_feeding", [False, True], ids=["plain", "input_feeding"])
def test_seq2seq_dropout_follows_the_sample(input_feeding: bool) -> None:
    """The seq2seq encoder and decoder's dropout (and their layers' dropout between 2 layers):
    a sample's training logits in a shard with its offset equal its row of the whole batch."""
    from tests.seq2seq.common import source_batch, target_batch, tiny_model

    model = tiny_model(num_layers=2, dropout=0.3, input_feeding=input_feeding).double().train()
    src, lengths = source_batch([4, 2, 5, 3])
    tgt = target_batch([3, 4, 2, 3])
    torch.manual_seed(8)
    whole = model(src, lengths, tgt).logits
    with rnnx.sample_offset(2):
        torch.manual_seed(8)
        part = model(src[2:], lengths[2:], tgt[2:]).logits
    torch.testing.assert_close(part, whole[2:])
