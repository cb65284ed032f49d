"""Random tensors with Keras's names (`ops.random.normal`, `ops.random.uniform`).

The device comes from the shape when it was taken with `ops.shape(x)`, so the seed's
`ops.random.normal(ops.shape(mean))` draws on `mean`'s device; otherwise torch's default
device is used.

Example:
    >>> import torch
    >>> from lamina import ops
    >>> ops.random.normal(ops.shape(torch.zeros(2, 3))).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["normal", "uniform"]


def _generator(seed: int | None, device: torch.device | None) -> torch.Generator | None:
    if seed is None:
        return None
    generator = torch.Generator(device=device or "cpu")
    generator.manual_seed(seed)
    return generator


def normal(
    shape: Sequence[int],
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: torch.dtype | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Samples from a normal distribution with the given `mean` and `stddev`."""
    device = getattr(shape, "device", None)
    sample = torch.randn(
        tuple(shape), dtype=dtype, device=device, generator=_generator(seed, device)
    )
    return sample * stddev + mean if (mean, stddev) != (0.0, 1.0) else sample


def uniform(
    shape: Sequence[int],
    minval: float = 0.0,
    maxval: float = 1.0,
    dtype: torch.dtype | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Samples from a uniform distribution on `[minval, maxval)`."""
    device = getattr(shape, "device", None)
    sample = torch.rand(
        tuple(shape), dtype=dtype, device=device, generator=_generator(seed, device)
    )
    return sample * (maxval - minval) + minval
