"""Choosing between the readable reference path and PyTorch's fused kernels."""

from __future__ import annotations

from rnnx._checks import check_choice

BACKENDS = ("auto", "reference", "native", "fused")
"""``"reference"``: the cell equations in :mod:`rnnx.cells` run by :mod:`rnnx.recurrence`.
``"native"``: PyTorch's fused kernels (cuDNN on GPU, oneDNN or ATen on CPU).
``"fused"``: rnnx's own fused CPU kernels (:mod:`rnnx.fused`), for the variants too.
``"auto"``: the fastest that can run the configuration (see :func:`resolve_backend`)."""


def check_backend(owner: str, backend: object) -> str:
    """Return ``backend`` if it names a backend, else raise ``ValueError``."""
    return check_choice(owner, "backend", backend, BACKENDS)


def resolve_backend(
    owner: str,
    backend: str,
    native_unsupported: str | None,
    fused_unsupported: str | None = "not available",
    *,
    prefer_fused: bool = False,
) -> str:
    """The backend that runs: ``"native"``, ``"fused"`` or ``"reference"``.

    ``"auto"`` takes native where it can run the configuration, except when ``prefer_fused``
    (a configuration where the fused kernel was measured faster than PyTorch's) and fused can
    run it; otherwise fused if it can run it, else reference.

    Args:
        owner: the module's name, for messages.
        backend: the requested backend, one of :data:`BACKENDS`.
        native_unsupported: why the native kernels cannot run this configuration, or ``None``.
        fused_unsupported: why the fused kernels cannot, or ``None``.
        prefer_fused: pick fused over native under ``"auto"`` when both can run.

    Raises:
        ValueError: ``"native"`` or ``"fused"`` was asked for a configuration it cannot run.
            The request is never silently downgraded.
    """
    if backend == "auto":
        if fused_unsupported is None and (prefer_fused or native_unsupported):
            return "fused"
        return "reference" if native_unsupported else "native"
    reason = native_unsupported if backend == "native" else fused_unsupported if backend == "fused" else None
    if reason:
        raise ValueError(
            f"{owner}: backend={backend!r} cannot run this configuration: {reason}. "
            "Use backend='auto' or backend='reference'."
        )
    return backend
