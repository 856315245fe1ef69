"""Backends: every way of running a recurrent layer, behind one protocol
(:class:`~rnnx.backends.call.Backend`), and the one function that chooses among them
(:func:`~rnnx.backends.select.choose`).

- ``reference``: the cell's equations run by :mod:`rnnx.recurrence` (:mod:`.reference`);
- ``native``: PyTorch's kernels, as ``torch.nn`` calls them (:mod:`.native`, :mod:`.onednn`);
- ``fused``: rnnx's C++ kernel as the time loop (:mod:`.fused`);
- ``step``: inference through the streaming step kernel (:mod:`.step`);
- ``graph`` and ``onnx-lstm``: the exported forms (:mod:`.export`, :mod:`.onnx_lstm`).
"""

from rnnx.backends.call import Backend, LayerCall, LayerResult, LayerSpec, SequenceBatch
from rnnx.backends.native import native_cell, native_layer, variants_unsupported
from rnnx.backends.select import (
    BACKENDS,
    REGISTRY,
    SINGLE_STEP,
    TRACED,
    BackendChoice,
    check_backend,
    check_request,
    choose,
    choose_backend,
    choose_cell,
    choose_for_export,
    export_mode,
    refuse_packed_export,
    run,
)

__all__ = [
    "BACKENDS",
    "REGISTRY",
    "SINGLE_STEP",
    "TRACED",
    "Backend",
    "BackendChoice",
    "LayerCall",
    "LayerResult",
    "LayerSpec",
    "SequenceBatch",
    "check_backend",
    "check_request",
    "choose",
    "choose_backend",
    "choose_cell",
    "choose_for_export",
    "export_mode",
    "native_cell",
    "native_layer",
    "refuse_packed_export",
    "run",
    "variants_unsupported",
]
