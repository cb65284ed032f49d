"""Weight initializers with Keras's names and fan conventions.

Keras lays a Dense kernel out as `(input_dim, units)` and a convolution kernel as
`(*kernel_size, in_channels, out_channels)`, so fans are read from the last two axes; torch's
own `nn.init` helpers read them the other way round, which is why the fans are computed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

Initializer = Callable[[tuple[int, ...], torch.dtype], torch.Tensor]

__all__ = [
    "Constant",
    "constant",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "serialize",
    "zeros",
]


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _uniform(shape: tuple[int, ...], dtype: torch.dtype, limit: float) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype).uniform_(-limit, limit)


def _truncated_normal(shape: tuple[int, ...], dtype: torch.dtype, std: float) -> torch.Tensor:
    tensor = torch.empty(shape, dtype=dtype)
    return torch.nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


def glorot_uniform(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Uniform in `[-l, l]` with `l = sqrt(6 / (fan_in + fan_out))` (Keras's default kernel)."""
    fan_in, fan_out = _fans(shape)
    return _uniform(shape, dtype, math.sqrt(6.0 / (fan_in + fan_out)))


def glorot_normal(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Truncated normal with `std = sqrt(2 / (fan_in + fan_out))`."""
    fan_in, fan_out = _fans(shape)
    return _truncated_normal(shape, dtype, math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566)


def he_uniform(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Uniform in `[-l, l]` with `l = sqrt(6 / fan_in)`."""
    return _uniform(shape, dtype, math.sqrt(6.0 / _fans(shape)[0]))


def he_normal(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Truncated normal with `std = sqrt(2 / fan_in)`."""
    return _truncated_normal(shape, dtype, math.sqrt(2.0 / _fans(shape)[0]) / 0.87962566)


def lecun_uniform(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Uniform in `[-l, l]` with `l = sqrt(3 / fan_in)`."""
    return _uniform(shape, dtype, math.sqrt(3.0 / _fans(shape)[0]))


def lecun_normal(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Truncated normal with `std = sqrt(1 / fan_in)`."""
    return _truncated_normal(shape, dtype, math.sqrt(1.0 / _fans(shape)[0]) / 0.87962566)


def orthogonal(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A (semi-)orthogonal matrix, flattened over all but the last axis."""
    tensor = torch.empty(shape, dtype=dtype)
    return torch.nn.init.orthogonal_(tensor.view(-1, shape[-1])).view(shape)


def zeros(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """All zeros (Keras's default bias)."""
    return torch.zeros(shape, dtype=dtype)


def ones(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """All ones."""
    return torch.ones(shape, dtype=dtype)


def random_normal(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normal with mean 0 and standard deviation 0.05 (Keras's defaults)."""
    return torch.randn(shape, dtype=dtype) * 0.05


def random_uniform(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Uniform in `[-0.05, 0.05]` (Keras's defaults)."""
    return _uniform(shape, dtype, 0.05)


class Constant:
    """An initializer filling every entry with `value`; its config is `{"value": value}`.

    Example:
        >>> from lamina import initializers
        >>> initializers.Constant(0.5)((2,))
        tensor([0.5000, 0.5000])
    """

    def __init__(self, value: float = 0.0) -> None:
        self.value = float(value)

    def __call__(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.full(shape, self.value, dtype=dtype)

    def get_config(self) -> dict[str, float]:
        return {"value": self.value}

    def __repr__(self) -> str:
        return f"Constant({self.value})"


constant = Constant


_BY_NAME: dict[str, Initializer] = {
    name: globals()[name]
    for name in __all__
    if name not in ("Constant", "constant", "get", "serialize")
}
# Keras's short names for the random initializers ("uniform" is Embedding's default).
_BY_NAME.update(uniform=random_uniform, normal=random_normal)
_CLASSES = {"Constant": Constant}


def get(identifier: str | dict[str, Any] | Initializer | None) -> Initializer:
    """An initializer from its name, its `serialize()` dict, or itself; `None` gives zeros."""
    if identifier is None:
        return zeros
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name", ""))
        if cls is None:
            raise ValueError(
                f"Unknown initializer class {identifier.get('class_name')!r}; expected one of "
                f"{sorted(_CLASSES)}."
            )
        return cls(**identifier.get("config", {}))
    if callable(identifier):
        return identifier
    try:
        return _BY_NAME[identifier]
    except KeyError:
        raise ValueError(
            f"Unknown initializer {identifier!r}; expected one of {sorted(_BY_NAME)}, a "
            "Constant(value), or a function (shape, dtype) -> tensor."
        ) from None


def serialize(initializer: str | Initializer) -> str | dict[str, Any] | Initializer:
    """A config form: the name of a built-in, `{"class_name", "config"}` for a class
    instance, or the function itself (which saving stores as a function)."""
    if isinstance(initializer, Constant):
        return {"class_name": "Constant", "config": initializer.get_config()}
    for name, fn in _BY_NAME.items():
        if fn is initializer:
            return name
    return initializer
