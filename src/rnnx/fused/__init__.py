"""The fused CPU path: each layer direction's whole time loop as one C++ call and one
autograd node, for rnnx's cells and every variant."""

from rnnx.fused.build import build_kernels, load_extension, note_unavailable_once, unavailable_reason
from rnnx.fused.function import fused_faster, fused_kind, fused_scan, fused_unsupported

__all__ = [
    "build_kernels",
    "fused_faster",
    "fused_kind",
    "fused_scan",
    "fused_unsupported",
    "load_extension",
    "note_unavailable_once",
    "unavailable_reason",
]
