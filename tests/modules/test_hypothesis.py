"""Hypothesis-generated shapes and options: rnnx equals torch.nn on all of them."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnx
from tests.conftest import assert_close_all, flat, scalar_loss


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(["rnn_tanh", "rnn_relu", "gru", "lstm"]))
    hidden = draw(st.integers(1, 7))
    config: dict[str, Any] = {
        "mode": mode,
        "input_size": draw(st.integers(1, 6)),
        "hidden_size": hidden,
        "num_layers": draw(st.integers(1, 3)),
        "bias": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "bidirectional": draw(st.booleans()),
        "steps": draw(st.integers(1, 6)),
        "batch": draw(st.integers(1, 4)),
        "form": draw(st.sampled_from(["batched", "unbatched", "packed"])),
        "backend": draw(st.sampled_from(["reference", "auto"])),
        "h0": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }
    if mode == "lstm" and hidden > 1:
        config["proj_size"] = draw(st.integers(0, hidden - 1))
    if config["form"] == "packed":
        config["lengths"] = draw(
            st.lists(st.integers(1, config["steps"]), min_size=config["batch"], max_size=config["batch"])
        )
    return config


@settings(max_examples=150, deadline=None)
@given(configs())
def test_random_configs_match_torch(config: dict[str, Any]) -> None:
    mode = config["mode"]
    classes = {
        "rnn_tanh": (nn.RNN, rnnx.RNN),
        "rnn_relu": (nn.RNN, rnnx.RNN),
        "gru": (nn.GRU, rnnx.GRU),
        "lstm": (nn.LSTM, rnnx.LSTM),
    }
    torch_cls, ours_cls = classes[mode]
    kwargs = {k: config[k] for k in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional")}
    if mode.startswith("rnn"):
        kwargs["nonlinearity"] = mode[4:]
    if config.get("proj_size"):
        kwargs["proj_size"] = config["proj_size"]
    torch.manual_seed(config["seed"])
    oracle = torch_cls(**kwargs).double()
    ours = ours_cls.from_torch(oracle, backend=config["backend"])

    steps, batch, features = config["steps"], config["batch"], config["input_size"]
    unbatched = config["form"] == "unbatched"
    shape = (
        (steps, features)
        if unbatched
        else ((batch, steps, features) if config["batch_first"] else (steps, batch, features))
    )
    leaf = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    leaves = [leaf]
    hx: Any = None
    if config["h0"]:
        rows = config["num_layers"] * (2 if config["bidirectional"] else 1)
        lead = (rows,) if unbatched else (rows, batch)
        h_width = config.get("proj_size") or config["hidden_size"]
        widths = [h_width, config["hidden_size"]] if mode == "lstm" else [h_width]
        tensors = [torch.randn(*lead, w, dtype=torch.float64, requires_grad=True) for w in widths]
        hx = tuple(tensors) if mode == "lstm" else tensors[0]
        leaves += tensors

    def run(module: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        inp: Any = leaf
        if config["form"] == "packed":
            inp = pack_padded_sequence(
                leaf, torch.tensor(config["lengths"]), batch_first=config["batch_first"], enforce_sorted=False
            )
        out = flat(module(inp, hx))
        grads = torch.autograd.grad(scalar_loss(out), [*leaves, *module.parameters()], allow_unused=True)
        return [o.detach() for o in out], [g if g is not None else torch.zeros(()) for g in grads]

    out_ref, grads_ref = run(oracle)
    out, grads = run(ours)
    assert_close_all(out, out_ref, torch.float64, "outputs")
    assert_close_all(grads, grads_ref, torch.float64, "gradients")
