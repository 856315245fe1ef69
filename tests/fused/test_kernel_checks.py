"""The compiled kernel's entry points (forward, backward, small_gemm) check every argument
themselves (csrc/arguments.h): each wrong tensor or scalar is a RuntimeError that names it,
never an out-of-bounds read, a crash or a silent result. A C++ entry point never trusts Python.

Every case below is also run in a child process (test_no_case_crashes), so that a check that
goes missing shows as a failure, not as a dead test runner."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

import rnnx
from rnnx.fused.op import GRU, INDRNN_RELU, LSTM, RNN_TANH

pytestmark = pytest.mark.skipif(rnnx.fused.unavailable_reason() is not None, reason="no C++ compiler")

FORWARD_ARGS = (
    "kind", "reverse", "layer_norm", "peephole", "save", "gi", "sizes", "h0", "c0", "w_hh", "b_hh",
    "ln_hh_w", "ln_hh_b", "ln_c_w", "ln_c_b", "peep", "mask", "draws", "p_h", "p_c", "w_hr",
)  # fmt: skip
BACKWARD_ARGS = (
    "kind", "reverse", "layer_norm", "peephole", "sizes", "d_out", "d_hn", "d_cn", "saved", "w_hh",
    "ln_hh_w", "ln_c_w", "peep", "mask", "draws", "p_h", "p_c", "w_hr",
)  # fmt: skip
SAVED = ("h_in", "h_prev", "acts", "hh", "hh_rstd", "c_prev", "c_cand", "tanh_c", "c_hat", "c_rstd", "gh_n", "h_full")
NO_DRAWS = [0, -1, 0, -1]  # (key_h, threshold_h, key_c, threshold_c): no training mask


def ext() -> Any:
    return rnnx.fused.load_extension()


@dataclass(frozen=True)
class Config:
    """A valid call: kind, options, sizes (rows per step), P (h's width) and H (the cell's)."""

    name: str
    kind: int
    layer_norm: bool = False
    peephole: bool = False
    sizes: tuple[int, ...] = (3, 3, 2, 1)
    p: int = 4
    h: int = 4
    b_hh: bool = False
    mask: bool = False

    @property
    def gates(self) -> int:
        return {LSTM: 4, GRU: 3}.get(self.kind, 1) * self.h


CONFIGS = {
    c.name: c
    for c in (
        Config("lstm_ln_peephole_proj", LSTM, layer_norm=True, peephole=True, p=3, h=5, mask=True),
        Config("gru_ln", GRU, layer_norm=True, b_hh=True, mask=True),
        Config("rnn", RNN_TANH, sizes=(2, 2, 2)),
        Config("indrnn", INDRNN_RELU, mask=True),
    )
}


def forward_args(c: Config, *, save: bool = True) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)

    def r(*shape: int) -> Tensor:
        return torch.randn(shape, generator=g)

    n, b, lstm = sum(c.sizes), c.sizes[0], c.kind == LSTM
    ind = c.kind >= INDRNN_RELU
    return {
        "kind": c.kind,
        "reverse": False,
        "layer_norm": c.layer_norm,
        "peephole": c.peephole,
        "save": save,
        "gi": r(n, c.gates),
        "sizes": list(c.sizes),
        "h0": r(b, c.p),
        "c0": r(b, c.h) if lstm else None,
        "w_hh": r(c.h) if ind else r(c.gates, c.p),
        "b_hh": r(c.gates) if c.b_hh else None,
        "ln_hh_w": r(c.gates) if c.layer_norm else None,
        "ln_hh_b": r(c.gates) if c.layer_norm else None,
        "ln_c_w": r(c.h) if c.layer_norm and lstm else None,
        "ln_c_b": r(c.h) if c.layer_norm and lstm else None,
        "peep": r(3, c.h) if c.peephole else None,
        "mask": (r(b, c.p) > 0).float() * 2 if c.mask else None,
        "draws": list(NO_DRAWS),
        "p_h": 0.0,
        "p_c": 0.0,
        "w_hr": r(c.p, c.h) if c.p != c.h else None,
    }


def backward_args(c: Config) -> dict[str, Any]:
    fwd = forward_args(c)
    _, _, _, *saved = ext().forward(**fwd)
    g = torch.Generator().manual_seed(1)
    n, b = sum(c.sizes), c.sizes[0]
    args = {k: fwd[k] for k in BACKWARD_ARGS if k in fwd}
    args |= {
        "d_out": torch.randn(n, c.p, generator=g),
        "d_hn": torch.randn(b, c.p, generator=g),
        "d_cn": torch.randn(b, c.h, generator=g) if c.kind == LSTM else None,
        "saved": saved,
    }
    return {k: args[k] for k in BACKWARD_ARGS}


def call(entry: str, args: dict[str, Any]) -> Any:
    """The entry point called with ``args`` by keyword (its order is the declaration's,
    rnnx.fused.arguments: tests/test_fused_arguments.py checks it)."""
    return getattr(ext(), entry)(**args)


# -- the cases: (entry point, config, what to change) ------------------------------------


def strided_copy(t: Tensor) -> Tensor:
    """The same values and shape, not contiguous."""
    if t.dim() >= 2 and t.shape[0] > 1 and t.shape[1] > 1:
        return t.t().contiguous().t()
    return torch.stack([t, t], -1)[..., 0]


def wrong_rows(t: Tensor) -> Tensor:
    return t[:-1] if t.shape[0] > 1 else torch.cat([t, t])


def wrong_width(t: Tensor) -> Tensor:
    return t[:, :-1] if t.shape[-1] > 1 else torch.cat([t, t], -1)


TENSOR_FAULTS: dict[str, tuple[Callable[[Tensor], Any], str]] = {
    # fault: (how, the words of the refusal after the argument's name)
    "rows": (wrong_rows, "must"),
    "width": (wrong_width, "must"),
    "float64": (lambda t: t.double(), "must have dtype Float"),
    "int64": (lambda t: t.long(), "must"),
    "strided": (strided_copy, "must be contiguous"),
    "meta": (lambda t: t.to("meta"), "must be on the CPU"),
    "sparse": (lambda t: t.to_sparse(), "must be a dense (strided) tensor"),
    "negated_view": (lambda t: t._neg_view(), "must not be a lazily negated"),
}


WIDTHS = ("h0", "c0", "d_hn", "d_cn")  # the tensors the kernel reads P and H from


@dataclass(frozen=True)
class Case:
    entry: str  # "forward" or "backward"
    config: str
    change: str  # the argument or saved buffer, and the fault
    pattern: str  # regex the RuntimeError's message must match

    @property
    def id(self) -> str:
        return f"{self.entry}-{self.config}-{self.change}"


def tensor_cases() -> list[Case]:
    cases = []
    for entry, names in (("forward", FORWARD_ARGS), ("backward", BACKWARD_ARGS)):
        prefix = f"rnnx fused {entry}: "
        for cname, c in CONFIGS.items():
            args = forward_args(c) if entry == "forward" else backward_args(c)
            targets = [(n, args[n]) for n in names if isinstance(args[n], Tensor)]
            if entry == "backward":
                targets += [(f"saved[{i}] ({SAVED[i]})", t) for i, t in enumerate(args["saved"])]
            for name, t in targets:
                for fault, (_, words) in TENSOR_FAULTS.items():
                    if t.numel() == 0 and fault in ("rows", "width", "strided"):
                        continue  # an empty buffer (unused by this kind) has no rows to lose
                    if t.dim() < 2 and fault == "width":
                        continue
                    if fault == "float64" and name in ("gi", "d_out"):
                        # the dtype of the call: every other tensor now differs from it
                        pattern = prefix + r"\S+ must have dtype Double \(that of the gates\); got Float"
                    elif fault == "int64" and name in ("gi", "d_out"):
                        pattern = prefix + re.escape(f"{name} must be float32 or float64; got Long")
                    elif fault == "width" and name in WIDTHS:
                        # this tensor sets P or H: another one, or its own row check, says so
                        pattern = prefix + r"(\S+ must|without w_hr)"
                    else:
                        pattern = prefix + re.escape(f"{name} ") + re.escape(words)
                    cases.append(Case(entry, cname, f"{name}:{fault}", pattern))
    return cases


def presence_cases() -> list[Case]:
    """Optional tensors left out where the configuration needs them, and given where it has none."""
    f, bw = "rnnx fused forward: ", "rnnx fused backward: "
    return [
        Case("forward", "lstm_ln_peephole_proj", "c0:none", re.escape(f + "c0 is required for kind LSTM")),
        Case("forward", "gru_ln", "c0:given", re.escape(f + "c0 must be None unless kind is LSTM")),
        Case("forward", "lstm_ln_peephole_proj", "b_hh:given", re.escape(f + "b_hh must be None unless kind is GRU")),
        Case("forward", "gru_ln", "ln_hh_w:none", re.escape(f + "ln_hh_w is required when layer_norm is set")),
        Case("forward", "gru_ln", "ln_hh_b:none", re.escape(f + "ln_hh_b is required when layer_norm is set")),
        Case("forward", "rnn", "ln_hh_w:given", re.escape(f + "ln_hh_w must be None unless layer_norm is set")),
        Case("forward", "lstm_ln_peephole_proj", "ln_c_b:none", re.escape(f + "ln_c_b is required when layer_norm")),
        Case("forward", "gru_ln", "ln_c_w:given", re.escape(f + "ln_c_w must be None unless layer_norm is set and")),
        Case("forward", "lstm_ln_peephole_proj", "peep:none", re.escape(f + "peep is required when peephole is set")),
        Case("forward", "lstm_ln_peephole_proj", "w_hr:none", re.escape(f + "without w_hr, h and c0 must have")),
        Case("forward", "gru_ln", "w_hr:given", re.escape(f + "w_hr (proj_size) needs kind LSTM")),
        Case("backward", "lstm_ln_peephole_proj", "d_cn:none", re.escape(bw + "d_cn is required for kind LSTM")),
        Case("backward", "gru_ln", "d_cn:given", re.escape(bw + "d_cn must be None unless kind is LSTM")),
        Case("backward", "gru_ln", "ln_hh_w:none", re.escape(bw + "ln_hh_w is required when layer_norm is set")),
        Case("backward", "lstm_ln_peephole_proj", "peep:none", re.escape(bw + "peep is required when peephole")),
        Case("backward", "rnn", "peep:given", re.escape(bw + "peep must be None unless peephole is set")),
    ]


def scalar_cases() -> list[Case]:
    cases = []
    for entry in ("forward", "backward"):
        p = re.escape(f"rnnx fused {entry}: ")
        cases += [
            Case(entry, "gru_ln", "kind=6", p + re.escape("kind must be in [0, 5]; got 6")),
            Case(entry, "gru_ln", "kind=-1", p + re.escape("kind must be in [0, 5]; got -1")),
            Case(entry, "gru_ln", "peephole=True", p + re.escape("peephole needs kind LSTM (0); got kind 1")),
            Case(entry, "rnn", "sizes=[]", p + re.escape("sizes (rows per step) must not be empty")),
            Case(entry, "rnn", "sizes=[2,0,2]", p + re.escape("sizes must be positive; got sizes[1] = 0")),
            Case(entry, "rnn", "sizes=[2,-1,1]", p + re.escape("sizes must be positive; got sizes[1] = -1")),
            Case(entry, "rnn", "sizes=[1,2,2]", p + re.escape("sizes must be non-increasing; got sizes[0] = 1 then")),
            Case(
                entry, "rnn", "sizes=[3,2,1]", p + r"(h0|d_hn) must be 2-d with 3 rows \(sizes\[0\], the batch\)"
            ),  # B = 3, h is (2, P)
            Case(entry, "rnn", "sizes=[2,2,2,2]", p + r"(gi|d_out) must have shape \[8, 4\]; got \[6, 4\]"),
            Case(entry, "rnn", "sizes=[2,2]", p + r"(gi|d_out) must have shape \[4, 4\]; got \[6, 4\]"),
            Case(entry, "gru_ln", "p_h=1.0", p + re.escape("p_h must be in [0, 1); got 1")),
            Case(entry, "gru_ln", "p_h=-0.25", p + re.escape("p_h must be in [0, 1); got -0.25")),
            Case(entry, "gru_ln", "p_h=nan", p + re.escape("p_h must be in [0, 1); got nan")),
            Case(entry, "lstm_ln_peephole_proj", "p_c=1.5", p + re.escape("p_c must be in [0, 1); got 1.5")),
            Case(entry, "gru_ln", "draws=[0,-1,0]", r"zoneout draws"),
            # a training draw for h: four values, then one sample index per row (B = 3)
            Case(entry, "gru_ln", "draws=[0,100,0,-1,0,1]", r"zoneout draws"),
            Case(entry, "gru_ln", "draws=[0,65537,0,-1,0,1,2]", r"zoneout draws: a threshold is at most 65536"),
        ]
    cases += [
        Case("backward", "gru_ln", "saved:short", re.escape("rnnx fused backward: saved must hold the forward's 12")),
        Case("backward", "gru_ln", "saved:unsaved", re.escape("rnnx fused backward: saved[0] (h_in) must have shape")),
        Case("backward", "lstm_ln_peephole_proj", "saved:unsaved", re.escape("rnnx fused backward: saved[0] (h_in)")),
    ]
    return cases


# Building the cases runs the kernel's forward (the backward's saved buffers): only where it builds.
CASES = tensor_cases() + presence_cases() + scalar_cases() if rnnx.fused.unavailable_reason() is None else []


def _value(text: str) -> Any:
    return json.loads(text.replace("nan", "NaN").replace("True", "true"))


def apply(case: Case) -> tuple[str, dict[str, Any]]:
    """The entry point and the arguments of ``case``: a valid call with one thing changed."""
    c = CONFIGS[case.config]
    args = forward_args(c) if case.entry == "forward" else backward_args(c)
    target, _, fault = case.change.partition(":")
    if "=" in target:  # a scalar
        name, value = target.split("=")
        args[name] = _value(value)
    elif target.startswith("saved["):
        i = int(target[6 : target.index("]")])
        args["saved"] = [TENSOR_FAULTS[fault][0](t) if k == i else t for k, t in enumerate(args["saved"])]
    elif target == "saved":
        if fault == "short":
            args["saved"] = args["saved"][:-1]
        else:  # the buffers of a forward that kept one step only (save=False)
            args["saved"] = list(ext().forward(**forward_args(c, save=False))[3:])
    elif fault == "none":
        args[target] = None
    elif fault == "given":
        width = {"c0": c.h, "d_cn": c.h, "w_hr": c.h}.get(target, c.gates)
        rows = {"c0": c.sizes[0], "d_cn": c.sizes[0], "w_hr": c.p, "peep": 3}.get(target)
        args[target] = torch.randn(width) if rows is None else torch.randn(rows, width)
    else:
        args[target] = TENSOR_FAULTS[fault][0](args[target])
    return case.entry, args


def test_valid_calls_run() -> None:
    """The base of every case is a valid call; its forward and backward run."""
    for c in CONFIGS.values():
        out, h, _, *saved = call("forward", forward_args(c))
        assert out.shape == (sum(c.sizes), c.p)
        assert h.shape == (c.sizes[0], c.p)
        assert len(saved) == len(SAVED)
        d_gi, *_ = call("backward", backward_args(c))
        assert d_gi.shape == (sum(c.sizes), c.gates)
        assert torch.isfinite(d_gi).all()


def test_the_cases_cover_every_tensor_argument() -> None:
    changed = {case.change.split(":")[0] for case in CASES}
    for name in (*FORWARD_ARGS, *BACKWARD_ARGS):
        if name not in ("kind", "reverse", "layer_norm", "peephole", "save", "sizes", "draws", "p_h", "p_c"):
            assert name in changed, name
    assert all(f"saved[{i}] ({s})" in changed for i, s in enumerate(SAVED))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_entry_point_refuses(case: Case) -> None:
    entry, args = apply(case)
    with pytest.raises(RuntimeError, match=case.pattern):
        call(entry, args)


SWEEP = """
import json, sys
from tests.fused.test_kernel_checks import CASES, apply, call
missed = []
for case in CASES:
    entry, args = apply(case)
    try:
        call(entry, args)
    except RuntimeError:
        continue
    missed.append(case.id)
print(json.dumps(missed))
"""


def test_no_case_crashes() -> None:
    """Every case in a child process: a missing check that reads out of bounds kills the child,
    not the test runner."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", SWEEP], cwd=root, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"the child died (exit code {done.returncode}): {done.stderr[-3000:]}"
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# -- small_gemm -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "pattern"),
    [
        (torch.randn(3, 4).to_sparse(), torch.randn(4, 5), r"small_gemm: a must be a dense \(strided\) tensor"),
        (torch.randn(3, 4), torch.randn(4, 5).to_sparse(), r"small_gemm: b must be a dense \(strided\) tensor"),
        (torch.randn(3, 4), torch.randn(4, 5, device="meta"), r"small_gemm: b must be on the CPU"),
        (torch.randn(3, 4, device="meta"), torch.randn(4, 5), r"small_gemm: a must be on the CPU"),
        (torch.randn(4, 3).t(), torch.randn(4, 5), r"small_gemm: a must be contiguous"),
        (torch.randn(3, 4), torch.randn(5, 4).t(), r"small_gemm: b must be contiguous"),
        (torch.randn(3, 4)._neg_view(), torch.randn(4, 5), r"small_gemm: a must not be a lazily negated"),
        (torch.ones(3, 4, dtype=torch.long), torch.ones(4, 5, dtype=torch.long), r"small_gemm: a must be float32"),
        (torch.randn(2, 3, 4), torch.randn(4, 5), r"small_gemm: two 2-d tensors of one dtype expected"),
        (torch.randn(3, 4), torch.randn(4, 5, dtype=torch.float64), r"small_gemm: two 2-d tensors of one dtype"),
        (torch.randn(3, 4), torch.randn(5, 5), r"small_gemm: inner sizes differ: a is \[3, 4\], b is \[5, 5\]"),
    ],
)
def test_small_gemm_refuses(a: Tensor, b: Tensor, pattern: str) -> None:
    with pytest.raises(RuntimeError, match=pattern):
        ext().small_gemm(a, b, False)


def test_probability_bounds_are_exclusive_of_one() -> None:
    """p in [0, 1): the largest double below 1 runs."""
    c = CONFIGS["gru_ln"]
    args = forward_args(c) | {"p_h": math.nextafter(1.0, 0.0)}
    out = call("forward", args)[0]
    assert torch.isfinite(out).all()
