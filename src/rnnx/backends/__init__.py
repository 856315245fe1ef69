"""Backends: which implementation runs a layer, and the calls into PyTorch's kernels."""

from rnnx.backends.native import native_cell, native_layer
from rnnx.backends.select import BACKENDS, check_backend, resolve_backend

__all__ = ["BACKENDS", "check_backend", "native_cell", "native_layer", "resolve_backend"]
