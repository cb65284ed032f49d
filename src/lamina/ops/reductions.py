"""Reductions over axes: sums, means, extremes, variances, norms."""

from __future__ import annotations

from typing import Any

import torch

from lamina.ops.recording import Axis, _dims, symbolic


# ---------------------------------------------------------------- reductions
@symbolic
def sum(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Sum over `axis` (all axes when `None`)."""
    return torch.sum(x, dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def mean(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Mean over `axis` (all axes when `None`)."""
    return torch.mean(x, dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def max(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Maximum over `axis` (all axes when `None`)."""
    return torch.amax(x, dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def min(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Minimum over `axis` (all axes when `None`)."""
    return torch.amin(x, dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def prod(x: torch.Tensor, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Product over one `axis`, or of all elements when `None`."""
    if axis is None:
        result = torch.prod(x)
        return result.reshape([1] * x.ndim) if keepdims else result
    return torch.prod(x, dim=axis, keepdim=keepdims)


@symbolic
def var(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Population variance over `axis`, as Keras (no Bessel correction)."""
    return torch.var(x, dim=_dims(x, axis), keepdim=keepdims, correction=0)


@symbolic
def std(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Population standard deviation over `axis`, as Keras (no Bessel correction)."""
    return torch.std(x, dim=_dims(x, axis), keepdim=keepdims, correction=0)


@symbolic
def logsumexp(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`log(sum(exp(x)))` over `axis`, computed stably."""
    return torch.logsumexp(x, dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def argmax(x: torch.Tensor, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Index of the maximum along `axis` (of the flattened tensor when `None`)."""
    return torch.argmax(x, dim=axis, keepdim=keepdims)


@symbolic
def argmin(x: torch.Tensor, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Index of the minimum along `axis` (of the flattened tensor when `None`)."""
    return torch.argmin(x, dim=axis, keepdim=keepdims)


@symbolic
def cumsum(x: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """Cumulative sum along `axis`."""
    return torch.cumsum(x, dim=axis)


@symbolic
def norm(x: torch.Tensor, ord: Any = None, axis: Axis = None, keepdims: bool = False) -> Any:
    """Vector or matrix norm (`torch.linalg.norm`)."""
    return torch.linalg.norm(x, ord=ord, dim=axis, keepdim=keepdims)
