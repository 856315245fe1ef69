"""What every rnnx module shares with its ``torch.nn`` counterpart: initialisation and exact
conversion both ways."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from torch import nn
from typing_extensions import Self

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


class TorchCompatible(nn.Module):
    """Base of the rnnx modules that mirror a ``torch.nn`` class.

    Subclasses set :attr:`_torch_class` and :attr:`_config_keys` (the constructor arguments
    that, read off either module, rebuild the other) and have ``hidden_size``.
    """

    _torch_class: ClassVar[type[nn.Module] | None] = None
    _config_keys: ClassVar[tuple[str, ...]]
    hidden_size: int

    def torch_incompatible(self) -> str | None:
        """What of this module ``torch.nn`` cannot represent, or ``None``."""
        return None

    @classmethod
    def _counterpart(cls) -> type[nn.Module]:
        if cls._torch_class is None:
            raise TypeError(f"{cls.__name__} has no torch.nn counterpart to convert from or to")
        return cls._torch_class

    @classmethod
    def from_torch(cls, module: nn.Module, *, backend: str = "auto") -> Self:
        """An rnnx copy of ``module`` (its ``torch.nn`` counterpart): same config, dtype,
        device, weights and train/eval mode.

        Raises:
            TypeError: ``module`` is not an instance of the ``torch.nn`` counterpart.
        """
        return convert(module, cls._counterpart(), cls, cls._config_keys, backend=backend)

    def to_torch(self) -> nn.Module:
        """A ``torch.nn`` copy of this module: same config, dtype, device, weights and mode.

        Raises:
            TypeError: the module has no ``torch.nn`` counterpart.
            ValueError: it uses an option ``torch.nn`` cannot represent (a variant); the
                conversion never silently drops one.
        """
        target = self._counterpart()
        reason = self.torch_incompatible()
        if reason:
            raise ValueError(f"{type(self).__name__}: cannot convert to {target.__name__}: {reason}")
        return convert(self, type(self), target, self._config_keys)
