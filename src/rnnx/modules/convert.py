"""Exact conversion between rnnx modules and their ``torch.nn`` counterparts."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, TypeVar

from torch import nn

M = TypeVar("M", bound=nn.Module)


def convert(
    source: nn.Module,
    source_class: type[nn.Module],
    target_class: type[M],
    config_keys: Sequence[str],
    **extra: Any,
) -> M:
    """Build ``target_class`` with ``source``'s config, device, dtype, weights and mode.

    The target is built on the meta device and then filled from the source's state_dict,
    so conversion draws nothing from the random number generator.

    Raises:
        TypeError: ``source`` is not a ``source_class``.
    """
    if not isinstance(source, source_class):
        raise TypeError(
            f"{target_class.__name__}: expected a {source_class.__module__}."
            f"{source_class.__qualname__} to convert; got {type(source).__name__}"
        )
    config = {key: getattr(source, key) for key in config_keys}
    first = next(source.parameters())
    with warnings.catch_warnings():
        # The source already warned about its own config (e.g. dropout with one layer).
        warnings.simplefilter("ignore", UserWarning)
        target = target_class(**config, **extra, device="meta", dtype=first.dtype)
    target.to_empty(device=first.device)
    target.load_state_dict(source.state_dict())
    target.train(source.training)
    return target
