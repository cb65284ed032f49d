"""How an op works both ways: `symbolic` makes a torch function record an `Operation`
layer when an argument is a symbolic tensor, and `RAW` keeps the plain functions by name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch

from lamina.core.tensor import SymbolicTensor

Axis = int | Sequence[int] | None
_F = TypeVar("_F", bound=Callable[..., Any])

RAW: dict[str, Callable[..., Any]] = {}
"""The plain torch implementations by name; `Operation` layers call these."""


def _has_symbolic(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    for value in (*args, *kwargs.values()):
        if isinstance(value, SymbolicTensor):
            return True
        if isinstance(value, (list, tuple)) and any(isinstance(v, SymbolicTensor) for v in value):
            return True
    return False


def symbolic(fn: _F) -> _F:
    """Make `fn` record an operation layer when any argument is a symbolic tensor."""
    RAW[fn.__name__] = fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _has_symbolic(args, kwargs):
            from lamina.layers.operation import Operation

            return Operation.record(fn.__name__, args, kwargs)
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _dims(x: torch.Tensor, axis: Axis) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)
