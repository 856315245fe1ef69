"""rnnx.trace: gate values against equations written out here, outputs and gradients unchanged,
packed input, cells, custom cells, nothing left behind after the trace."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnx
from rnnx.cells import CellStep, DirectionWeights, State

T, B, I, H = 6, 3, 4, 5
LENGTHS = [4, 6, 2]  # unsorted: packing permutes the batch


def weights(layer: nn.Module, suffix: str) -> dict[str, Tensor]:
    return {k: getattr(layer, f"{k}{suffix}").detach() for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def lstm_by_hand(x: Tensor, p: dict[str, Tensor], reverse: bool = False) -> dict[str, Tensor]:
    """i, f, g, o, h, c of every step, (T, B, H), from the LSTM equations."""
    steps, batch = x.shape[:2]
    h = torch.zeros(batch, H, dtype=x.dtype)
    c = torch.zeros(batch, H, dtype=x.dtype)
    out: dict[str, list[Tensor]] = {k: [torch.empty(0)] * steps for k in "ifgohc"}
    for t in reversed(range(steps)) if reverse else range(steps):
        a = x[t] @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        i, f = torch.sigmoid(a[:, :H]), torch.sigmoid(a[:, H : 2 * H])
        g, o = torch.tanh(a[:, 2 * H : 3 * H]), torch.sigmoid(a[:, 3 * H :])
        c = f * c + i * g
        h = o * torch.tanh(c)
        for k, v in zip("ifgohc", (i, f, g, o, h, c), strict=True):
            out[k][t] = v
    return {k: torch.stack(v) for k, v in out.items()}


def gru_by_hand(x: Tensor, p: dict[str, Tensor], length: int) -> dict[str, Tensor]:
    """r, z, n, h of the first ``length`` steps of one sequence ``x (T, I)``, each (length, H)."""
    h = torch.zeros(H, dtype=x.dtype)
    out: dict[str, list[Tensor]] = {k: [] for k in "rznh"}
    for t in range(length):
        gi = p["weight_ih"] @ x[t] + p["bias_ih"]
        gh = p["weight_hh"] @ h + p["bias_hh"]
        r = torch.sigmoid(gi[:H] + gh[:H])
        z = torch.sigmoid(gi[H : 2 * H] + gh[H : 2 * H])
        n = torch.tanh(gi[2 * H :] + r * gh[2 * H :])
        h = (1 - z) * n + z * h
        for k, v in zip("rznh", (r, z, n, h), strict=True):
            out[k].append(v)
    return {k: torch.stack(v) for k, v in out.items()}


def test_lstm_gates_equal_the_equations_every_layer_and_direction() -> None:
    model = rnnx.LSTM(I, H, num_layers=2, bidirectional=True, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    with rnnx.trace(model) as tr:
        model(x)
    call = tr[""]
    assert (len(call), call.module, call.call) == (4, "LSTM", 0)
    below = []
    for direction, suffix in enumerate(("_l0", "_l0_reverse")):
        expected = lstm_by_hand(x, weights(model, suffix), reverse=direction == 1)
        got = call[0, direction]
        assert list(got.gates) == ["i", "f", "g", "o"]
        assert list(got.states) == ["h", "c"]
        for k, v in expected.items():
            torch.testing.assert_close(got[k], v, rtol=1e-10, atol=1e-12, msg=k)
        below.append(expected["h"])
    layer1_input = torch.cat(below, dim=-1)  # layer 1 reads both directions of layer 0
    for direction, suffix in enumerate(("_l1", "_l1_reverse")):
        expected = lstm_by_hand(layer1_input, weights(model, suffix), reverse=direction == 1)
        for k, v in expected.items():
            torch.testing.assert_close(call[1, direction][k], v, rtol=1e-10, atol=1e-12, msg=k)
    assert call[1].c.shape == (T, B, H)
    torch.testing.assert_close(call[0].lengths, torch.full((B,), T))


def test_gru_gates_equal_the_equations_with_packed_input_in_caller_order() -> None:
    model = rnnx.GRU(I, H, batch_first=True, dtype=torch.float64)
    x = torch.randn(B, T, I, dtype=torch.float64)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    with rnnx.trace(model) as tr:
        model(packed)
    got = tr[""][0]
    assert list(got.gates) == ["r", "z", "n"]
    assert got.lengths.tolist() == LENGTHS
    p = weights(model, "_l0")
    for b, length in enumerate(LENGTHS):
        expected = gru_by_hand(x[b], p, length)
        for k, v in expected.items():
            torch.testing.assert_close(got[k][:length, b], v, rtol=1e-10, atol=1e-12, msg=f"{k}[{b}]")
            assert torch.all(got[k][length:, b] == 0), "padding past the end is zero"
    assert got.h.shape == (T, B, H)  # time-major even for batch_first


def test_elman_and_indrnn_record_the_pre_activation() -> None:
    x = torch.randn(T, B, I, dtype=torch.float64)
    rnn = rnnx.RNN(I, H, nonlinearity="relu", dtype=torch.float64)
    ind = rnnx.IndRNN(I, H, dtype=torch.float64)
    for layer in (rnn, ind):
        with rnnx.trace(layer) as tr:
            out, _ = layer(x)
        rec = tr[""][0]
        assert list(rec.gates) == ["pre"]
        torch.testing.assert_close(torch.relu(rec["pre"]), rec.h)
        torch.testing.assert_close(rec.h, out.detach())
    p = weights(rnn, "_l0")
    pre0 = x[0] @ p["weight_ih"].T + p["bias_ih"] + p["bias_hh"]
    with rnnx.trace(rnn) as tr:
        rnn(x)
    torch.testing.assert_close(tr[""][0]["pre"][0], pre0)


class CIFG(CellStep):
    """A user's cell that does not report gates (f = 1 - i; Greff et al. 2017)."""

    num_chunks = 3
    state_names = ("h", "c")

    def step(self, gi: Tensor, state: State, w: DirectionWeights) -> State:
        h, c = state
        i, g, o = (gi + w.recurrent_input(h) @ w.weight_hh.T).chunk(3, dim=1)
        i = torch.sigmoid(i)
        c = (1 - i) * c + i * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def make(kind: str, backend: str) -> nn.Module:
    options: dict[str, Any] = {"num_layers": 2, "bidirectional": True, "backend": backend, "dtype": torch.float64}
    if kind == "lstm":
        return rnnx.LSTM(I, H, **options)
    if kind == "gru":
        return rnnx.GRU(I, H, **options)
    if kind == "rnn":
        return rnnx.RNN(I, H, **options)
    if kind == "lstm_variants":
        return rnnx.LSTM(I, H, **options, layer_norm=True, peephole=True, zoneout=0.2, recurrent_dropout=0.3)
    options.pop("backend")
    return rnnx.Recurrent(CIFG(), I, H, **options)


def run(model: nn.Module, x: Tensor, packed: bool) -> tuple[Tensor, list[Tensor]]:
    torch.manual_seed(1)  # the same regulariser masks with and without the trace
    model.zero_grad()
    inp: Any = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False) if packed else x
    out, _ = model(inp)
    data = out.data if packed else out
    (data * torch.linspace(-1, 1, data.numel(), dtype=data.dtype).view_as(data)).sum().backward()
    return data.detach(), [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn", "lstm_variants", "custom"])
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_tracing_leaves_outputs_and_gradients_unchanged(kind: str, packed: bool) -> None:
    model = make(kind, "reference")
    model.train(kind == "lstm_variants")  # zoneout and recurrent dropout draw masks in training
    x = torch.randn(T, B, I, dtype=torch.float64)
    plain_out, plain_grads = run(model, x, packed)
    with rnnx.trace(model) as tr:
        traced_out, traced_grads = run(model, x, packed)
    assert torch.equal(plain_out, traced_out)
    for a, b in zip(plain_grads, traced_grads, strict=True):
        assert torch.equal(a, b)
    rec = tr[""][1, 1]
    assert not rec.h.requires_grad, "records are detached"
    if kind == "custom":
        assert rec.gates == {}
        assert rec.names == ("h", "c")


@pytest.mark.parametrize("backend", ["auto", "native"])
def test_tracing_native_and_fused_layers_agrees_to_rounding(backend: str) -> None:
    for kind in ("lstm", "gru"):
        model = make(kind, backend)
        x = torch.randn(12, B, I, dtype=torch.float64)  # 12 steps: auto takes fused for GRU
        plain_out, plain_grads = run(model, x, False)
        with rnnx.trace(model):
            traced_out, traced_grads = run(model, x, False)
        torch.testing.assert_close(traced_out, plain_out, rtol=1e-10, atol=1e-12)
        for a, b in zip(plain_grads, traced_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_nested_modules_cells_and_repeated_calls() -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = rnnx.GRU(I, H)
            self.decoder = rnnx.LSTMCell(H, H)

        def forward(self, x: Tensor) -> Tensor:
            _, h = self.encoder(x)
            state = (h[0], torch.zeros_like(h[0]))
            outs = []
            for _ in range(3):
                state = self.decoder(state[0], state)
                outs.append(state[0])
            return torch.stack(outs)

    model = Model()
    x = torch.randn(T, B, I)
    with rnnx.trace(model) as tr:
        model(x)
        out = model(x)
    assert set(tr.modules) == {"encoder", "decoder"}
    assert [c.call for c in tr.calls("encoder")] == [0, 1]
    dec = tr["decoder"]
    assert dec.module == "LSTMCell"
    assert dec[0].h.shape == (3, B, H)
    torch.testing.assert_close(dec[0].h, out.detach())
    assert dec[0].lengths.tolist() == [3] * B
    # the decoder's input gate by hand from its weights, first step of the second call
    cell = model.decoder
    h0 = tr["encoder"][0].h[-1]
    a = h0 @ cell.weight_ih.T + cell.bias_ih + h0 @ cell.weight_hh.T + cell.bias_hh
    torch.testing.assert_close(dec[0]["i"][0], torch.sigmoid(a[:, :H]).detach())
    assert len(tr) == 4  # two encoder calls, two decoder runs of three steps


def test_nothing_is_recorded_or_left_behind_outside_the_trace() -> None:
    model = rnnx.LSTM(I, H)
    x = torch.randn(T, B, I)
    with rnnx.trace(model) as tr:
        assert model._tracer is not None
    assert "_tracer" not in vars(model)
    assert model._tracer is None
    model(x)
    assert len(tr) == 0
    with pytest.raises(KeyError, match="'' was not called while tracing"):
        tr[""]


def test_unbatched_input_gives_a_batch_of_one() -> None:
    model = rnnx.GRU(I, H)
    with rnnx.trace(model) as tr:
        out, _ = model(torch.randn(T, I))
    assert tr[""][0].h.shape == (T, 1, H)
    torch.testing.assert_close(tr[""][0].h[:, 0], out.detach())


def test_errors_name_what_is_wrong() -> None:
    model = rnnx.LSTM(I, H)
    with pytest.raises(TypeError, match=r"rnnx\.trace: model must be a torch\.nn\.Module; got str"):
        rnnx.trace("lstm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Linear contains no rnnx recurrent layer or cell"):
        rnnx.trace(nn.Linear(2, 2))
    with rnnx.trace(model), pytest.raises(ValueError, match="already being traced"), rnnx.trace(model):
        pass
    with rnnx.trace(model) as tr:
        model(torch.randn(T, B, I))
    with pytest.raises(KeyError, match="no traced module named 'lstm'; traced: \\[''\\]"):
        tr["lstm"]
    with pytest.raises(IndexError, match="has 1 layer\\(s\\) and 1 direction\\(s\\); got layer=1, direction=0"):
        tr[""][1]
    with pytest.raises(KeyError, match="no gate or state named 'z'; this trace has \\['i', 'f', 'g', 'o', 'h', 'c'\\]"):
        tr[""][0]["z"]
    gru = rnnx.GRU(I, H)
    with rnnx.trace(gru) as tr:
        gru(torch.randn(T, B, I))
    with pytest.raises(KeyError, match="'c'"):
        _ = tr[""][0].c


def test_reprs_show_shapes_not_values() -> None:
    torch.manual_seed(0)
    lstm = rnnx.LSTM(3, 4, 2)
    x = torch.randn(5, 2, 3)
    with rnnx.trace(lstm) as tr:
        lstm(x)
    assert repr(tr[""][1]) == (
        "DirectionTrace(layer=1, direction=0, i=(5, 2, 4), f=(5, 2, 4), g=(5, 2, 4), o=(5, 2, 4), h=(5, 2, 4), c=(5, 2, 4))"
    )
    flow = rnnx.gradient_flow(lstm, x, lambda out: out[0][-1].sum())
    text = repr(flow.get("", layer=0))
    norms = flow.get("", layer=0).norms
    assert (
        text
        == f"DirectionFlow(name='', call=0, layer=0, direction=0, steps=5, first={norms[0].item():.3g}, last={norms[-1].item():.3g})"
    )
