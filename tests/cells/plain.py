"""Deliberately plain implementations of each variant's equations, for the tests.

Written from the papers, one time step at a time, with no code shared with rnnx: explicit
layer normalisation, explicit gates, explicit loops over layers and directions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

EPS = 1e-5
Params = dict[str, Tensor]


def ln(x: Tensor, gain: Tensor, shift: Tensor) -> Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * gain + shift


def act(name: str, x: Tensor) -> Tensor:
    return torch.tanh(x) if name == "tanh" else torch.clamp(x, min=0)


def bias(p: Params, name: str) -> Tensor | float:
    return p.get(name, 0.0)  # type: ignore[return-value]


def lstm_step(x: Tensor, state: tuple[Tensor, ...], p: Params, opts: dict[str, Any]) -> tuple[Tensor, ...]:
    h, c = state
    h_in = h * opts["mask"] if opts.get("mask") is not None else h
    wx = x @ p["weight_ih"].T
    wh = h_in @ p["weight_hh"].T
    if opts.get("layer_norm"):
        wx = ln(wx, p["ln_ih_weight"], p["ln_ih_bias"])
        wh = ln(wh, p["ln_hh_weight"], p["ln_hh_bias"])
    gates = wx + wh + bias(p, "bias_ih") + bias(p, "bias_hh")
    size = c.shape[1]
    i, f, g, o = (gates[:, k * size : (k + 1) * size] for k in range(4))
    if opts.get("peephole"):
        i = i + p["weight_peephole"][0] * c
        f = f + p["weight_peephole"][1] * c
    i, f, g = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
    c_new = f * c + i * g
    if opts.get("peephole"):
        o = o + p["weight_peephole"][2] * c_new
    o = torch.sigmoid(o)
    c_out = ln(c_new, p["ln_cell_weight"], p["ln_cell_bias"]) if opts.get("layer_norm") else c_new
    h_new = o * torch.tanh(c_out)
    if "weight_hr" in p:
        h_new = h_new @ p["weight_hr"].T
    return h_new, c_new


def gru_step(x: Tensor, state: tuple[Tensor, ...], p: Params, opts: dict[str, Any]) -> tuple[Tensor, ...]:
    (h,) = state
    h_in = h * opts["mask"] if opts.get("mask") is not None else h
    gi = x @ p["weight_ih"].T
    gh = h_in @ p["weight_hh"].T
    if opts.get("layer_norm"):
        gi = ln(gi, p["ln_ih_weight"], p["ln_ih_bias"])
        gh = ln(gh, p["ln_hh_weight"], p["ln_hh_bias"])
    gi = gi + bias(p, "bias_ih")
    gh = gh + bias(p, "bias_hh")
    size = h.shape[1]
    r = torch.sigmoid(gi[:, :size] + gh[:, :size])
    z = torch.sigmoid(gi[:, size : 2 * size] + gh[:, size : 2 * size])
    n = torch.tanh(gi[:, 2 * size :] + r * gh[:, 2 * size :])
    return ((1 - z) * n + z * h,)


def elman_step(x: Tensor, state: tuple[Tensor, ...], p: Params, opts: dict[str, Any]) -> tuple[Tensor, ...]:
    (h,) = state
    h_in = h * opts["mask"] if opts.get("mask") is not None else h
    wx = x @ p["weight_ih"].T
    wh = h_in @ p["weight_hh"].T
    if opts.get("layer_norm"):
        wx = ln(wx, p["ln_ih_weight"], p["ln_ih_bias"])
        wh = ln(wh, p["ln_hh_weight"], p["ln_hh_bias"])
    return (act(opts["nonlinearity"], wx + wh + bias(p, "bias_ih") + bias(p, "bias_hh")),)


def indrnn_step(x: Tensor, state: tuple[Tensor, ...], p: Params, opts: dict[str, Any]) -> tuple[Tensor, ...]:
    (h,) = state
    h_in = h * opts["mask"] if opts.get("mask") is not None else h
    return (
        act(
            opts["nonlinearity"], x @ p["weight_ih"].T + bias(p, "bias_ih") + p["weight_hh"] * h_in + bias(p, "bias_hh")
        ),
    )


Step = Callable[[Tensor, tuple[Tensor, ...], Params, dict[str, Any]], tuple[Tensor, ...]]


def run_direction(
    step: Step,
    x: Tensor,
    state: tuple[Tensor, ...],
    p: Params,
    opts: dict[str, Any],
    *,
    reverse: bool,
    zoneout: tuple[Any, ...] = (),
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """``x (T, B, F)``; ``zoneout`` per state: None, a float (eval) or masks ``(T, B, size)``."""
    outs = [None] * x.shape[0]
    times = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in times:
        new = step(x[t], state, p, opts)
        if zoneout:
            mixed = []
            for old, cand, z in zip(state, new, zoneout, strict=True):
                if z is None:
                    mixed.append(cand)
                else:
                    m = z if isinstance(z, float) else z[t]
                    mixed.append(m * old + (1 - m) * cand)
            new = tuple(mixed)
        state = new
        outs[t] = state[0]
    return torch.stack(outs), state  # type: ignore[arg-type]


def run_layers(
    step: Step,
    x: Tensor,
    states: list[tuple[Tensor, ...]],
    params: list[Params],
    opts: dict[str, Any],
    *,
    num_layers: int,
    bidirectional: bool,
    zoneout: list[tuple[Any, ...]] | None = None,
    masks: list[Tensor | None] | None = None,
) -> tuple[Tensor, list[tuple[Tensor, ...]]]:
    """Layers and directions composed by hand; lists are indexed ``layer * D + direction``."""
    d = 2 if bidirectional else 1
    finals = []
    for layer in range(num_layers):
        outs = []
        for direction in range(d):
            k = layer * d + direction
            o = dict(opts, mask=masks[k] if masks else None)
            out, final = run_direction(
                step, x, states[k], params[k], o, reverse=direction == 1, zoneout=zoneout[k] if zoneout else ()
            )
            outs.append(out)
            finals.append(final)
        x = torch.cat(outs, dim=-1)
    return x, finals
