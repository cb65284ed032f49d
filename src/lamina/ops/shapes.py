"""Ops on shapes and layouts: reshaping, joining, splitting, repeating, casting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lamina.core.dtypes import dtype_named
from lamina.core.tensor import SymbolicTensor
from lamina.ops.recording import Axis, _dims, symbolic


class Shape(tuple):  # type: ignore[type-arg]
    """A tensor's shape as a tuple that remembers the tensor's device.

    `ops.random.normal(ops.shape(x))` thereby draws on `x`'s device, as Keras code expects;
    the shape of a symbolic tensor remembers the tensor, so that the draw is recorded as an
    operation of the batch's shape.
    """

    device: torch.device | None = None
    tensor: SymbolicTensor | None = None


def shape(x: Any) -> tuple[int | None, ...]:
    """The shape of `x` as a tuple (`None` for a symbolic tensor's batch dimension)."""
    if isinstance(x, SymbolicTensor):
        symbolic_shape = Shape(x.shape)
        symbolic_shape.tensor = x
        return symbolic_shape
    result = Shape(x.shape)
    result.device = x.device
    return result


# ---------------------------------------------------------------- shapes
@symbolic
def reshape(x: torch.Tensor, newshape: Sequence[int]) -> torch.Tensor:
    """`x` with shape `newshape` (one entry may be -1)."""
    return torch.reshape(x, tuple(newshape))


@symbolic
def transpose(x: torch.Tensor, axes: Sequence[int] | None = None) -> torch.Tensor:
    """Permute the axes of `x` (reverse them when `axes` is `None`, as numpy)."""
    return x.permute(tuple(axes) if axes is not None else tuple(reversed(range(x.ndim))))


@symbolic
def expand_dims(x: torch.Tensor, axis: int) -> torch.Tensor:
    """Insert an axis of size 1 at `axis`."""
    return torch.unsqueeze(x, axis)


@symbolic
def squeeze(x: torch.Tensor, axis: Axis = None) -> torch.Tensor:
    """Remove axes of size 1 (only `axis` when given)."""
    return torch.squeeze(x) if axis is None else torch.squeeze(x, _dims(x, axis))


@symbolic
def concatenate(xs: Sequence[torch.Tensor], axis: int = 0) -> torch.Tensor:
    """Join tensors along an existing axis."""
    return torch.cat(tuple(xs), dim=axis)


@symbolic
def stack(xs: Sequence[torch.Tensor], axis: int = 0) -> torch.Tensor:
    """Join tensors along a new axis."""
    return torch.stack(tuple(xs), dim=axis)


@symbolic
def split(x: torch.Tensor, indices_or_sections: int | Sequence[int], axis: int = 0) -> Any:
    """Split into equal sections (an int) or at the given indices, as numpy."""
    if isinstance(indices_or_sections, int):
        size = x.shape[axis]
        if size % indices_or_sections:
            raise ValueError(
                f"split: axis {axis} of size {size} does not divide into "
                f"{indices_or_sections} equal sections."
            )
        return list(torch.split(x, size // indices_or_sections, dim=axis))
    return list(torch.tensor_split(x, list(indices_or_sections), dim=axis))


@symbolic
def tile(x: torch.Tensor, repeats: Sequence[int]) -> torch.Tensor:
    """Repeat the whole tensor `repeats[i]` times along each axis `i`."""
    return torch.tile(x, tuple(repeats))


@symbolic
def repeat(x: torch.Tensor, repeats: int, axis: int | None = None) -> torch.Tensor:
    """Repeat each element `repeats` times along `axis` (numpy's `repeat`)."""
    return torch.repeat_interleave(x, repeats, dim=axis)


@symbolic
def flip(x: torch.Tensor, axis: Axis = None) -> torch.Tensor:
    """Reverse the order of elements along `axis` (all axes when `None`)."""
    return torch.flip(x, _dims(x, axis))


@symbolic
def cast(x: torch.Tensor, dtype: torch.dtype | str) -> torch.Tensor:
    """`x` converted to `dtype` (a torch dtype or its name)."""
    if isinstance(dtype, str):
        named = dtype_named(dtype)
        if not isinstance(named, torch.dtype):
            raise ValueError(f"cast: unknown dtype {dtype!r}; expected a torch dtype name.")
        dtype = named
    return x.to(dtype)


@symbolic
def zeros_like(x: torch.Tensor) -> torch.Tensor:
    """Zeros of `x`'s shape, dtype and device."""
    return torch.zeros_like(x)


@symbolic
def ones_like(x: torch.Tensor) -> torch.Tensor:
    """Ones of `x`'s shape, dtype and device."""
    return torch.ones_like(x)


@symbolic
def one_hot(x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot float encoding of integer `x`, a new last axis of `num_classes`."""
    return F.one_hot(x.long(), num_classes).to(torch.get_default_dtype())


@symbolic
def einsum(subscripts: str, *operands: torch.Tensor) -> torch.Tensor:
    """Einstein summation, as `numpy.einsum`."""
    return torch.einsum(subscripts, *operands)
