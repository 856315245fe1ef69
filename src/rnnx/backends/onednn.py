"""What PyTorch's CPU kernels do under autocast: when ``torch.nn.LSTM`` takes oneDNN, and where
oneDNN raises (so rnnx's ``backend="native"`` refuses the call with the reason and ``"auto"``
runs it elsewhere). :mod:`rnnx.modules.precision` reads the same facts for the dtypes it returns."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnx.cells import CellStep


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The lower-precision dtype of the autocast region enabled for ``device``'s type, or ``None``."""
    if not torch.is_autocast_enabled(device.type):
        return None
    return torch.get_autocast_dtype(device.type)


def onednn_runs_lstm(input: Tensor, *, packed: bool, proj_size: int) -> bool:
    """Whether ``torch.nn.LSTM`` on CPU takes the oneDNN kernel for this call (``use_mkldnn`` in
    PyTorch's ``RNN.cpp``): a padded CPU input of float32, bfloat16 where oneDNN has it, or
    float16 without gradients where it has that; no projection."""
    if packed or proj_size or input.device.type != "cpu" or input.numel() == 0:
        return False
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return False
    if input.dtype == torch.float32:
        return True
    if input.dtype == torch.bfloat16:
        return _onednn_has("_is_mkldnn_bf16_supported")
    return input.dtype == torch.float16 and not torch.is_grad_enabled() and _onednn_has("_is_mkldnn_fp16_supported")


def _onednn_has(check: str) -> bool:
    """PyTorch's own test of this CPU for a oneDNN dtype (``torch.ops.mkldnn._is_mkldnn_*``)."""
    try:
        return bool(getattr(torch.ops.mkldnn, check)())
    except (AttributeError, RuntimeError):
        return False


def native_autocast_unsupported(cell: CellStep, input: Tensor, *, packed: bool, proj_size: int) -> str | None:
    """Why ``backend="native"`` cannot run this layer call under autocast, or ``None``.

    Two cases, both oneDNN's LSTM kernel raising inside oneDNN (``torch.nn.LSTM`` fails there
    too): under CPU float16 autocast, and under CPU bfloat16 autocast on a CPU where oneDNN has
    no bfloat16 (PyTorch's ``_is_mkldnn_bf16_supported`` is false: no AVX-512, as on AVX2-only
    x86 CPUs).
    """
    dtype = autocast_dtype(input.device)
    if cell.native_mode != "LSTM" or dtype not in (torch.float16, torch.bfloat16):
        return None
    if dtype == torch.bfloat16 and _onednn_has("_is_mkldnn_bf16_supported"):
        return None
    if onednn_runs_lstm(input, packed=packed, proj_size=proj_size):
        name = "float16" if dtype == torch.float16 else "bfloat16 on this CPU (oneDNN has no bfloat16 here)"
        return f"torch's oneDNN LSTM kernel cannot run under CPU {name} autocast (torch.nn.LSTM raises there too)"
    return None


def onednn_autocast_fails(dtype: torch.dtype) -> bool:
    """Whether ``torch.nn.LSTM``'s oneDNN kernel raises under CPU autocast to ``dtype`` here
    (float16 always; bfloat16 where oneDNN has none)."""
    return dtype == torch.float16 or (dtype == torch.bfloat16 and not _onednn_has("_is_mkldnn_bf16_supported"))
