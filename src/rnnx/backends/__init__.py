"""Backends: which implementation runs a layer, and the calls into PyTorch's kernels."""

from rnnx.backends.native import native_cell, native_layer
from rnnx.backends.select import (
    BACKENDS,
    TRACED,
    BackendChoice,
    check_backend,
    choose_backend,
    choose_for_export,
    export_mode,
)

__all__ = [
    "BACKENDS",
    "TRACED",
    "BackendChoice",
    "check_backend",
    "choose_backend",
    "choose_for_export",
    "export_mode",
    "native_cell",
    "native_layer",
]
