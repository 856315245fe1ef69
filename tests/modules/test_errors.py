"""Bad input gets a clear ValueError/TypeError naming the argument, what was expected and
what came; never a silent broadcast or a crash deep inside. Where torch.nn raises for the
same mistake, the message begins with its words (tests/modules/test_torch_compat.py checks
the types and words against torch.nn itself)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnx

LAYERS = [rnnx.RNN, rnnx.LSTM, rnnx.GRU]
CELLS = [rnnx.RNNCell, rnnx.LSTMCell, rnnx.GRUCell]


def state_for(cls: type, *shape: int, dtype: torch.dtype = torch.float32) -> Any:
    if cls in (rnnx.LSTM, rnnx.LSTMCell):
        return torch.zeros(shape, dtype=dtype), torch.zeros(shape, dtype=dtype)
    return torch.zeros(shape, dtype=dtype)


# -- constructor --------------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYERS + CELLS)
@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"hidden_size": 2.5}, TypeError, r"hidden_size should be of type int, got: float \(2.5\)"),
        ({"input_size": "4"}, TypeError, r"input_size should be of type int, got: str \('4'\)"),
        (
            {"backend": "cuda"},
            ValueError,
            r"backend must be one of \('auto', 'reference', 'native', 'fused'\); got 'cuda'",
        ),
    ],
)
def test_bad_constructor_arguments(cls: type, kwargs: dict[str, Any], error: type, pattern: str) -> None:
    args = {"input_size": 4, "hidden_size": 5} | kwargs
    with pytest.raises(error, match=rf"{cls.__name__}: {pattern}"):
        cls(**args)


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"hidden_size": 0}, ValueError, r"hidden_size must be greater than zero; got 0"),
        ({"hidden_size": -3}, ValueError, r"hidden_size must be greater than zero; got -3"),
        ({"input_size": 0}, ValueError, r"input_size must be greater than zero; got 0"),
        ({"bias": 1}, TypeError, r"bias should be of type bool, got: int \(1\)"),
    ],
)
def test_bad_layer_sizes_and_bias(cls: type, kwargs: dict[str, Any], error: type, pattern: str) -> None:
    args = {"input_size": 4, "hidden_size": 5} | kwargs
    with pytest.raises(error, match=rf"{cls.__name__}: {pattern}"):
        cls(**args)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"hidden_size": -3}, ValueError, r"hidden_size must be >= 0; got -3"),
        ({"input_size": -1}, ValueError, r"input_size must be >= 0; got -1"),
        ({"bias": torch.ones(2)}, TypeError, r"bias must have a truth value; got Tensor: Boolean value of Tensor"),
    ],
)
def test_bad_cell_sizes_and_bias(cls: type, kwargs: dict[str, Any], error: type, pattern: str) -> None:
    args = {"input_size": 4, "hidden_size": 5} | kwargs
    with pytest.raises(error, match=rf"{cls.__name__}: {pattern}"):
        cls(**args)


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"dropout": 1.5}, ValueError, r"dropout must be in \[0, 1\]; got 1.5"),
        ({"dropout": -0.1}, ValueError, r"dropout must be in \[0, 1\]; got -0.1"),
        ({"dropout": "0.5"}, TypeError, r"dropout must be a number in \[0, 1\]; got str '0.5'"),
        ({"dropout": True}, TypeError, r"dropout must be a number in \[0, 1\]; got bool True"),
        ({"num_layers": 0}, ValueError, r"num_layers must be greater than zero; got 0"),
        ({"batch_first": "yes"}, TypeError, r"batch_first should be of type bool, got: str \('yes'\)"),
        ({"bidirectional": None}, TypeError, r"bidirectional should be of type bool, got: NoneType \(None\)"),
    ],
)
def test_bad_layer_arguments(cls: type, kwargs: dict[str, Any], error: type, pattern: str) -> None:
    with pytest.raises(error, match=rf"{cls.__name__}: {pattern}"):
        cls(4, 5, **kwargs)


def test_dropout_with_one_layer_warns_like_torch() -> None:
    with pytest.warns(UserWarning, match=r"LSTM: dropout is applied between stacked layers"):
        rnnx.LSTM(4, 5, dropout=0.5)


@pytest.mark.parametrize("proj_size", [5, 9])
def test_proj_size_not_smaller_than_hidden(proj_size: int) -> None:
    with pytest.raises(
        ValueError, match=rf"LSTM: proj_size has to be smaller than hidden_size=5; got proj_size={proj_size}"
    ):
        rnnx.LSTM(4, 5, proj_size=proj_size)


def test_negative_proj_size() -> None:
    with pytest.raises(ValueError, match=r"LSTM: proj_size must be >= 0; got -1"):
        rnnx.LSTM(4, 5, proj_size=-1)


@pytest.mark.parametrize("cls", [rnnx.RNN, rnnx.GRU])
def test_proj_size_only_for_lstm(cls: type) -> None:
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: proj_size argument is only supported for LSTM, not RNN or GRU \(\w+Step has no projection\); got proj_size=2",
    ):
        cls(4, 5, proj_size=2)


@pytest.mark.parametrize("cls", [rnnx.RNN, rnnx.RNNCell])
def test_unknown_nonlinearity(cls: type) -> None:
    with pytest.raises(
        ValueError, match=rf"{cls.__name__}: Unknown nonlinearity 'sigmoid'. Select from 'tanh' or 'relu'$"
    ):
        cls(4, 5, nonlinearity="sigmoid")


# -- layer input ------------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYERS)
def test_input_wrong_rank(cls: type) -> None:
    layer = cls(4, 5)
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: Expected input to be 2D or 3D, got 4D tensor instead: input must be 3-D \(T, B, I\) or 2-D unbatched \(T, I\); got shape \(2, 3, 4, 4\)",
    ):
        layer(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"got 1D tensor instead"):
        layer(torch.zeros(4))


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("shape", [(6, 3, 7), (6, 7)])
def test_input_wrong_feature_size(cls: type, shape: tuple[int, ...]) -> None:
    with pytest.raises(
        rnnx.errors.InputError,
        match=rf"{cls.__name__}: input.size\(-1\) must be equal to input_size. Expected 4, got 7: input must have input_size=4 features in its last dimension; got shape \({shape[0]}, ",
    ):
        cls(4, 5)(torch.zeros(shape))


@pytest.mark.parametrize("cls", LAYERS)
def test_input_not_a_float_tensor(cls: type) -> None:
    with pytest.raises(
        TypeError, match=rf"{cls.__name__}: input must be a floating-point tensor; got dtype torch.int64"
    ):
        cls(4, 5)(torch.zeros(6, 3, 4, dtype=torch.long))
    with pytest.raises(TypeError, match=rf"{cls.__name__}: input must be a torch.Tensor; got list"):
        cls(4, 5)([[0.0] * 4])


@pytest.mark.parametrize("cls", LAYERS)
def test_input_dtype_differs_from_parameters(cls: type) -> None:
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: RNN input dtype .*; input has dtype torch.float64 but the dtype of the parameter weight_ih_l0 is torch.float32",
    ):
        cls(4, 5)(torch.zeros(6, 3, 4, dtype=torch.float64))


@pytest.mark.parametrize("cls", LAYERS)
def test_input_on_other_device(cls: type) -> None:
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: input is on device meta but the parameter weight_ih_l0 is on device cpu",
    ):
        cls(4, 5)(torch.zeros(6, 3, 4, device="meta"))


@pytest.mark.parametrize("cls", LAYERS)
def test_input_without_time_steps(cls: type) -> None:
    words = "Expected sequence length to be larger than 0 in RNN"
    with pytest.raises(
        rnnx.errors.InputError, match=rf"{cls.__name__}: {words}: input has no time steps \(shape \(0, 3, 4\)\)"
    ):
        cls(4, 5)(torch.zeros(0, 3, 4))
    with pytest.raises(rnnx.errors.InputError, match=r"input has no time steps \(shape \(3, 0, 4\)\)"):
        cls(4, 5, batch_first=True)(torch.zeros(3, 0, 4))


# -- layer state ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["reference", "native"])
@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize(
    "shape",
    [(1, 3, 5), (4, 3, 5), (2, 1, 5), (2, 3, 6)],
    ids=["too-few-layers", "too-many-layers", "broadcastable-batch", "wrong-width"],
)
def test_state_wrong_shape(cls: type, shape: tuple[int, ...], backend: str) -> None:
    layer = cls(4, 5, 2, backend=backend)
    which = "hidden[0]" if cls is rnnx.LSTM else "hidden"
    message = (
        f"{cls.__name__}: Expected {which} size (2, 3, 5), got {list(shape)}: "
        "hx (h0) must have shape (num_layers * num_directions, batch, size) = (2, 3, 5)"
    )
    with pytest.raises(rnnx.errors.InputError, match=re.escape(message)):
        layer(torch.zeros(6, 3, 4), state_for(cls, *shape))


def test_lstm_cell_state_wrong_shape_is_named() -> None:
    layer = rnnx.LSTM(4, 5, proj_size=3)
    h0, c0 = torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)
    with pytest.raises(
        ValueError, match=r"LSTM: Expected hidden\[1\] size \(1, 2, 5\), got \[1, 2, 3\]: hx \(c0\) must have shape"
    ):
        layer(torch.zeros(6, 2, 4), (h0, c0))


@pytest.mark.parametrize("cls", LAYERS)
def test_batched_state_with_unbatched_input(cls: type) -> None:
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: For unbatched 2-D input, hx should also be 2-D but got 3-D tensor: hx \(h0\) must be .* = \(1, 5\); got shape \(1, 1, 5\)",
    ):
        cls(4, 5)(torch.zeros(6, 4), state_for(cls, 1, 1, 5))


@pytest.mark.parametrize("cls", LAYERS)
def test_unbatched_state_with_batched_input(cls: type) -> None:
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: For batched 3-D input, hx should also be 3-D but got 2-D tensor: hx \(h0\) must be .* = \(1, 3, 5\); got shape \(1, 5\)",
    ):
        cls(4, 5)(torch.zeros(6, 3, 4), state_for(cls, 1, 5))


@pytest.mark.parametrize("cls", LAYERS)
def test_state_dtype_differs(cls: type) -> None:
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: hx \(h0\) has dtype torch.float64 but the dtype of input is torch.float32",
    ):
        cls(4, 5)(torch.zeros(6, 3, 4), state_for(cls, 1, 3, 5, dtype=torch.float64))


@pytest.mark.parametrize("cls", LAYERS)
def test_state_on_other_device(cls: type) -> None:
    state = state_for(cls, 1, 3, 5)
    state = tuple(s.to("meta") for s in state) if isinstance(state, tuple) else state.to("meta")
    with pytest.raises(ValueError, match=rf"{cls.__name__}: hx \(h0\) is on device meta but input is on device cpu"):
        cls(4, 5)(torch.zeros(6, 3, 4), state)


def test_lstm_state_must_be_a_pair() -> None:
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h0, c0\) of 2 tensors; got Tensor"):
        rnnx.LSTM(4, 5)(torch.zeros(6, 3, 4), torch.zeros(1, 3, 5))
    with pytest.raises(TypeError, match=r"got tuple of length 3"):
        rnnx.LSTM(4, 5)(torch.zeros(6, 3, 4), (torch.zeros(1, 3, 5),) * 3)


@pytest.mark.parametrize("cls", [rnnx.RNN, rnnx.GRU])
def test_state_must_be_a_tensor(cls: type) -> None:
    with pytest.raises(TypeError, match=rf"{cls.__name__}: hx must be a Tensor h0; got tuple"):
        cls(4, 5)(torch.zeros(6, 3, 4), (torch.zeros(1, 3, 5), torch.zeros(1, 3, 5)))


# -- packed input -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", LAYERS)
def test_packed_lengths_longer_than_padding(cls: type) -> None:
    packed = pack_padded_sequence(torch.zeros(5, 2, 4), torch.tensor([6, 2]), enforce_sorted=False)
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: input.batch_sizes sum to 8 but input.data has 7 rows; were the lengths",
    ):
        cls(4, 5)(packed)


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("sizes", [[2, 3, 2], [2, 0], [-1]])
def test_packed_batch_sizes_not_decreasing(cls: type, sizes: list[int]) -> None:
    packed = PackedSequence(torch.zeros(sum(max(s, 0) for s in sizes), 4), torch.tensor(sizes))
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: input.batch_sizes must be positive and non-increasing; got {sizes}".replace(
            "[", "\\["
        ).replace("]", "\\]"),
    ):
        cls(4, 5)(packed)


def test_packed_wrong_feature_size_and_rank() -> None:
    with pytest.raises(ValueError, match=r"GRU: input.size\(-1\) .*: input.data must have input_size=4 features"):
        rnnx.GRU(4, 5)(PackedSequence(torch.zeros(3, 6), torch.tensor([2, 1])))
    with pytest.raises(
        ValueError, match=r"GRU: input must have 2 dimensions, got 3: a PackedSequence's data must be 2-D"
    ):
        rnnx.GRU(4, 5)(PackedSequence(torch.zeros(3, 1, 4), torch.tensor([2, 1])))


def test_packed_indices_of_wrong_length() -> None:
    packed = PackedSequence(torch.zeros(3, 4), torch.tensor([2, 1]), torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    with pytest.raises(
        ValueError,
        match=r"GRU: input.sorted_indices must have shape \(2,\) to match batch_sizes\[0\]; got \(3,\)",
    ):
        rnnx.GRU(4, 5)(packed)


def test_packed_state_batch_mismatch() -> None:
    packed = pack_padded_sequence(torch.zeros(5, 2, 4), torch.tensor([5, 2]))
    with pytest.raises(
        ValueError,
        match=r"GRU: Expected hidden size \(1, 2, 5\), got \[1, 3, 5\]: hx \(h0\) must have shape .* = \(1, 2, 5\)",
    ):
        rnnx.GRU(4, 5)(packed, torch.zeros(1, 3, 5))


# -- cells ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CELLS)
def test_cell_input_wrong_rank_and_size(cls: type) -> None:
    cell = cls(4, 5)
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: Expected input to be 1D or 2D, got 3D instead: input must be 2-D \(B, I\) or 1-D unbatched \(I,\); got shape \(2, 3, 4\)",
    ):
        cell(torch.zeros(2, 3, 4))
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: input has inconsistent input_size: got 6 expected 4: input must have input_size=4 features in its last dimension; got shape \(3, 6\)",
    ):
        cell(torch.zeros(3, 6))
    with pytest.raises(TypeError, match=rf"{cls.__name__}: input must be a floating-point tensor"):
        cell(torch.zeros(3, 4, dtype=torch.int32))


@pytest.mark.parametrize("cls", CELLS)
def test_cell_state_wrong_shape(cls: type) -> None:
    cell = cls(4, 5)
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: Input batch size 3 doesn't match hidden0 batch size 1: hx \(h\) must have shape \(batch, hidden_size\) = \(3, 5\); got \(1, 5\)",
    ):
        cell(torch.zeros(3, 4), state_for(cls, 1, 5))
    with pytest.raises(
        ValueError, match=r"must have shape \(hidden_size,\) for unbatched input = \(5,\); got \(1, 5\)"
    ):
        cell(torch.zeros(4), state_for(cls, 1, 5))


@pytest.mark.parametrize("cls", CELLS)
def test_cell_state_dtype(cls: type) -> None:
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: hx \(h\) has dtype torch.float64 but the dtype of input is torch.float32",
    ):
        cls(4, 5)(torch.zeros(3, 4), state_for(cls, 3, 5, dtype=torch.float64))


def test_lstm_cell_state_must_be_a_pair() -> None:
    with pytest.raises(TypeError, match=r"LSTMCell: hx must be a tuple \(h, c\) of 2 tensors; got Tensor"):
        rnnx.LSTMCell(4, 5)(torch.zeros(3, 4), torch.zeros(3, 5))


def test_from_torch_bad_backend() -> None:
    with pytest.raises(ValueError, match=r"LSTM: backend must be one of"):
        rnnx.LSTM.from_torch(torch.nn.LSTM(2, 3), backend="fast")
