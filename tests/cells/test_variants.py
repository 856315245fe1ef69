"""Each variant against the plain implementation of its paper's equations (tests/cells/plain.py):
float64 outputs, final states and all gradients, with every layer option."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

import rnnx
from rnnx.modules.layer import parameter_kind
from tests.cells import plain
from tests.conftest import assert_close_all, scalar_loss
from tests.recurrence import plain_masks

# (id, rnnx class, constructor options, plain step, plain options)
VARIANTS: list[tuple[str, type, dict[str, Any], plain.Step, dict[str, Any]]] = [
    ("lstm_ln", rnnx.LSTM, {"layer_norm": True}, plain.lstm_step, {"layer_norm": True}),
    ("lstm_peephole", rnnx.LSTM, {"peephole": True}, plain.lstm_step, {"peephole": True}),
    (
        "lstm_ln_peephole_proj",
        rnnx.LSTM,
        {"layer_norm": True, "peephole": True, "proj_size": 3},
        plain.lstm_step,
        {"layer_norm": True, "peephole": True},
    ),
    ("gru_ln", rnnx.GRU, {"layer_norm": True}, plain.gru_step, {"layer_norm": True}),
    ("rnn_tanh_ln", rnnx.RNN, {"layer_norm": True}, plain.elman_step, {"layer_norm": True, "nonlinearity": "tanh"}),
    (
        "rnn_relu_ln",
        rnnx.RNN,
        {"layer_norm": True, "nonlinearity": "relu"},
        plain.elman_step,
        {"layer_norm": True, "nonlinearity": "relu"},
    ),
    ("indrnn_relu", rnnx.IndRNN, {}, plain.indrnn_step, {"nonlinearity": "relu"}),
    ("indrnn_tanh", rnnx.IndRNN, {"nonlinearity": "tanh"}, plain.indrnn_step, {"nonlinearity": "tanh"}),
    ("lstm_zoneout_eval", rnnx.LSTM, {"zoneout": (0.3, 0.6)}, plain.lstm_step, {}),
    ("gru_ln_zoneout_eval", rnnx.GRU, {"zoneout": 0.4, "layer_norm": True}, plain.gru_step, {"layer_norm": True}),
    ("rnn_zoneout_eval", rnnx.RNN, {"zoneout": 0.25}, plain.elman_step, {"nonlinearity": "tanh"}),
    ("lstm_recurrent_dropout_eval", rnnx.LSTM, {"recurrent_dropout": 0.5}, plain.lstm_step, {}),
    ("gru_weight_drop_eval", rnnx.GRU, {"weight_drop": 0.5}, plain.gru_step, {}),
]
VARIANT_IDS = [v[0] for v in VARIANTS]


def direction_params(module: torch.nn.Module) -> list[plain.Params]:
    return [{parameter_kind(n): getattr(module, n) for n in names} for names in module._all_weights]


def eval_zoneout(module: Any) -> list[tuple[Any, ...]] | None:
    if not any(module.zoneout):
        return None
    per_state = tuple(p if p else None for p in module.zoneout)
    return [per_state] * (module.num_layers * module.num_directions)


def build(variant: tuple[Any, ...], *, num_layers: int, bidirectional: bool, batch_first: bool = False) -> Any:
    _, cls, options, _, _ = variant
    torch.manual_seed(0)
    module = cls(4, 5, num_layers, **options, bidirectional=bidirectional, batch_first=batch_first).double()
    with torch.no_grad():  # move layer-norm gains and biases away from 1 and 0
        for name, p in module.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
    return module.eval()


def initial_states(module: Any, batch: int) -> list[tuple[torch.Tensor, ...]]:
    sizes = module.cell.state_sizes(module.hidden_size, module.proj_size)
    rows = module.num_layers * module.num_directions
    tensors = [torch.randn(rows, batch, s, dtype=torch.float64, requires_grad=True) for s in sizes]
    return tensors  # type: ignore[return-value]


def as_hx(module: Any, tensors: list[torch.Tensor]) -> Any:
    return tuple(tensors) if len(tensors) > 1 else tensors[0]


def per_direction(tensors: list[torch.Tensor], rows: int) -> list[tuple[torch.Tensor, ...]]:
    return [tuple(t[k] for t in tensors) for k in range(rows)]


@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2], ids=["L1", "L2"])
@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_variant_matches_plain_equations(
    variant: tuple[Any, ...], num_layers: int, bidirectional: bool, batch_first: bool
) -> None:
    module = build(variant, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    step, opts = variant[3], variant[4]
    x = torch.randn(6, 3, 4, dtype=torch.float64, requires_grad=True)  # (T, B, I)
    h0 = initial_states(module, 3)
    rows = num_layers * module.num_directions

    out, state = module(x.transpose(0, 1) if batch_first else x, as_hx(module, h0))
    out = out.transpose(0, 1) if batch_first else out
    ours = [out, *(state if isinstance(state, tuple) else (state,))]

    ref_out, finals = plain.run_layers(
        step,
        x,
        per_direction(h0, rows),
        direction_params(module),
        opts,
        num_layers=num_layers,
        bidirectional=bidirectional,
        zoneout=eval_zoneout(module),
    )
    theirs = [ref_out, *(torch.stack([f[k] for f in finals]) for k in range(len(h0)))]
    assert_close_all([t.detach() for t in ours], [t.detach() for t in theirs], torch.float64, "outputs and states")

    leaves = [x, *h0, *module.parameters()]
    g_ours = torch.autograd.grad(scalar_loss(ours), leaves, allow_unused=True)
    g_theirs = torch.autograd.grad(scalar_loss(theirs), leaves, allow_unused=True)
    zero = torch.zeros(())
    assert_close_all(
        [g if g is not None else zero for g in g_ours],
        [g if g is not None else zero for g in g_theirs],
        torch.float64,
        "gradients",
    )


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_variant_packed_and_unbatched(variant: tuple[Any, ...]) -> None:
    """Packed (unsorted lengths) and unbatched input give each sequence its plain result."""
    module = build(variant, num_layers=2, bidirectional=True)
    step, opts = variant[3], variant[4]
    seqs = [torch.randn(n, 4, dtype=torch.float64) for n in (3, 6, 1, 4)]
    out, state = module(pack_sequence(seqs, enforce_sorted=False))
    padded, lengths = pad_packed_sequence(out)
    h_n = state[0] if isinstance(state, tuple) else state
    for b, seq in enumerate(seqs):
        zeros = [
            torch.zeros(4, 1, s, dtype=torch.float64)
            for s in module.cell.state_sizes(module.hidden_size, module.proj_size)
        ]
        ref, finals = plain.run_layers(
            step,
            seq[:, None],
            per_direction(zeros, 4),
            direction_params(module),
            opts,
            num_layers=2,
            bidirectional=True,
            zoneout=eval_zoneout(module),
        )
        torch.testing.assert_close(padded[: lengths[b], b], ref[:, 0].detach())
        torch.testing.assert_close(h_n[:, b], torch.stack([f[0][0] for f in finals]).detach())
        alone, _ = module(seq)  # unbatched (T, I)
        torch.testing.assert_close(alone, ref[:, 0].detach())


# -- the random regularisers in training, with the documented draw order -----------------

TRAINING = [
    ("lstm", rnnx.LSTM, plain.lstm_step, {}),
    ("lstm_ln_peephole", rnnx.LSTM, plain.lstm_step, {"layer_norm": True, "peephole": True}),
    ("gru", rnnx.GRU, plain.gru_step, {}),
    ("rnn_relu", rnnx.RNN, plain.elman_step, {"nonlinearity": "relu"}),
    ("indrnn", rnnx.IndRNN, plain.indrnn_step, {"nonlinearity": "relu"}),
]


@pytest.mark.parametrize(
    "regularisers",
    [
        {"zoneout": 0.3},
        {"recurrent_dropout": 0.4},
        {"weight_drop": 0.5},
        {"zoneout": 0.2, "recurrent_dropout": 0.3, "weight_drop": 0.25, "dropout": 0.3},
    ],
    ids=["zoneout", "recurrent_dropout", "weight_drop", "all"],
)
@pytest.mark.parametrize("kind", TRAINING, ids=[k[0] for k in TRAINING])
def test_training_regularisers_match_plain(kind: tuple[Any, ...], regularisers: dict[str, float]) -> None:
    _, cls, step, opts = kind
    options = {k: v for k, v in opts.items() if k in ("layer_norm", "peephole")}
    if cls is rnnx.RNN or cls is rnnx.IndRNN:
        options["nonlinearity"] = opts["nonlinearity"]
    torch.manual_seed(0)
    module = cls(4, 5, 2, bidirectional=True, **options, **regularisers).double().train()
    x = torch.randn(6, 3, 4, dtype=torch.float64, requires_grad=True)
    steps, batch = x.shape[:2]
    sizes = module.cell.state_sizes(module.hidden_size, 0)
    params = direction_params(module)

    torch.manual_seed(42)
    out, _ = module(x)

    # The plain run draws the same masks in the documented order (rnnx.recurrence.regularize):
    # weight drop from torch's generator, then one seed that keys every per-sample mask.
    torch.manual_seed(42)
    p_wd = regularisers.get("weight_drop", 0.0)
    if p_wd:
        params = [dict(p, weight_hh=F.dropout(p["weight_hh"], p_wd, training=True)) for p in params]
    p_rd, p_zo, p_do = (regularisers.get(k, 0.0) for k in ("recurrent_dropout", "zoneout", "dropout"))
    seed = plain_masks.draw_seed() if p_rd or p_zo or p_do else 0
    samples = list(range(batch))
    h = x
    for layer in range(2):
        outs = []
        for direction in range(2):
            k = layer * 2 + direction
            mask = None
            if p_rd:
                mask = plain_masks.recurrent_multiplier(seed, p_rd, layer, direction, samples, sizes[0])
            zoneout: tuple[Any, ...] = ()
            if p_zo:
                zoneout = tuple(
                    plain_masks.zoneout_keep(seed, p_zo, layer, direction, state, steps, samples, s).double()
                    for state, s in enumerate(sizes)
                )
            state0 = tuple(torch.zeros(batch, s, dtype=torch.float64) for s in sizes)
            o, _ = plain.run_direction(
                step, h, state0, params[k], dict(opts, mask=mask), reverse=direction == 1, zoneout=zoneout
            )
            outs.append(o)
        h = torch.cat(outs, dim=-1)
        if layer == 0 and p_do:
            h = h * plain_masks.dropout_multiplier(seed, p_do, 0, steps, samples, h.shape[-1])

    torch.testing.assert_close(out, h)
    leaves = [x, *module.parameters()]
    g_ours = torch.autograd.grad(scalar_loss([out]), leaves, allow_unused=True)
    g_theirs = torch.autograd.grad(scalar_loss([h]), leaves, allow_unused=True)
    for a, b in zip(g_ours, g_theirs, strict=True):
        if a is None or b is None:
            assert a is None
            assert b is None
        else:
            torch.testing.assert_close(a, b)


def test_zoneout_keeps_previous_values_at_rate_p() -> None:
    torch.manual_seed(0)
    layer = rnnx.GRU(8, 64, zoneout=0.3, backend="reference").train()
    x = torch.randn(40, 16, 8)
    out, _ = layer(x)
    kept = (out[1:] == out[:-1]).double().mean().item()
    assert 0.27 < kept < 0.33


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.99999])
def test_zoneout_mask_draw_is_the_documented_one(p: float) -> None:
    """A packed layout (rows sorted by length, samples numbered from an offset): each row's mask
    is the plain definition's for its sample and step."""
    from rnnx.recurrence.regularize import CallMasks, ZoneoutDraw

    cpu = torch.device("cpu")
    samples, batch_sizes = [12, 10, 13, 11], [4, 4, 3, 1]
    torch.manual_seed(3)
    masks = CallMasks.draw(samples, batch_sizes)
    ours = masks.zoneout([p, p], [9, 5], layer=1, direction=1, device=cpu)
    torch.manual_seed(3)
    seed = plain_masks.draw_seed()
    assert masks.seed == seed
    for state, (draw, size) in enumerate(zip(ours, [9, 5], strict=True)):
        if p == 0:
            assert draw is None
            continue
        assert isinstance(draw, ZoneoutDraw)
        mask = draw.mask()
        plain_full = plain_masks.zoneout_keep(seed, p, 1, 1, state, 4, samples, size)
        rows = [plain_full[t, r] for t, n in enumerate(batch_sizes) for r in range(n)]
        assert torch.equal(mask, torch.stack(rows))
    for seed in range(3):
        torch.manual_seed(seed)
        draw = CallMasks.draw(list(range(1000)), [1000]).zoneout([0.3], [1000], layer=0, direction=0, device=cpu)[0]
        assert isinstance(draw, ZoneoutDraw)
        rate = draw.mask().double().mean().item()
        assert abs(rate - round(0.3 * 65536) / 65536) < 2e-3  # 4.4 standard deviations of the mean


def test_keyed_masks_of_neighbouring_keys_samples_and_steps_are_independent() -> None:
    """Neighbouring stream keys, samples (rows) and steps must not correlate."""
    from rnnx.recurrence.masks import SampleRows

    limit = round(0.5 * 65536)
    rows = SampleRows(tuple(range(500)), (500, 500))  # 500 samples, 2 steps
    a = torch.from_numpy(rows.hits(1000, limit, 400)).double()
    b = torch.from_numpy(rows.hits(1001, limit, 400)).double()

    def corr(u: torch.Tensor, v: torch.Tensor) -> float:
        return torch.corrcoef(torch.stack([u.flatten(), v.flatten()]))[0, 1].item()

    assert abs(corr(a, b)) < 0.01  # 4.5 sd
    assert abs(corr(a[:499], a[1:500])) < 0.01  # neighbouring samples
    assert abs(corr(a[:500], a[500:])) < 0.01  # the same samples at neighbouring steps
    assert abs(corr(a[:, :-1], a[:, 1:])) < 0.01  # neighbouring units


def test_recurrent_dropout_and_weight_drop_are_identity_in_eval() -> None:
    torch.manual_seed(0)
    plain_lstm = rnnx.LSTM(4, 5, 2)
    regularised = rnnx.LSTM(4, 5, 2, recurrent_dropout=0.5, weight_drop=0.5)
    regularised.load_state_dict(plain_lstm.state_dict())
    regularised.eval()
    plain_lstm.eval()
    x = torch.randn(7, 3, 4)
    torch.testing.assert_close(regularised(x), plain_lstm(x))
    assert regularised.native_unsupported() is None  # eval runs on the native kernel


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_training_masks_reproducible_with_seed(backend: str) -> None:
    layer = rnnx.LSTM(4, 5, 2, zoneout=0.2, recurrent_dropout=0.3, weight_drop=0.2, dropout=0.3, backend=backend)
    x = torch.randn(6, 3, 4)
    torch.manual_seed(5)
    first = layer(x)[0]
    torch.manual_seed(5)
    again = layer(x)[0]
    torch.manual_seed(6)
    other = layer(x)[0]
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.allclose(first, other)


def test_weight_drop_alone_runs_native_and_matches_reference() -> None:
    torch.manual_seed(0)
    layer = rnnx.LSTM(4, 5, 2, weight_drop=0.5, dropout=0.2, bidirectional=True).double().train()
    assert layer.native_unsupported() is None
    x = torch.randn(6, 3, 4, dtype=torch.float64)
    torch.manual_seed(3)
    native = layer(x)[0]
    layer.backend = "reference"
    torch.manual_seed(3)
    reference = layer(x)[0]
    torch.testing.assert_close(native, reference)


@pytest.mark.parametrize("forget_bias", [1.0, 2.5, -1.0])
def test_forget_bias_initialisation(forget_bias: float) -> None:
    torch.manual_seed(0)
    layer = rnnx.LSTM(3, 4, 2, forget_bias=forget_bias, bidirectional=True)
    torch.manual_seed(0)
    reference = torch.nn.LSTM(3, 4, 2, bidirectional=True)
    for name, p in layer.named_parameters():
        theirs = getattr(reference, name)
        if name.startswith("bias_"):
            forget = slice(4, 8)
            expected = forget_bias if name.startswith("bias_hh") else 0.0
            assert torch.all(p[forget] == expected), name
            torch.testing.assert_close(p[:4], theirs[:4])
            torch.testing.assert_close(p[8:], theirs[8:])
        else:
            torch.testing.assert_close(p, theirs)
        assert torch.all((layer.bias_ih_l0 + layer.bias_hh_l0)[4:8] == forget_bias)


def test_variant_parameters_are_named_and_initialised() -> None:
    layer = rnnx.LSTM(3, 4, 2, layer_norm=True, peephole=True, bidirectional=True)
    shapes = {n: tuple(p.shape) for n, p in layer.named_parameters()}
    assert shapes["ln_ih_weight_l1_reverse"] == (16,)
    assert shapes["ln_hh_bias_l0"] == (16,)
    assert shapes["ln_cell_weight_l1"] == (4,)
    assert shapes["weight_peephole_l0_reverse"] == (3, 4)
    assert torch.all(layer.ln_ih_weight_l0 == 1)
    assert torch.all(layer.ln_cell_bias_l1 == 0)
    assert layer.weight_peephole_l0.abs().max() <= 0.5
    assert rnnx.IndRNN(3, 4).weight_hh_l0.shape == (4,)
    assert list(rnnx.GRU(3, 4, layer_norm=True).state_dict())[:4] == [
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
    ]


def test_variant_off_is_bitwise_core() -> None:
    torch.manual_seed(0)
    core = rnnx.LSTM(3, 4, 2, backend="reference")
    torch.manual_seed(0)
    off = rnnx.LSTM(
        3,
        4,
        2,
        layer_norm=False,
        peephole=False,
        zoneout=0.0,
        recurrent_dropout=0.0,
        weight_drop=0.0,
        backend="reference",
    )
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(core(x), off(x), rtol=0, atol=0)


@pytest.mark.parametrize("variant", VARIANTS[:8], ids=VARIANT_IDS[:8])
def test_gradcheck_variant(variant: tuple[Any, ...]) -> None:
    module = build(variant, num_layers=2, bidirectional=True)
    names = [n for n, _ in module.named_parameters()]
    x = torch.randn(3, 2, 4, dtype=torch.float64, requires_grad=True)

    def fn(x: torch.Tensor, *weights: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, state = torch.func.functional_call(module, dict(zip(names, weights, strict=True)), (x,))
        return (out, *(state if isinstance(state, tuple) else (state,)))

    weights = [p.detach().clone().requires_grad_() for p in module.parameters()]
    # fast_mode checks random projections of the same Jacobians (Jacobian-vector products).
    assert torch.autograd.gradcheck(fn, (x, *weights), fast_mode=True)


def test_gradcheck_training_regularisers() -> None:
    module = rnnx.LSTM(3, 4, 2, zoneout=0.3, recurrent_dropout=0.3, weight_drop=0.3, dropout=0.2).double().train()
    names = [n for n, _ in module.named_parameters()]
    x = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)

    def fn(x: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(11)  # the same masks on every evaluation
        out, _ = torch.func.functional_call(module, dict(zip(names, weights, strict=True)), (x,))
        return out

    weights = [p.detach().clone().requires_grad_() for p in module.parameters()]
    assert torch.autograd.gradcheck(fn, (x, *weights))
