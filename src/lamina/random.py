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
from typing import Any

import torch

from lamina.core.dtypes import dtype_named
from lamina.ops.recording import RAW

__all__ = ["normal", "uniform"]


def _recorded(op: str, shape: Any, dtype: torch.dtype | None, **kwargs: Any) -> Any:
    """The draw as an `Operation` of the symbolic tensor `shape` was taken from (its batch
    size is known only when the model runs), or None for a concrete shape."""
    tensor = getattr(shape, "tensor", None)
    if tensor is None:
        if any(d is None for d in shape):
            raise ValueError(
                f"ops.random: received shape {tuple(shape)} with an unknown (None) size; "
                "expected sizes, or ops.shape(x) of a symbolic tensor x to draw per batch."
            )
        return None
    from lamina.layers.operation import Operation

    name = None if dtype is None else str(dtype).removeprefix("torch.")
    return Operation.record(op, (tensor,), {**kwargs, "dtype": name})


def _dtype(name: str) -> torch.dtype:
    kind = dtype_named(name)
    if kind is None:
        raise ValueError(f"random: unknown dtype {name!r}; expected a torch dtype name.")
    return kind


def _drawn_like(draw: Any) -> Any:
    def like(x: torch.Tensor, dtype: str | None = None, seed: int | None = None, **kw: Any) -> Any:
        kind = _dtype(dtype) if dtype else None
        return draw(x.shape, dtype=kind, seed=seed, device=x.device, **kw)

    return like


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
    recorded = _recorded("random_normal_like", shape, dtype, mean=mean, stddev=stddev, seed=seed)
    if recorded is not None:
        return recorded  # type: ignore[no-any-return]
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
    recorded = _recorded(
        "random_uniform_like", shape, dtype, minval=minval, maxval=maxval, seed=seed
    )
    if recorded is not None:
        return recorded  # type: ignore[no-any-return]
    device = getattr(shape, "device", None)
    sample = torch.rand(
        tuple(shape), dtype=dtype, device=device, generator=_generator(seed, device)
    )
    return sample * (maxval - minval) + minval


def _normal_on(shape: Any, *, device: torch.device, **kwargs: Any) -> torch.Tensor:
    return normal(_on(torch.Size(shape), device), **kwargs)


def _uniform_on(shape: Any, *, device: torch.device, **kwargs: Any) -> torch.Tensor:
    return uniform(_on(torch.Size(shape), device), **kwargs)


def _on(shape: torch.Size, device: torch.device) -> Any:
    from lamina.ops.shapes import Shape

    result = Shape(shape)
    result.device = device
    return result


# What a recorded draw runs: a sample of the shape of its input, on its device.
RAW["random_normal_like"] = _drawn_like(_normal_on)
RAW["random_uniform_like"] = _drawn_like(_uniform_on)
