"""Argument checks shared by every module: each error names the argument, what was
expected and what came."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

from rnnx.errors import DtypeError, InputError, NotATensorError


def check_int(owner: str, name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be an int; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be >= {minimum}; got {value}")
    return value


def check_bool(owner: str, name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool``."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool; got {type(value).__name__} {value!r}")
    return value


def check_size(owner: str, name: str, value: object, *, minimum: int) -> int:
    """:func:`check_int` for the sizes ``torch.nn``'s recurrent modules also take, with
    ``torch.nn``'s words first ("input_size should be of type int, got: float", "hidden_size
    must be greater than zero") so that code matching them keeps working."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{owner}: {name} should be of type int, got: {type(value).__name__} ({value!r})")
    if value < minimum:
        bound = "greater than zero" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{owner}: {name} must be {bound}; got {value}")
    return value


def check_switch(owner: str, name: str, value: object) -> bool:
    """:func:`check_bool` in ``torch.nn``'s words ("bias should be of type bool, got: int"),
    for the switches its layers take only as a ``bool`` (``bias``, ``batch_first``)."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} should be of type bool, got: {type(value).__name__} ({value!r})")
    return value


def check_flag(owner: str, name: str, value: object) -> bool:
    """``value``'s truth value, as ``torch.nn``'s cells read their ``bias``.

    ``torch.nn`` takes ``bias=0``, ``np.True_`` and, by position, whatever comes third
    (its own tests pass ``RNNCell(10, 20, "relu")``, a bias); rnnx stores the ``bool``.
    """
    try:
        return bool(value)
    except (TypeError, ValueError, RuntimeError) as error:  # an array of several values has none
        raise TypeError(f"{owner}: {name} must have a truth value; got {type(value).__name__}: {error}") from None


def check_probability(owner: str, name: str, value: object, *, allow_one: bool = True) -> float:
    """Return ``value`` as a float if it is a real number in ``[0, 1]`` (``[0, 1)`` when
    ``allow_one`` is false)."""
    interval = "[0, 1]" if allow_one else "[0, 1)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number in {interval}; got {type(value).__name__} {value!r}")
    if not 0.0 <= float(value) <= 1.0 or (not allow_one and float(value) == 1.0):
        raise ValueError(f"{owner}: {name} must be in {interval}; got {value}")
    return float(value)


def check_zoneout(owner: str, value: object, state_names: Sequence[str]) -> tuple[float, ...]:
    """Zoneout probabilities, one per state tensor: a number applies to all of them, a
    tuple gives one each (``(p_h, p_c)`` for LSTM)."""
    if isinstance(value, tuple | list):
        if len(value) != len(state_names):
            raise ValueError(
                f"{owner}: zoneout must be a number or a tuple of {len(state_names)} "
                f"(one per state: {', '.join(state_names)}); got {tuple(value)!r}"
            )
        pairs = zip(state_names, value, strict=True)
        return tuple(check_probability(owner, f"zoneout ({n})", p, allow_one=False) for n, p in pairs)
    p = check_probability(owner, "zoneout", value, allow_one=False)
    return (p,) * len(state_names)


def check_choice(owner: str, name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {tuple(choices)}; got {value!r}")
    return value


def check_nonlinearity(owner: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise ``torch.nn``'s "Unknown
    nonlinearity" error (a ``ValueError``)."""
    if not isinstance(value, str) or value not in choices:
        options = " or ".join(repr(c) for c in choices)
        raise ValueError(f"{owner}: Unknown nonlinearity {value!r}. Select from {options}")
    return value


def check_tensor(owner: str, name: str, value: object) -> Tensor:
    """Return ``value`` if it is a floating-point tensor.

    Raises:
        NotATensorError: ``value`` is not a tensor (a ``TypeError``; ``torch.nn`` raises
            ``AttributeError`` on its ``.dim()``).
        DtypeError: it is not floating point (a ``TypeError``; ``torch.nn``'s kernels raise
            ``RuntimeError``).
    """
    if not isinstance(value, Tensor):
        raise NotATensorError(f"{owner}: {name} must be a torch.Tensor; got {type(value).__name__}")
    if not value.is_floating_point():
        raise DtypeError(f"{owner}: {name} must be a floating-point tensor; got dtype {value.dtype}")
    return value


def autocast_casts(dtype: torch.dtype) -> bool:
    """Whether an autocast region casts tensors of ``dtype`` (every floating dtype but float64)."""
    return dtype.is_floating_point and dtype != torch.float64


def check_matches(
    owner: str,
    name: str,
    value: Tensor,
    *,
    dtype: torch.dtype,
    device: torch.device,
    what: str,
    torch_words: str = "",
) -> None:
    """Check that ``value`` has ``dtype`` and lives on ``device`` (those of ``what``).

    ``torch_words``, if given, is ``torch.nn``'s message for the same dtype mismatch, put
    first (formatted with ``got`` and ``expected``, the two dtypes).

    Inside an autocast region for ``device``, as ``torch.nn`` there, the dtypes may differ when
    autocast casts both (float32, bfloat16, float16: the products take them in autocast's
    dtype); float64, which autocast leaves alone, must still match.

    Raises:
        InputError: the dtype or the device differs (a ``ValueError`` and a ``RuntimeError``).
    """
    if value.dtype != dtype:
        autocast = torch.is_autocast_enabled(device.type)
        if not (autocast and autocast_casts(value.dtype) and autocast_casts(dtype)):
            hint = (
                " (inside autocast the dtypes may differ only where autocast casts both; it leaves float64 alone)"
                if autocast
                else ""
            )
            words = torch_words.format(got=value.dtype, expected=dtype) + "; " if torch_words else ""
            raise InputError(
                f"{owner}: {words}{name} has dtype {value.dtype} but the dtype of {what} is {dtype}{hint}; "
                f"convert one of them, e.g. {name}.to({dtype})"
            )
    if value.device != device:
        raise InputError(
            f"{owner}: {name} is on device {value.device} but {what} is on device {device}; "
            f"move one of them, e.g. {name}.to({str(device)!r})"
        )


def check_shape(owner: str, name: str, value: Tensor, expected: tuple[int, ...], meaning: str) -> None:
    """Check that ``value`` has exactly shape ``expected``; ``meaning`` names its dimensions."""
    if tuple(value.shape) != expected:
        raise InputError(f"{owner}: {name} must have shape {meaning} = {expected}; got {tuple(value.shape)}")


def check_forget_bias(owner: str, value: object, *, bias: bool) -> float | None:
    """The initial forget-gate bias, or ``None`` for ``torch.nn``'s initialisation."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: forget_bias must be a number or None; got {type(value).__name__} {value!r}")
    if not bias:
        raise ValueError(f"{owner}: forget_bias={value} needs bias=True; got bias=False")
    return float(value)
