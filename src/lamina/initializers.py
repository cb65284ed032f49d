"""Weight initializers with Keras's names and fan conventions.

Keras lays a Dense kernel out as `(input_dim, units)` and a convolution kernel as
`(*kernel_size, in_channels, out_channels)`, so fans are read from the last two axes; torch's
own `nn.init` helpers read them the other way round, which is why the fans are computed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Initializer = Callable[[tuple[int, ...], torch.dtype], torch.Tensor]

__all__ = [
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


def constant(value: float) -> Initializer:
    """An initializer filling every entry with `value`."""

    def init(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.full(shape, float(value), dtype=dtype)

    init.__name__ = f"constant({value})"
    return init


_BY_NAME: dict[str, Initializer] = {
    name: globals()[name] for name in __all__ if name not in ("constant", "get")
}


def get(identifier: str | Initializer | None) -> Initializer:
    """An initializer from its name or itself; `None` gives zeros."""
    if identifier is None:
        return zeros
    if callable(identifier):
        return identifier
    try:
        return _BY_NAME[identifier]
    except KeyError:
        raise ValueError(
            f"Unknown initializer {identifier!r}; expected one of {sorted(_BY_NAME)} or a "
            "function (shape, dtype) -> tensor."
        ) from None
