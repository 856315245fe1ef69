"""The fused op's arguments and results are declared once (rnnx.fused.arguments): the custom
operators' schemas are built from the declaration, and the C++ entry points (csrc/arguments.h)
take and return the same fields, in the same order, of the same types."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from torch import Tensor

import rnnx
from rnnx.cells import ElmanStep, GRUStep, IndRNNStep, LSTMStep
from rnnx.fused import arguments
from rnnx.fused.arguments import (
    BACKWARD_ARGUMENTS,
    BACKWARD_RESULTS,
    FORWARD_ARGUMENTS,
    FORWARD_RESULTS,
    GRADIENT_OF,
    BackwardConfig,
    BackwardTensors,
    ScanConfig,
    ScanGradients,
    ScanTensors,
)
from rnnx.fused.function import KernelSpec, fused_kind, kernel_spec
from rnnx.fused.op import GRU, INDRNN_RELU, INDRNN_TANH, LSTM, RNN_RELU, RNN_TANH, fused_scan_op

needs_kernels = pytest.mark.skipif(rnnx.fused.unavailable_reason() is not None, reason="no C++ compiler")

# Each annotation of the declaration as the C++ side spells its type (arguments.h, SchemaType).
SPELLING: dict[Any, str] = {
    Tensor: "Tensor",
    Tensor | None: "Tensor?",
    list[Tensor]: "Tensor[]",
    int: "int",
    list[int]: "int[]",
    bool: "bool",
    float: "float",
}
# The same, as torch prints a schema's argument types.
TORCH_SPELLING = {"Optional[Tensor]": "Tensor?", "List[Tensor]": "Tensor[]", "List[int]": "int[]"}

# The schemas as they were before the declaration, spelled out by hand (issue 12): they must not change.
FORWARD_SCHEMA = (
    "rnnx::fused_scan(Tensor gi, Tensor h0, Tensor? c0, Tensor w_hh, Tensor? b_hh, Tensor? ln_hh_w, "
    "Tensor? ln_hh_b, Tensor? ln_c_w, Tensor? ln_c_b, Tensor? peep, Tensor? mask, Tensor? w_hr, SymInt kind, "
    "bool reverse, bool layer_norm, bool peephole, bool save, SymInt[] sizes, SymInt[] draws, float p_h, "
    "float p_c) -> Tensor[]"
)
BACKWARD_SCHEMA = (
    "rnnx::fused_scan_backward(Tensor d_out, Tensor d_hn, Tensor? d_cn, Tensor[] saved, Tensor w_hh, "
    "Tensor? ln_hh_w, Tensor? ln_c_w, Tensor? peep, Tensor? mask, Tensor? w_hr, SymInt kind, bool reverse, "
    "bool layer_norm, bool peephole, SymInt[] sizes, SymInt[] draws, float p_h, float p_c) -> Tensor[]"
)


def declared(declarations: tuple[Any, ...]) -> list[tuple[str, str]]:
    return [(name, SPELLING[hint]) for name, hint in arguments.fields(declarations)]


def names(declarations: tuple[Any, ...]) -> list[str]:
    return [name for d in declarations for name in d._fields]


def ext() -> Any:
    return rnnx.fused.load_extension()


def test_schemas_are_unchanged() -> None:
    assert str(torch.ops.rnnx.fused_scan.default._schema) == FORWARD_SCHEMA
    assert str(torch.ops.rnnx.fused_scan_backward.default._schema) == BACKWARD_SCHEMA


@pytest.mark.parametrize(
    ("op", "declarations"),
    [("fused_scan", FORWARD_ARGUMENTS), ("fused_scan_backward", BACKWARD_ARGUMENTS)],
)
def test_schemas_are_the_declaration(op: str, declarations: tuple[Any, ...]) -> None:
    schema = getattr(torch.ops.rnnx, op).default._schema
    spelled = [(a.name, TORCH_SPELLING.get(str(a.type), str(a.type))) for a in schema.arguments]
    assert spelled == declared(declarations)
    assert [str(r.type) for r in schema.returns] == ["List[Tensor]"]


@needs_kernels
def test_the_entry_points_take_the_declared_arguments_in_order() -> None:
    assert [tuple(f) for f in ext().forward_fields] == declared(FORWARD_ARGUMENTS)
    assert [tuple(f) for f in ext().backward_fields] == declared(BACKWARD_ARGUMENTS)


@needs_kernels
def test_the_entry_points_return_the_declared_results_in_order() -> None:
    assert list(ext().forward_results) == names(FORWARD_RESULTS)
    assert list(ext().backward_results) == names(BACKWARD_RESULTS)


def test_the_backward_reads_the_forwards_arguments_by_name() -> None:
    """Its arguments beyond the gradients and the saved buffers are the forward's, of their types."""
    forward = dict(arguments.fields(FORWARD_ARGUMENTS))
    own = {"d_out", "d_hn", "d_cn", "saved"}
    for name, hint in arguments.fields(BACKWARD_ARGUMENTS):
        assert name in own or forward.get(name) == hint, name
    assert set(BackwardConfig._fields) == set(ScanConfig._fields) - {"save"}
    assert own <= set(BackwardTensors._fields)


def test_each_gradient_is_of_a_forward_tensor() -> None:
    assert [g for g in GRADIENT_OF if g is not None] == list(ScanGradients._fields)
    assert dict(zip(ScanTensors._fields, GRADIENT_OF, strict=True))["mask"] is None


def _forward_call() -> dict[str, Any]:
    """A valid forward call of a small RNN, by name."""
    sizes, h = [2, 2, 1], 3
    return {
        **dict.fromkeys(ScanTensors._fields),
        "gi": torch.randn(sum(sizes), h),
        "h0": torch.zeros(sizes[0], h),
        "w_hh": torch.randn(h, h),
        **ScanConfig(RNN_TANH, False, False, False, False, sizes, [0, -1, 0, -1], 0.0, 0.0)._asdict(),
    }


@needs_kernels
def test_the_entry_points_take_arguments_by_position_or_keyword_alike() -> None:
    call = _forward_call()
    by_position = ext().forward(*call.values())
    by_keyword = ext().forward(**call)
    half = len(call) // 2
    mixed = ext().forward(*list(call.values())[:half], **dict(list(call.items())[half:]))
    for a, b, c in zip(by_position, by_keyword, mixed, strict=True):
        assert torch.equal(a, b)
        assert torch.equal(a, c)


@needs_kernels
@pytest.mark.parametrize("entry", ["forward", "backward"])
def test_the_bindings_parameters_are_named_as_declared(entry: str) -> None:
    """The names Python sees (pybind11's signature of the binding) are the declaration's."""
    first_line = getattr(ext(), entry).__doc__.splitlines()[0]
    parameters = re.findall(r"(\w+): ", first_line[first_line.index("(") :])
    assert parameters == names(FORWARD_ARGUMENTS if entry == "forward" else BACKWARD_ARGUMENTS)


@needs_kernels
@pytest.mark.parametrize(
    "change",
    [
        lambda c: [*c.values(), 0],  # one too many
        lambda c: list(c.values())[:-1],  # p_c missing
        lambda c: {**c, "gi": 1.0},
        lambda c: {**c, "c0": "no"},
        lambda c: {**c, "kind": 0.5},
        lambda c: {**c, "sizes": 3},
        lambda c: {**c, "extra": 1},
        lambda c: ([c["gi"]], dict(c)),  # gi by position and by keyword
    ],
    ids=["too_many", "missing", "gi_float", "c0_str", "kind_float", "sizes_int", "unknown_keyword", "twice"],
)
def test_the_entry_points_refuse_an_ill_formed_call(change: Any) -> None:
    args = change(_forward_call())
    if isinstance(args, tuple):
        positional, keywords = args
    else:
        positional, keywords = (args, {}) if isinstance(args, list) else ([], args)
    with pytest.raises(TypeError, match=r"forward\(\): incompatible function arguments"):
        ext().forward(*positional, **keywords)


@needs_kernels
def test_the_operator_runs_on_the_declaration() -> None:
    """``rnnx::fused_scan`` called by the declaration's names equals the flat call."""
    call = _forward_call()
    for a, b in zip(fused_scan_op(**call), fused_scan_op(*call.values()), strict=True):
        assert torch.equal(a, b)


class _MyLSTM(LSTMStep):
    pass


def test_kernel_specs_come_from_the_exact_cell_class() -> None:
    assert kernel_spec(LSTMStep(layer_norm=True, peephole=True)) == KernelSpec(LSTM, True, True)
    assert kernel_spec(GRUStep(layer_norm=True)) == KernelSpec(GRU, True, False)
    assert kernel_spec(ElmanStep("tanh")) == KernelSpec(RNN_TANH)
    assert kernel_spec(ElmanStep("relu", layer_norm=True)) == KernelSpec(RNN_RELU, True)
    assert kernel_spec(IndRNNStep("relu")) == KernelSpec(INDRNN_RELU)
    assert kernel_spec(IndRNNStep("tanh")) == KernelSpec(INDRNN_TANH)
    assert kernel_spec(_MyLSTM()) is None  # a subclass may change the step
    assert fused_kind(_MyLSTM()) is None
    assert fused_kind(GRUStep()) == GRU
