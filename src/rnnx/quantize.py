"""Dynamic int8 (or float16) quantisation of a model holding rnnx layers, on PyTorch's own
quantized kernels: :func:`quantize_dynamic`."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from rnnx.modules import GRU, LSTM, RNN, GRUCell, LSTMCell, RecurrentCell, RecurrentLayer, RNNCell

DTYPES = (torch.qint8, torch.float16)
"""The weight dtypes of torch's dynamic quantization."""

_RNNX_TO_TORCH: dict[type[nn.Module], type[nn.Module]] = {
    LSTM: nn.LSTM,
    GRU: nn.GRU,
    LSTMCell: nn.LSTMCell,
    GRUCell: nn.GRUCell,
    RNNCell: nn.RNNCell,
}
"""The rnnx modules torch has a dynamic quantized kernel for, and their ``torch.nn`` twins."""

_TORCH_QUANTIZABLE = (nn.Linear, nn.LSTM, nn.GRU, nn.LSTMCell, nn.GRUCell, nn.RNNCell)
"""What ``torch.ao.quantization.quantize_dynamic`` quantizes by default (exact types)."""

_NO_KERNEL = "has no int8 kernel in torch"
_NO_RNN_LAYER = "torch has dynamic int8 LSTM and GRU layers and the three cells, but no RNN layer"


@contextmanager
def _quiet_torch() -> Iterator[None]:
    """torch warns that ``torch.ao.quantization`` and quantized tensors are deprecated (in
    favour of torchao); the modules it builds are those of its documented API all the same."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel")
        yield


def _float_reason(module: nn.Module) -> str | None:
    """Why the parameters of ``module`` cannot go to torch's kernels (CPU, float32 only)."""
    params = list(module.parameters())
    devices = {p.device.type for p in params}
    dtypes = {p.dtype for p in params}
    if devices - {"cpu"}:
        return f"its parameters are on {', '.join(sorted(devices))}: torch's int8 kernels run on the CPU only"
    if dtypes - {torch.float32}:
        names = ", ".join(sorted(str(d).removeprefix("torch.") for d in dtypes))
        return f"its parameters are {names}: dynamic quantization takes float32 modules"
    return None


def _rnnx_reason(module: RecurrentLayer | RecurrentCell) -> str | None:
    """Why ``module`` (an rnnx layer or cell) stays float, or ``None`` when torch quantizes its twin."""
    kind = type(module)
    if kind not in _RNNX_TO_TORCH:
        if any(isinstance(module, base) for base in _RNNX_TO_TORCH):
            base = next(b for b in _RNNX_TO_TORCH if isinstance(module, b))
            return f"{kind.__name__} is a subclass of rnnx.{base.__name__}, whose own code torch's kernel would drop"
        if issubclass(kind, RNN):
            return _NO_RNN_LAYER
        cell = type(module.cell).__name__
        return f"{kind.__name__} ({cell}) {_NO_KERNEL}"
    reasons: list[str] = []
    step = module.cell
    reasons += [f"{name} {_NO_KERNEL}" for name in ("layer_norm", "peephole") if getattr(step, name, False)]
    if any(module.zoneout):
        reasons.append(f"zoneout {_NO_KERNEL}")
    for name in ("recurrent_dropout", "weight_drop"):
        if getattr(module, name):
            reasons.append(f"{name}={getattr(module, name)} {_NO_KERNEL} (it acts only in training: set it to 0)")
    if getattr(module, "proj_size", 0):
        reasons.append(f"proj_size {_NO_KERNEL} (its dynamic LSTM has no weight_hr)")
    if not module.bias:
        reasons.append("bias=False: torch's dynamic quantized modules require biases")
    float_reason = _float_reason(module)
    if float_reason:
        reasons.append(float_reason)
    return "; ".join(reasons) or None


def _torch_reason(module: nn.Module) -> str | None:
    """Why a ``torch.nn`` module torch would quantize stays float here, or ``None``."""
    if getattr(module, "proj_size", 0):
        return f"proj_size {_NO_KERNEL} (its dynamic LSTM has no weight_hr)"
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)) and not module.bias:
        return "bias=False: torch's dynamic quantized modules require biases"
    return _float_reason(module)


def _quantize_one(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``module`` (a ``torch.nn`` Linear, LSTM, GRU or cell) as torch's dynamic quantized
    module: exactly what ``torch.ao.quantization.quantize_dynamic`` puts in its place."""
    holder = nn.Sequential(module)
    with _quiet_torch():
        torch.ao.quantization.quantize_dynamic(holder, {type(module)}, dtype=dtype, inplace=True)
    return holder[0]


def _convert(module: nn.Module, name: str, dtype: torch.dtype, skipped: list[str]) -> nn.Module:
    """``module`` quantized if it can be, else with its children converted in place (their
    reasons added to ``skipped``)."""
    label = name or type(module).__name__
    if isinstance(module, (RecurrentLayer, RecurrentCell)):
        reason = _rnnx_reason(module)
        if reason is None:
            return _quantize_one(module.to_torch(), dtype)
        skipped.append(f"{label} ({type(module).__name__}): {reason}")
        return module
    if type(module) in _TORCH_QUANTIZABLE:
        reason = _torch_reason(module)
        if reason is None:
            return _quantize_one(module, dtype)
        skipped.append(f"{label} ({type(module).__name__}): {reason}")
        return module
    if type(module) is nn.RNN:
        skipped.append(f"{label} (RNN): {_NO_RNN_LAYER}")
        return module
    for child_name, child in list(module.named_children()):
        new = _convert(child, f"{name}.{child_name}" if name else child_name, dtype, skipped)
        if new is not child:
            setattr(module, child_name, new)
    return module


def quantize_dynamic(model: nn.Module, *, dtype: torch.dtype = torch.qint8, inplace: bool = False) -> nn.Module:
    """``model`` with its recurrent layers, cells and linear layers dynamically quantized, for
    CPU inference on PyTorch's int8 kernels.

    Dynamic quantization stores each weight matrix in int8 (per-tensor affine, scale from its
    min and max) and, at every call, quantizes the activations entering a matrix product with a
    scale measured on the fly; products accumulate in int32 and the result returns to float32
    (Jacob et al. 2018, "Quantization and training of neural networks for efficient
    integer-arithmetic-only inference", CVPR; PyTorch's dynamic quantization,
    https://pytorch.org/docs/stable/quantization.html). Gate nonlinearities and the cell state
    stay float32. ``dtype=torch.float16`` stores the weights in float16 instead.

    What is quantized: every :class:`rnnx.LSTM` and :class:`rnnx.GRU` layer and every
    :class:`rnnx.LSTMCell`, :class:`rnnx.GRUCell` and :class:`rnnx.RNNCell` in a configuration
    ``torch.nn`` has, on the CPU in float32, becomes torch's dynamic quantized module
    (``torch.ao.nn.quantized.dynamic.LSTM``, ...), built from its exact ``torch.nn`` twin
    (:meth:`~rnnx.LSTM.to_torch`): it computes what
    ``torch.ao.quantization.quantize_dynamic`` computes on the ``torch.nn`` model. So are the
    modules that function quantizes by default: ``nn.Linear``, ``nn.LSTM``, ``nn.GRU`` and the
    ``torch.nn`` cells (exact types).

    What stays float32, each named with the reason in one ``UserWarning``: the variants
    (``layer_norm``, ``peephole``, ``zoneout``; ``recurrent_dropout`` and ``weight_drop``,
    which act only in training: set them to 0 to quantize), ``proj_size``, ``bias=False``,
    :class:`rnnx.RNN` and ``nn.RNN`` layers (torch has no dynamic int8 RNN layer),
    :class:`rnnx.IndRNN`, layers running a cell of your own, subclasses, and modules off the
    CPU or not in float32. Other modules (embeddings, norms, attention) are left as they are.

    Accuracy: expect a layer's output to move by a few percent of its scale (max abs error over
    max abs output: 2-5% for one LSTM or GRU layer at H = 128-512 on random weights and N(0, 1)
    inputs, measured in ``docs/deploy.md``), and a trained classifier's predictions to change
    rarely (none of 270 test digits after 90 s of training there, one after 20 s). Measure
    yours: the error grows with weights or inputs that have outliers, which widen the int8
    scale. On an AVX2-only CPU int8 is not
    faster than float32 at small batches (the measured table is in ``docs/deploy.md``).

    Args:
        model: any module; an rnnx layer or cell by itself is returned quantized.
        dtype: ``torch.qint8`` (int8 weights) or ``torch.float16`` (float16 weights).
        inplace: convert ``model``'s children in place and return ``model`` (when ``model`` is
            itself a layer torch can quantize, the new module is returned); otherwise work on a
            ``copy.deepcopy`` and leave ``model`` untouched.

    Returns:
        The quantized model, for CPU inference. To deploy it, save the float model's weights
        (safetensors) and quantize again after loading them: the int8 weights are a function
        of the float ones, so the result is the same model, bit for bit. Its own ``state_dict``
        holds packed weights, which load only into another ``quantize_dynamic`` result and need
        ``torch.load(..., weights_only=False)`` (a file you made, only).

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, or ``inplace`` not a bool.
        ValueError: ``dtype`` is neither ``torch.qint8`` nor ``torch.float16``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"rnnx.quantize_dynamic: model must be a torch.nn.Module; got {type(model).__name__}")
    if dtype not in DTYPES:
        raise ValueError(f"rnnx.quantize_dynamic: dtype must be torch.qint8 or torch.float16; got {dtype!r}")
    if not isinstance(inplace, bool):
        raise TypeError(f"rnnx.quantize_dynamic: inplace must be a bool; got {type(inplace).__name__}")
    target = model if inplace else copy.deepcopy(model)
    skipped: list[str] = []
    result = _convert(target, "", dtype, skipped)
    if skipped:
        warnings.warn(
            f"rnnx.quantize_dynamic: {len(skipped)} module(s) stay float32:" + "".join(f"\n  - {s}" for s in skipped),
            UserWarning,
            stacklevel=2,
        )
    return result
