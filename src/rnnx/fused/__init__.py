"""The fused CPU path: each layer direction's whole time loop as one C++ call and one
autograd node, for rnnx's cells and every variant except ``proj_size``."""

from rnnx.fused.build import load_extension, unavailable_reason, warn_fallback_once
from rnnx.fused.function import fused_kind, fused_scan, fused_unsupported, prefers_fused

__all__ = [
    "fused_kind",
    "fused_scan",
    "fused_unsupported",
    "load_extension",
    "prefers_fused",
    "unavailable_reason",
    "warn_fallback_once",
]
