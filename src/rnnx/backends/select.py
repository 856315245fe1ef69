"""Choosing between the readable reference path and PyTorch's fused kernels."""

from __future__ import annotations

from rnnx._checks import check_choice

BACKENDS = ("auto", "reference", "native")
"""``"reference"``: the cell equations in :mod:`rnnx.cells` run by :mod:`rnnx.recurrence`.
``"native"``: PyTorch's fused kernels (cuDNN on GPU, oneDNN or ATen on CPU).
``"auto"``: native where it can run the configuration, else reference."""


def check_backend(owner: str, backend: object) -> str:
    """Return ``backend`` if it names a backend, else raise ``ValueError``."""
    return check_choice(owner, "backend", backend, BACKENDS)


def resolve_backend(owner: str, backend: str, native_unsupported: str | None) -> str:
    """The backend that runs: ``"native"`` or ``"reference"``.

    Args:
        owner: the module's name, for messages.
        backend: the requested backend, one of :data:`BACKENDS`.
        native_unsupported: why the native kernels cannot run this configuration, or
            ``None`` when they can.

    Raises:
        ValueError: ``backend="native"`` was asked for a configuration it cannot run. The
            request is never silently downgraded.
    """
    if backend == "auto":
        return "reference" if native_unsupported else "native"
    if backend == "native" and native_unsupported:
        raise ValueError(
            f"{owner}: backend='native' cannot run this configuration: {native_unsupported}. "
            "Use backend='auto' or backend='reference'."
        )
    return backend
