"""Comparisons, logic and the `all`/`any` reductions, with Keras's names (`keras.ops.equal`,
...): boolean results, broadcasting as numpy does."""

from __future__ import annotations

from typing import Any

import torch

from lamina.ops.recording import Axis, _dims, symbolic


def _pair(x1: Any, x2: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a = x1 if isinstance(x1, torch.Tensor) else torch.as_tensor(x1)
    b = x2 if isinstance(x2, torch.Tensor) else torch.as_tensor(x2, device=a.device)
    return a, b


@symbolic
def equal(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 == x2`, elementwise.

    Example:
        >>> import torch
        >>> equal(torch.tensor([1, 2]), 2)
        tensor([False,  True])
    """
    return torch.eq(*_pair(x1, x2))


@symbolic
def not_equal(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 != x2`, elementwise."""
    return torch.ne(*_pair(x1, x2))


@symbolic
def greater(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 > x2`, elementwise."""
    return torch.gt(*_pair(x1, x2))


@symbolic
def greater_equal(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 >= x2`, elementwise."""
    return torch.ge(*_pair(x1, x2))


@symbolic
def less(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 < x2`, elementwise."""
    return torch.lt(*_pair(x1, x2))


@symbolic
def less_equal(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 <= x2`, elementwise."""
    return torch.le(*_pair(x1, x2))


@symbolic
def logical_and(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 and x2`, elementwise (non-zero is true)."""
    return torch.logical_and(*_pair(x1, x2))


@symbolic
def logical_or(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 or x2`, elementwise (non-zero is true)."""
    return torch.logical_or(*_pair(x1, x2))


@symbolic
def logical_not(x: torch.Tensor) -> torch.Tensor:
    """`not x`, elementwise (non-zero is true)."""
    return torch.logical_not(x)


@symbolic
def all(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Whether every element along `axis` (all axes when `None`) is true.

    Example:
        >>> import torch
        >>> all(torch.tensor([[1, 0], [1, 1]]), axis=1)
        tensor([False,  True])
    """
    return torch.all(x.bool(), dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def any(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Whether some element along `axis` (all axes when `None`) is true."""
    return torch.any(x.bool(), dim=_dims(x, axis), keepdim=keepdims)
