"""Mixed precision: inside ``torch.autocast`` every backend runs, returns the dtypes ``torch.nn``
returns there (the table in :mod:`rnnx.modules.precision`), agrees with ``torch.nn`` within the
autocast dtype's rounding (outputs, states and every gradient), and keeps rnnx's input checks.

Tolerance: ``5 * eps`` of the autocast dtype times each tensor's largest magnitude (bfloat16
``eps = 2^-7``: 3.9e-2; float16 ``eps = 2^-10``: 4.9e-3). Measured worst cases on CPU, layers of
T=10, two layers, bidirectional: 1.3e-2 (bfloat16) and 2.0e-3 (float16), on every backend.

The CUDA cases run the same tests where CUDA is available and skip elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnx
from rnnx.backends.onednn import onednn_autocast_fails
from rnnx.errors import InputError
from rnnx.fused.function import MIN_STEPS_FOR_FUSED
from tests.cells.test_variants import VARIANT_IDS, VARIANTS
from tests.conftest import KIND_IDS, KINDS, flat, scalar_loss

pytestmark = pytest.mark.skipif(rnnx.fused.unavailable_reason() is not None, reason="no C++ compiler")

BF16, F16, F32, F64 = torch.bfloat16, torch.float16, torch.float32, torch.float64
NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA autocast needs a CUDA device; none here")
NO_CUDA_BF16 = pytest.mark.skipif(
    not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()), reason="needs a CUDA device with bfloat16"
)
# (device, autocast dtype)
REGIONS = [
    pytest.param("cpu", BF16, id="cpu-bf16"),
    pytest.param("cpu", F16, id="cpu-f16"),
    pytest.param("cuda", F16, id="cuda-f16", marks=NO_CUDA),
    pytest.param("cuda", BF16, id="cuda-bf16", marks=NO_CUDA_BF16),
]
BACKENDS = ["auto", "reference", "native", "fused"]
STEPS = MIN_STEPS_FOR_FUSED + 2  # long enough for "auto" to take the fused kernel where it prefers it
BATCH, IN, HIDDEN = 3, 4, 6
LENGTHS = [STEPS - 3, STEPS, 2]


def tolerance(autocast: torch.dtype, reference: Tensor) -> dict[str, float]:
    """``5 * eps`` of the autocast dtype times the largest magnitude of ``reference``."""
    scale = reference.detach().abs().max().item() if reference.numel() else 0.0
    return {"rtol": 0.0, "atol": 5 * torch.finfo(autocast).eps * max(scale, 1e-3)}


def other_low(autocast: torch.dtype) -> torch.dtype:
    """The reduced dtype that is not the region's: autocast casts it too."""
    return F16 if autocast == BF16 else BF16


def results(module: nn.Module, make: Callable[[], tuple[Any, Any, list[Tensor]]], region: Any) -> list[Tensor]:
    """Outputs and states, then the gradients of every leaf and parameter, under ``region``."""
    device, autocast = region
    x, hx, leaves = make()
    with torch.autocast(device, dtype=autocast):
        outputs = flat(module(x) if hx is None else module(x, hx))
    loss = scalar_loss([o.float().cpu() for o in outputs])
    grads = torch.autograd.grad(loss, [*leaves, *module.parameters()])
    return [o.detach() for o in outputs] + list(grads)


def assert_near(ours: list[Tensor], theirs: list[Tensor], autocast: torch.dtype, *, bound: float) -> None:
    """Each tensor within ``bound * eps`` of the autocast dtype of its float32 value, in norm."""
    eps = torch.finfo(autocast).eps
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        ratio = ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-12)).item()
        assert ratio <= bound * eps, f"tensor {k}: differs by {ratio / eps:.1f} eps of its norm (bound {bound})"


def assert_match(
    ours: list[Tensor], theirs: list[Tensor], autocast: torch.dtype, *, outputs: int, kinked: bool
) -> None:
    """Dtypes and shapes equal, values within :func:`tolerance`. ``kinked`` (relu): a unit whose
    pre-activation is within rounding of 0 is on in one path and off in the other, and each such
    flip changes the gradients by a discrete amount (up to 0.15 of a bias gradient's norm,
    measured), so the gradients (after the first ``outputs`` tensors) are compared in norm, to 0.25.
    """
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.dtype == b.dtype, f"tensor {k}: dtype {a.dtype}, torch.nn gives {b.dtype}"
        assert a.shape == b.shape, f"tensor {k}: shape {tuple(a.shape)} != {tuple(b.shape)}"
        a, b = a.double(), b.double()
        atol = tolerance(autocast, b)["atol"]
        if kinked and k >= outputs:
            ratio = ((a - b).norm() / b.norm().clamp_min(1e-12)).item()
            assert ratio <= 0.25, f"tensor {k}: differs by {ratio:.3f} of its norm"
            continue
        torch.testing.assert_close(a, b, rtol=0.0, atol=atol, msg=lambda m, k=k: f"tensor {k}: {m}")


def refuses(backend: str, device: str, *, oracle_failed: bool) -> str | None:
    """What a backend must say where it cannot run the call, or ``None`` where it must run."""
    if backend == "fused" and device != "cpu":
        return "fused kernels run on CPU"
    if backend == "native" and oracle_failed:  # torch.nn's own kernel raises here
        return "oneDNN LSTM"
    return None


# -- layers against torch.nn ------------------------------------------------------------------

LAYER_FORMS = ["batched", "batch_first", "unbatched", "packed", "hx_f32", "hx_low", "x_low", "x_other"]


def layer_input(
    kind: tuple[Any, ...], form: str, device: str, autocast: torch.dtype, *, layers: int, dirs: int, state: bool = False
) -> Any:
    """A function making ``(input, hx, leaves)`` afresh, the same tensors on every call; with
    ``state``, a random float32 ``hx`` in every form (``hx_low``: in the autocast dtype)."""
    g = torch.Generator().manual_seed(7)
    batch_first = form == "batch_first"
    x_dtype = {"x_low": autocast, "x_other": other_low(autocast)}.get(form, F32)
    shape = (STEPS, IN) if form == "unbatched" else (BATCH, STEPS, IN) if batch_first else (STEPS, BATCH, IN)
    x = torch.randn(shape, generator=g).to(device, x_dtype).requires_grad_()
    hx: list[Tensor] = []
    if state or form in ("hx_f32", "hx_low"):
        proj = kind[3].get("proj_size", 0)
        sizes = [proj or HIDDEN, HIDDEN] if kind[2] is nn.LSTM else [HIDDEN]
        dtype = autocast if form == "hx_low" else F32
        hx = [torch.randn(layers * dirs, BATCH, s, generator=g).to(device, dtype).requires_grad_() for s in sizes]

    def make(exact: bool = False) -> tuple[Any, Any, list[Tensor]]:
        """``exact``: float32 copies of the same values, for a run without autocast."""
        xs, hs = x, hx
        if exact:
            xs = x.detach().float().requires_grad_()
            hs = [h.detach().float().requires_grad_() for h in hx]
        inp: Any = xs
        if form == "packed":
            inp = pack_padded_sequence(xs, torch.tensor(LENGTHS), enforce_sorted=False)
        state = None if not hs else tuple(hs) if len(hs) > 1 else hs[0]
        return inp, state, [xs, *hs]

    return make


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("form", LAYER_FORMS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(("device", "autocast"), REGIONS)
def test_layer_matches_torch_nn(kind: Any, backend: str, form: str, device: str, autocast: torch.dtype) -> None:
    _, ours_cls, torch_cls, extra = kind
    torch.manual_seed(0)
    oracle = torch_cls(IN, HIDDEN, num_layers=2, bidirectional=True, batch_first=form == "batch_first", **extra)
    oracle = oracle.to(device)
    module = ours_cls.from_torch(oracle, backend=backend)
    make = layer_input(kind, form, device, autocast, layers=2, dirs=2)
    region = (device, autocast)
    onednn_fails = device == "cpu" and onednn_autocast_fails(autocast) and torch_cls is nn.LSTM and not extra
    theirs: list[Tensor] | None
    try:
        theirs = results(oracle, make, region)
    except RuntimeError as error:  # oneDNN's LSTM under CPU float16 (or bfloat16 without AVX-512) autocast
        if not (onednn_fails and "primitive descriptor" in str(error)):
            raise
        theirs = None
    expected_refusal = refuses(backend, device, oracle_failed=theirs is None)
    if expected_refusal is not None:
        with pytest.raises(ValueError, match=expected_refusal):
            results(module, make, region)
        return
    ours = results(module, make, region)
    outputs = len(ours) - len(list(module.parameters())) - len(make()[2])
    if backend == "fused" or (backend == "auto" and device == "cpu" and (torch_cls is not nn.LSTM or extra)):
        assert module.backend_choice.backend == "fused", module.backend_choice
    if theirs is None:
        # torch.nn cannot run it: the dtypes of its oneDNN row (all in the autocast dtype), the
        # numbers against torch.nn in float32 without autocast.
        assert all(t.dtype == autocast for t in ours[:outputs]), [t.dtype for t in ours[:outputs]]
        ours = [t.float() for t in ours]
        x, hx, leaves = make(exact=True)
        exact = flat(oracle(x) if hx is None else oracle(x, hx))
        grads = torch.autograd.grad(scalar_loss([o.cpu() for o in exact]), [*leaves, *oracle.parameters()])
        theirs = [o.detach() for o in exact] + list(grads)
    assert_match(ours, theirs, autocast, outputs=outputs, kinked=extra.get("nonlinearity") == "relu")


# -- cells against torch.nn -------------------------------------------------------------------

CELLS = [
    ("rnn_cell", rnnx.RNNCell, nn.RNNCell),
    ("gru_cell", rnnx.GRUCell, nn.GRUCell),
    ("lstm_cell", rnnx.LSTMCell, nn.LSTMCell),
]
CELL_FORMS = ["batched", "unbatched", "hx_f32", "hx_low", "x_low", "x_other", "hx_mixed"]


def cell_input(lstm: bool, form: str, device: str, autocast: torch.dtype) -> Any:
    g = torch.Generator().manual_seed(7)
    x_dtype = {"x_low": autocast, "x_other": other_low(autocast)}.get(form, F32)
    x = torch.randn((IN,) if form == "unbatched" else (BATCH, IN), generator=g).to(device, x_dtype).requires_grad_()
    dtypes = {"hx_f32": [F32, F32], "hx_low": [autocast, autocast], "hx_mixed": [autocast, F32]}.get(form, [])
    hx = [torch.randn(BATCH, HIDDEN, generator=g).to(device, d).requires_grad_() for d in dtypes[: 2 if lstm else 1]]

    def make() -> tuple[Any, Any, list[Tensor]]:
        state = None if not hx else tuple(hx) if lstm else hx[0]
        return x, state, [x, *hx]

    return make


@pytest.mark.parametrize("form", CELL_FORMS)
@pytest.mark.parametrize("backend", ["auto", "reference", "native"])
@pytest.mark.parametrize("cell", CELLS, ids=[c[0] for c in CELLS])
@pytest.mark.parametrize(("device", "autocast"), REGIONS)
def test_cell_matches_torch_nn(cell: Any, backend: str, form: str, device: str, autocast: torch.dtype) -> None:
    _, ours_cls, torch_cls = cell
    torch.manual_seed(0)
    oracle = torch_cls(IN, HIDDEN).to(device)
    module = ours_cls.from_torch(oracle, backend=backend)
    make = cell_input(torch_cls is nn.LSTMCell, form, device, autocast)
    theirs = results(oracle, make, (device, autocast))
    ours = results(module, make, (device, autocast))
    outputs = len(ours) - len(list(module.parameters())) - len(make()[2])
    assert_match(ours, theirs, autocast, outputs=outputs, kinked=False)


# -- variants: the dtypes of their base cell, the numbers of float32 --------------------------

TRAINING = [
    ("lstm_zoneout_train", rnnx.LSTM, {"zoneout": (0.3, 0.6)}),
    ("gru_recurrent_dropout_train", rnnx.GRU, {"recurrent_dropout": 0.4}),
    ("rnn_weight_drop_train", rnnx.RNN, {"weight_drop": 0.5}),
    ("lstm_ln_proj_zoneout_train", rnnx.LSTM, {"layer_norm": True, "proj_size": 3, "zoneout": 0.3}),
]
LAYER_VARIANTS = [pytest.param(v[1], v[2], False, id=i) for v, i in zip(VARIANTS, VARIANT_IDS, strict=True)]
LAYER_VARIANTS += [pytest.param(cls, options, True, id=i) for i, cls, options in TRAINING]
# Measured up to 190 eps (CPU float16, the reference path of the LSTM with layer norm, peephole and
# proj_size; bfloat16 and the fused path within 60).
BOUND_LN = 250
BASE = {rnnx.LSTM: nn.LSTM, rnnx.GRU: nn.GRU, rnnx.RNN: nn.RNN}


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("form", ["batched", "packed", "hx_f32", "x_low"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("cls", "options", "training"), LAYER_VARIANTS)
@pytest.mark.parametrize(("device", "autocast"), REGIONS)
def test_variant_under_autocast(
    cls: Any, options: dict[str, Any], training: bool, backend: str, form: str, device: str, autocast: torch.dtype
) -> None:
    proj = options.get("proj_size", 0)
    torch.manual_seed(0)
    module = cls(IN, HIDDEN, 2, bidirectional=True, **options).to(device).train(training)
    with torch.no_grad():  # layer-norm gains and biases away from 1 and 0
        for name, p in module.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
    kind = ("", cls, BASE.get(cls, nn.RNN), {"proj_size": proj} if proj else {})
    # A layer norm of W_hh h0 = 0 (zero initial state) has no spread: what it normalises in the
    # first steps is rounding noise times 1/sqrt(LN eps), ill-conditioned in any reduced precision
    # (measured up to 500 eps in a gradient, against 9 eps from a random state), so those get one.
    layer_norm = bool(options.get("layer_norm"))
    make = layer_input(kind, form, device, autocast, layers=2, dirs=2, state=layer_norm)
    region = (device, autocast)
    module.backend = backend
    expected_refusal = "fused kernels run on CPU" if backend == "fused" and device != "cpu" else None
    if backend == "native" and module.native_unsupported() is not None:
        expected_refusal = "cannot run this configuration"
    onednn = cls is rnnx.LSTM and not proj and form not in ("packed", "x_low")
    if backend == "native" and device == "cpu" and onednn_autocast_fails(autocast) and onednn:
        expected_refusal = "cannot run this configuration"  # oneDNN's LSTM: torch.nn.LSTM raises there too
    if expected_refusal is not None:
        with pytest.raises(ValueError, match=expected_refusal):
            results(module, make, region)
        return
    torch.manual_seed(1)
    ours = results(module, make, region)
    if backend == "fused" or (backend == "auto" and device == "cpu" and module.native_unsupported() is not None):
        assert module.backend_choice.backend == "fused", module.backend_choice
    outputs = len(ours) - len(list(module.parameters())) - len(make()[2])
    # The dtypes: those torch.nn's base class returns for the same call (IndRNN: its equations').
    if cls is rnnx.IndRNN:  # its recurrence u * h is elementwise: float32, the parameters' dtype
        expected = [F32] * outputs
    else:
        base = BASE[cls](IN, HIDDEN, 2, bidirectional=True, **({"proj_size": proj} if proj else {})).to(device)
        x, hx, _ = make()
        try:
            with torch.autocast(device, dtype=autocast):
                expected = [t.dtype for t in flat(base(x) if hx is None else base(x, hx))]
        except (
            RuntimeError
        ):  # CPU float16 (bfloat16 without AVX-512): torch.nn's oneDNN LSTM raises; its row is all that dtype
            expected = [autocast] * outputs
    assert [t.dtype for t in ours[:outputs]] == expected
    # The numbers: the reference path in float32 without autocast, with the same masks.
    module.backend = "reference"
    x, hx, leaves = make(exact=True)
    torch.manual_seed(1)
    exact = flat(module(x) if hx is None else module(x, hx))
    grads = torch.autograd.grad(scalar_loss([o.cpu() for o in exact]), [*leaves, *module.parameters()])
    theirs = [o.detach() for o in exact] + list(grads)
    # Measured: within 4.3 eps of each tensor's norm without layer norm; with it, which divides
    # by the gates' spread and so amplifies their rounding, within BOUND_LN.
    assert_near(ours, theirs, autocast, bound=BOUND_LN if layer_norm else 10)


# -- rnnx's input checks still apply inside autocast, refusing what torch.nn refuses ----------


def _bad_layer_call(case: str, kind: Any, device: str) -> Callable[[nn.Module], Any]:
    """A call that ``torch.nn`` refuses inside autocast, on a module of ``kind``."""
    lstm = kind[2] is nn.LSTM
    x = torch.randn(STEPS, BATCH, IN, device=device)

    def hx(dtype: torch.dtype, batch: int = BATCH) -> Any:
        h = torch.randn(4, batch, kind[3].get("proj_size", 0) or HIDDEN, device=device, dtype=dtype)
        return (h, torch.randn(4, batch, HIDDEN, device=device, dtype=dtype)) if lstm else h

    calls: dict[str, Callable[[nn.Module], Any]] = {
        "input_f64": lambda m: m(x.double()),
        "module_f64": lambda m: m.double()(x),
        "hx_f64": lambda m: m(x, hx(F64)),
        "input_int": lambda m: m(x.long()),
        "input_features": lambda m: m(torch.randn(STEPS, BATCH, IN + 1, device=device)),
        "hx_shape": lambda m: m(x, hx(F32, batch=BATCH + 1)),
    }
    return calls[case]


# What rnnx's message names in each case.
LAYER_REFUSALS = {
    "input_f64": (InputError, r"input has dtype torch\.float64"),
    "module_f64": (InputError, r"input has dtype torch\.float32"),
    "hx_f64": (InputError, r"dtype torch\.float64"),
    "input_int": (TypeError, "floating-point"),
    "input_features": (ValueError, "input_size=4"),
    "hx_shape": (InputError, "hx"),
}


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("case", list(LAYER_REFUSALS))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(("device", "autocast"), REGIONS)
def test_layer_checks_apply_under_autocast(
    kind: Any, backend: str, case: str, device: str, autocast: torch.dtype
) -> None:
    torch.manual_seed(0)
    oracle = kind[2](IN, HIDDEN, num_layers=2, bidirectional=True, **kind[3]).to(device)
    module = kind[1].from_torch(oracle, backend=backend)
    call = _bad_layer_call(case, kind, device)
    error, words = LAYER_REFUSALS[case]
    with torch.autocast(device, dtype=autocast):
        with pytest.raises(RuntimeError):  # torch.nn refuses it too
            call(oracle)
        with pytest.raises(error, match=words):
            call(module)


CELL_REFUSALS = {
    "input_f64": (InputError, r"input has dtype torch\.float64"),
    "module_f64": (InputError, r"input has dtype torch\.float32"),
    "hx_f64": (InputError, r"dtype torch\.float64"),
    "input_int": (TypeError, "floating-point"),
    "input_features": (ValueError, "input_size=4"),
    "hx_shape": (ValueError, "hx"),
}


@pytest.mark.parametrize("case", list(CELL_REFUSALS))
@pytest.mark.parametrize("backend", ["auto", "reference", "native"])
@pytest.mark.parametrize("cell", CELLS, ids=[c[0] for c in CELLS])
@pytest.mark.parametrize(("device", "autocast"), REGIONS)
def test_cell_checks_apply_under_autocast(
    cell: Any, backend: str, case: str, device: str, autocast: torch.dtype
) -> None:
    _, ours_cls, torch_cls = cell
    torch.manual_seed(0)
    oracle = torch_cls(IN, HIDDEN).to(device)
    module = ours_cls.from_torch(oracle, backend=backend)
    x = torch.randn(BATCH, IN, device=device)
    lstm = torch_cls is nn.LSTMCell

    def hx(dtype: torch.dtype, batch: int = BATCH) -> Any:
        h = torch.randn(batch, HIDDEN, device=device, dtype=dtype)
        return (h, h.clone()) if lstm else h

    calls: dict[str, Callable[[nn.Module], Any]] = {
        "input_f64": lambda m: m(x.double()),
        "module_f64": lambda m: m.double()(x),
        "hx_f64": lambda m: m(x, hx(F64)),
        "input_int": lambda m: m(x.long()),
        "input_features": lambda m: m(torch.randn(BATCH, IN + 1, device=device)),
        "hx_shape": lambda m: m(x, hx(F32, batch=BATCH + 1)),
    }
    error, words = CELL_REFUSALS[case]
    with torch.autocast(device, dtype=autocast):
        with pytest.raises(RuntimeError):  # torch.nn refuses it too
            calls[case](oracle)
        with pytest.raises(error, match=words):
            calls[case](module)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reduced_input_refused_outside_autocast(backend: str) -> None:
    """Outside autocast a bfloat16 input to a float32 module is still an error, as in torch.nn."""
    module = rnnx.GRU(IN, HIDDEN, backend=backend)
    with pytest.raises(InputError, match=r"input has dtype torch\.bfloat16"):
        module(torch.randn(STEPS, BATCH, IN, dtype=BF16))


@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_weight_refused_under_autocast(backend: str) -> None:
    """A float64 weight put into a float32 module: autocast does not cast float64, torch.nn raises."""
    oracle = nn.GRU(IN, HIDDEN)
    module = rnnx.GRU.from_torch(oracle, backend=backend)
    for m in (oracle, module):
        m.weight_hh_l0 = nn.Parameter(m.weight_hh_l0.detach().double())
    x = torch.randn(STEPS, BATCH, IN)
    with torch.autocast("cpu", dtype=BF16):
        with pytest.raises(RuntimeError):
            oracle(x)
        with pytest.raises(InputError, match="weight_hh_l0"):
            module(x)


CELL_VARIANTS = [
    pytest.param(rnnx.RNNCell, {"layer_norm": True}, False, id="rnn_cell_ln"),
    pytest.param(rnnx.GRUCell, {"layer_norm": True}, False, id="gru_cell_ln"),
    pytest.param(rnnx.LSTMCell, {"layer_norm": True, "peephole": True}, False, id="lstm_cell_ln_peephole"),
    pytest.param(rnnx.LSTMCell, {"zoneout": (0.3, 0.5)}, False, id="lstm_cell_zoneout_eval"),
    pytest.param(rnnx.LSTMCell, {"zoneout": (0.3, 0.5)}, True, id="lstm_cell_zoneout_train"),
    pytest.param(rnnx.GRUCell, {"recurrent_dropout": 0.4}, True, id="gru_cell_recurrent_dropout_train"),
    pytest.param(rnnx.RNNCell, {"weight_drop": 0.5, "zoneout": 0.2}, True, id="rnn_cell_weight_drop_zoneout_train"),
]
BASE_CELL = {rnnx.RNNCell: nn.RNNCell, rnnx.GRUCell: nn.GRUCell, rnnx.LSTMCell: nn.LSTMCell}


@pytest.mark.parametrize("form", ["batched", "unbatched", "hx_f32", "hx_low", "x_low", "hx_mixed"])
@pytest.mark.parametrize("backend", ["auto", "reference", "native"])
@pytest.mark.parametrize(("cls", "options", "training"), CELL_VARIANTS)
@pytest.mark.parametrize(("device", "autocast"), REGIONS)
def test_cell_variant_under_autocast(
    cls: Any, options: dict[str, Any], training: bool, backend: str, form: str, device: str, autocast: torch.dtype
) -> None:
    torch.manual_seed(0)
    module = cls(IN, HIDDEN, **options).to(device).train(training)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
    module.backend = backend
    make = cell_input(cls is rnnx.LSTMCell, form, device, autocast)
    region = (device, autocast)
    if backend == "native" and module.native_unsupported() is not None:
        with pytest.raises(ValueError, match="cannot run this configuration"):
            results(module, make, region)
        return
    torch.manual_seed(1)
    ours = results(module, make, region)
    outputs = len(ours) - len(list(module.parameters())) - len(make()[2])
    base = BASE_CELL[cls](IN, HIDDEN).to(device)
    x, hx, _ = make()
    with torch.autocast(device, dtype=autocast):
        expected = [t.dtype for t in flat(base(x, hx))]
    assert [t.dtype for t in ours[:outputs]] == expected
    # The numbers: the reference step in float32 without autocast, with the same masks.
    module.backend = "reference"
    module.reset_dropout_mask()
    x, _, leaves = make()
    x32, hx32 = x.detach().float().requires_grad_(), [h.detach().float().requires_grad_() for h in leaves[1:]]
    state = None if not hx32 else tuple(hx32) if len(hx32) > 1 else hx32[0]
    torch.manual_seed(1)
    exact = flat(module(x32, state))
    grads = torch.autograd.grad(scalar_loss([o.cpu() for o in exact]), [x32, *hx32, *module.parameters()])
    theirs = [o.detach() for o in exact] + list(grads)
    layer_norm = bool(options.get("layer_norm"))
    assert_near(ours, theirs, autocast, bound=BOUND_LN if layer_norm else 10)
