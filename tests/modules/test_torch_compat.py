"""Code written for torch.nn keeps working on rnnx at the edges: every mistake raises an
exception of the type torch.nn raises for it, with torch.nn's words in the message, and every
argument torch.nn accepts is accepted. torch.nn itself is the oracle: each case runs on both.

These are the cases that PyTorch's own tests (test_nn.py, test_modules.py's error inputs)
check; tools/torch_nn_suite.py runs those tests themselves against rnnx.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import rnnx
from rnnx.errors import InputError

LAYERS = ["RNN", "GRU", "LSTM"]
CELLS = ["RNNCell", "GRUCell", "LSTMCell"]


def zeros(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype)


def state(name: str, *shape: int, dtype: torch.dtype = torch.float32) -> Any:
    """``hx`` of ``shape`` for the class ``name``: a pair for LSTM and LSTMCell."""
    return (zeros(*shape, dtype=dtype), zeros(*shape, dtype=dtype)) if name.startswith("LSTM") else zeros(*shape)


@dataclass
class Case:
    """One mistake: build ``name``'s class with ``args``/``kwargs``, then (if ``call``) call it
    with ``call(name)``'s arguments; torch.nn must raise ``error`` matching ``words``."""

    id: str
    names: list[str]
    args: tuple[Any, ...]
    error: type[Exception]
    words: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    call: Callable[[str], tuple[Any, ...]] | None = None


CASES = [
    # -- layer construction (torch.nn's RNNBase.__init__) ---------------------------------------
    Case("hidden-size-zero", LAYERS, (10, 0, 1), ValueError, "hidden_size must be greater than zero"),
    Case("num-layers-zero", LAYERS, (10, 10, 0), ValueError, "num_layers must be greater than zero"),
    Case("input-size-zero", LAYERS, (0, 5), ValueError, "input_size must be greater than zero"),
    Case("input-size-negative", LAYERS, (-1, 5), ValueError, "input_size must be greater than zero"),
    Case("input-size-float", LAYERS, (3.0, 5), TypeError, "input_size should be of type int, got: float"),
    Case("input-size-str", LAYERS, ("10", 5), TypeError, "input_size should be of type int, got: str"),
    Case("hidden-size-float", LAYERS, (3, 5.0), TypeError, "hidden_size should be of type int, got: float"),
    Case("bias-int", LAYERS, (3, 5), TypeError, "bias should be of type bool, got: int", {"bias": 0}),
    Case("bias-str", LAYERS, (3, 5), TypeError, "bias should be of type bool, got: str", {"bias": "True"}),
    Case(
        "batch-first-int", LAYERS, (3, 5), TypeError, "batch_first should be of type bool, got: int", {"batch_first": 1}
    ),
    Case(
        "proj-size-not-lstm",
        ["RNN", "GRU"],
        (30, 20, 2),
        ValueError,
        "proj_size argument is only supported for LSTM, not RNN or GRU",
        {"proj_size": 10},
    ),
    Case(
        "proj-size-too-big",
        ["LSTM"],
        (3, 5),
        ValueError,
        "proj_size has to be smaller than hidden_size",
        {"proj_size": 5},
    ),
    Case("nonlinearity", ["RNN"], (1, 10), ValueError, "Unknown nonlinearity", {"nonlinearity": "garbage"}),
    # -- layer forward (RNNBase.check_input, check_hidden_size, forward) ------------------------
    Case(
        "input-features",
        LAYERS,
        (10, 20),
        RuntimeError,
        re.escape("input.size(-1) must be equal to input_size. Expected 10, got 3"),
        {"batch_first": True},
        lambda n: (zeros(2, 3, 3),),
    ),
    Case(
        "packed-input-features",
        ["RNN", "GRU"],
        (10, 20),
        RuntimeError,
        re.escape("input.size(-1) must be equal to input_size. Expected 10, got 3"),
        call=lambda n: (nn.utils.rnn.pack_sequence([zeros(3, 3), zeros(2, 3)]),),
    ),
    Case(
        "packed-input-features",
        ["LSTM"],
        (10, 20),
        RuntimeError,
        "",  # torch.nn's LSTM does not check packed data: the error comes from a matmul
        call=lambda n: (nn.utils.rnn.pack_sequence([zeros(3, 3), zeros(2, 3)]),),
    ),
    Case(
        "hidden-size",
        LAYERS,
        (10, 20),
        RuntimeError,
        r"Expected hidden(\[0\])? size \(1, 2, 20\), got \[1, 2, 19\]",
        {"batch_first": True},
        lambda n: (zeros(2, 3, 10), state(n, 1, 2, 19)),
    ),
    Case(
        "hidden-layers",
        LAYERS,
        (3, 5, 2),
        RuntimeError,
        r"Expected hidden(\[0\])? size \(2, 4, 5\), got \[7, 4, 5\]",
        call=lambda n: (zeros(6, 4, 3), state(n, 7, 4, 5)),
    ),
    Case(
        "cell-state-size",
        ["LSTM"],
        (3, 5),
        RuntimeError,
        re.escape("Expected hidden[1] size (1, 4, 5), got [1, 4, 7]"),
        call=lambda n: (zeros(6, 4, 3), (zeros(1, 4, 5), zeros(1, 4, 7))),
    ),
    Case(
        "batched-input-2d-hidden",
        LAYERS,
        (3, 5),
        RuntimeError,
        r"For batched 3-D input, hx (and cx )?should also be 3-D",
        call=lambda n: (zeros(6, 4, 3), state(n, 4, 5)),
    ),
    Case(
        "unbatched-input-3d-hidden",
        LAYERS,
        (3, 5),
        RuntimeError,
        r"For unbatched 2-D input, hx (and cx )?should also be 2-D",
        call=lambda n: (zeros(6, 3), state(n, 1, 1, 5)),
    ),
    Case(
        "input-4d",
        LAYERS,
        (3, 5),
        ValueError,
        "Expected input to be 2D or 3D, got 4D",
        call=lambda n: (zeros(6, 4, 2, 3),),
    ),
    Case(
        "no-time-steps",
        LAYERS,
        (3, 5),
        RuntimeError,
        "Expected sequence length to be larger than 0 in RNN",
        call=lambda n: (zeros(0, 4, 3),),
    ),
    Case(
        "input-dtype",
        LAYERS,
        (3, 5),
        ValueError,
        r"RNN input dtype .* does not match weight dtype .* Convert input: input\.to\(.*\), "
        r"or convert model: model\.to\(.*\)",
        call=lambda n: (zeros(6, 4, 3, dtype=torch.float64),),
    ),
    Case(
        "hidden-dtype",
        ["LSTM"],  # torch.nn's RNN and GRU run a float64 hx with float32 input; rnnx refuses that too
        (3, 5),
        RuntimeError,
        "",  # torch.nn's words come from deep inside its kernel; the type is what code catches
        call=lambda n: (zeros(6, 4, 3), state(n, 1, 4, 5, dtype=torch.float64)),
    ),
    # -- cell forward (RNNCell.forward and ATen's check_rnn_cell_forward_*) ---------------------
    Case(
        "cell-input-features",
        CELLS,
        (10, 20),
        RuntimeError,
        "input has inconsistent input_size: got 11 expected 10",
        call=lambda n: (zeros(3, 11), state(n, 3, 20)),
    ),
    Case(
        "cell-hidden-size",
        CELLS,
        (10, 20),
        RuntimeError,
        "hidden0 has inconsistent hidden_size: got 21, expected 20",
        call=lambda n: (zeros(3, 10), state(n, 3, 21)),
    ),
    Case(
        "cell-batch",
        CELLS,
        (10, 20),
        RuntimeError,
        "Input batch size 3 doesn't match hidden0 batch size 5",
        call=lambda n: (zeros(3, 10), state(n, 5, 20)),
    ),
    Case(
        "cell-cell-state-size",
        ["LSTMCell"],
        (10, 20),
        RuntimeError,
        "hidden1 has inconsistent hidden_size: got 21, expected 20",
        call=lambda n: (zeros(3, 10), (zeros(3, 20), zeros(3, 21))),
    ),
    Case(
        "cell-hidden-4d",
        ["RNNCell", "GRUCell"],
        (10, 20),
        ValueError,
        "Expected hidden to be 1D or 2D, got 4D instead",
        call=lambda n: (zeros(3, 10), zeros(3, 1, 1, 20)),
    ),
    Case(
        "cell-hx-4d",
        ["LSTMCell"],
        (10, 20),
        ValueError,
        re.escape("Expected hx[0] to be 1D or 2D, got 4D instead"),
        call=lambda n: (zeros(3, 10), (zeros(3, 1, 1, 20), zeros(3, 1, 1, 20))),
    ),
    Case(
        "cell-input-3d",
        CELLS,
        (10, 20),
        ValueError,
        "Expected input to be 1D or 2D, got 3D instead",
        call=lambda n: (zeros(2, 3, 10),),
    ),
    Case(
        "cell-hidden-broadcast",
        CELLS,
        (10, 20),
        RuntimeError,
        "",
        call=lambda n: (zeros(3, 10), state(n, 1, 20)),
    ),
]

CASES += [
    # -- the wrong kind of object, where torch.nn fails with another exception type -------------
    Case(
        "tuple-state",
        ["RNN", "GRU"],
        (3, 2),
        AttributeError,  # torch.nn: hx.dim() on a tuple
        "",
        call=lambda n: (zeros(4, 2, 3), (zeros(1, 2, 2), zeros(1, 2, 2))),
    ),
    Case(
        "tuple-state-checked-first",  # torch.nn looks at hx before the input's features
        ["RNN", "GRU"],
        (3, 2),
        AttributeError,
        "",
        call=lambda n: (zeros(4, 2, 5), (zeros(1, 2, 2), zeros(1, 2, 2))),
    ),
    Case(
        "tuple-state",
        ["RNNCell", "GRUCell"],
        (3, 2),
        AttributeError,
        "",
        call=lambda n: (zeros(2, 3, dtype=torch.int64), (zeros(2, 2), zeros(2, 2))),
    ),
    Case("short-state", ["LSTM"], (3, 2), IndexError, "", call=lambda n: (zeros(4, 2, 3), (zeros(1, 2, 2),))),
    Case("tensor-state", ["LSTM"], (3, 2), IndexError, "", call=lambda n: (zeros(4, 2, 3), zeros(1, 2, 2))),
    Case("short-state", ["LSTMCell"], (3, 2), RuntimeError, "", call=lambda n: (zeros(2, 3), (zeros(2, 2),))),
    Case(
        "one-dim-state-for-a-batch",  # torch.nn indexes the state's missing dimension
        CELLS,
        (3, 2),
        IndexError,
        "",
        call=lambda n: (zeros(0, 3), state(n, 0)),
    ),
    Case("integer-input", CELLS, (3, 2), RuntimeError, "", call=lambda n: (zeros(2, 3, dtype=torch.int64),)),
    Case(
        "integer-state",
        ["RNN", "GRU"],
        (3, 2),
        RuntimeError,
        "",
        call=lambda n: (zeros(4, 2, 3), zeros(1, 2, 2, dtype=torch.int64)),
    ),
]

PARAMS = [pytest.param(case, name, id=f"{case.id}-{name}") for case in CASES for name in case.names]


def run(namespace: Any, case: Case, name: str) -> None:
    module = getattr(namespace, name)(*case.args, **case.kwargs)
    if case.call is not None:
        module(*case.call(name))


def raised(namespace: Any, case: Case, name: str) -> Exception:
    with pytest.raises(Exception) as info:  # noqa: PT011 - the type is what the test compares
        run(namespace, case, name)
    return info.value


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")
@pytest.mark.parametrize(("case", "name"), PARAMS)
def test_error_type_and_words_as_torch_nn(case: Case, name: str) -> None:
    oracle = raised(nn, case, name)
    assert isinstance(oracle, case.error), f"torch.nn raised {type(oracle).__name__}: {oracle}"
    assert re.search(case.words, str(oracle)), f"torch.nn's words changed: {oracle}"
    ours = raised(rnnx, case, name)
    assert isinstance(ours, case.error), f"rnnx raised {type(ours).__name__}: {ours}"
    assert isinstance(ours, ValueError | TypeError), "rnnx's contract: every bad input is a ValueError or TypeError"
    assert re.search(case.words, str(ours)), f"rnnx's message lacks torch.nn's words: {ours}"
    assert str(ours).startswith(f"{name}: "), "rnnx's message names the module"


@pytest.mark.parametrize("name", CELLS)
def test_cell_shapes_are_checked_before_dtypes(name: str) -> None:
    """torch.nn's test_errors gives a float32 cell float64 tensors of the wrong shape and
    expects the shape's words: sizes are checked before dtypes, as torch.nn's kernel does."""
    cell = getattr(rnnx, name)(10, 20)
    with pytest.raises(RuntimeError, match="hidden0 has inconsistent hidden_size: got 21, expected 20"):
        cell(zeros(3, 10, dtype=torch.float64), state(name, 3, 21, dtype=torch.float64))


@pytest.mark.parametrize("name", CELLS)
def test_cell_runs_without_training_attribute(name: str) -> None:
    """torch.nn's test_if_train_and_eval_modes_differ deletes ``training`` from a module whose
    forward does not depend on it; a cell without regularisers must then still run."""
    cell = getattr(rnnx, name)(3, 2)
    del cell.training
    cell(torch.randn(4, 3))


@pytest.mark.parametrize("name", LAYERS)
def test_shape_errors_are_value_and_runtime_errors(name: str) -> None:
    """A wrong shape is caught by ``except ValueError`` (rnnx) and ``except RuntimeError``
    (torch.nn) alike: it is an :class:`rnnx.errors.InputError`."""
    layer = getattr(rnnx, name)(4, 5)
    with pytest.raises(InputError) as info:
        layer(zeros(6, 3, 4), state(name, 1, 2, 5))
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, RuntimeError)


# -- what torch.nn accepts, rnnx accepts --------------------------------------------------------


def copied(name: str, *args: Any, **kwargs: Any) -> tuple[nn.Module, nn.Module]:
    """torch.nn's module and rnnx's with the same arguments and torch.nn's weights."""
    torch.manual_seed(0)
    oracle = getattr(nn, name)(*args, **kwargs)
    ours = getattr(rnnx, name)(*args, **kwargs)
    ours.load_state_dict(oracle.state_dict())
    return oracle, ours


def outputs_equal(a: Any, b: Any) -> None:
    flat_a, flat_b = torch.utils._pytree.tree_leaves(a), torch.utils._pytree.tree_leaves(b)
    assert len(flat_a) == len(flat_b)
    for x, y in zip(flat_a, flat_b, strict=True):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize(
    "bias", [0, 1, np.True_, np.False_, "relu", None], ids=["0", "1", "np.True_", "np.False_", "relu", "None"]
)
def test_cell_bias_by_truth_value(name: str, bias: Any) -> None:
    """As torch.nn's cells (whose own error-input tests build ``RNNCell(10, 20, "relu")``: a
    bias, the third positional argument)."""
    oracle, ours = copied(name, 4, 5, bias=bias)
    assert ours.bias is bool(bias)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in oracle.named_parameters()]
    x = torch.randn(3, 4)
    outputs_equal(ours(x), oracle(x))


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize(("input_size", "hidden_size"), [(10, 0), (0, 5)])
def test_cell_zero_sizes(name: str, input_size: int, hidden_size: int) -> None:
    oracle, ours = copied(name, input_size, hidden_size)
    x, hx = torch.randn(3, input_size), state(name, 3, hidden_size)
    got, want = ours(x, hx), oracle(x, hx)
    outputs_equal(got, want)
    assert torch.utils._pytree.tree_leaves(got)[0].shape == (3, hidden_size)


@pytest.mark.parametrize("name", ["RNNCell", "GRUCell"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_cell_forward_zero_hidden_size(name: str, nonlinearity: str) -> None:
    """torch.nn's test_RNN_cell_forward_zero_hidden_size."""
    kwargs = {"nonlinearity": nonlinearity} if name == "RNNCell" else {}
    cell = getattr(rnnx, name)(10, 0, **kwargs)
    assert cell(torch.randn(3, 10), torch.randn(3, 0)).shape == (3, 0)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("bidirectional", [1, np.True_], ids=["1", "np.True_"])
def test_layer_bidirectional_must_be_a_bool(name: str, bidirectional: Any) -> None:
    """torch.nn builds a layer with ``bidirectional=1`` but its kernels refuse it at the first
    call (TypeError); rnnx refuses it when the layer is built."""
    with pytest.raises(TypeError):
        getattr(nn, name)(3, 4, bidirectional=bidirectional)(torch.randn(5, 2, 3))
    with pytest.raises(TypeError, match=rf"{name}: bidirectional should be of type bool, got: "):
        getattr(rnnx, name)(3, 4, bidirectional=bidirectional)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_empty_batch(name: str) -> None:
    """torch.nn's test_RNN_input_size_zero: a batch of no sequences runs, backward too."""
    out, _ = getattr(rnnx, name)(input_size=3, hidden_size=4)(torch.zeros(5, 0, 3))
    assert out.shape == (5, 0, 4)
    out.sum().backward()
