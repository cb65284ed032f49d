"""Making tensors (`arange`, `zeros`, `ones`, `full`, `eye`, `tril`, `triu`), converting
(`convert_to_tensor`, `convert_to_numpy`) and `stop_gradient`, with Keras's names.

`dtype` is a torch dtype or its name (`"float32"`, `"int64"`, ...); floats default to torch's
default dtype, as Keras's to `floatx()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lamina.core.construct import _to_dtype
from lamina.ops.recording import symbolic


def _dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    return None if dtype is None else _to_dtype(dtype)


def arange(
    start: float, stop: float | None = None, step: float = 1, dtype: torch.dtype | str | None = None
) -> torch.Tensor:
    """Evenly spaced values in `[start, stop)` (`[0, start)` without `stop`), as numpy's.

    Example:
        >>> arange(1, 7, 2)
        tensor([1, 3, 5])
    """
    if stop is None:
        start, stop = 0, start
    return torch.arange(start, stop, step, dtype=_dtype(dtype))


def zeros(shape: int | Sequence[int], dtype: torch.dtype | str | None = None) -> torch.Tensor:
    """A tensor of zeros."""
    return torch.zeros(shape, dtype=_dtype(dtype))


def ones(shape: int | Sequence[int], dtype: torch.dtype | str | None = None) -> torch.Tensor:
    """A tensor of ones."""
    return torch.ones(shape, dtype=_dtype(dtype))


def full(
    shape: int | Sequence[int], fill_value: float, dtype: torch.dtype | str | None = None
) -> torch.Tensor:
    """A tensor of `shape` filled with `fill_value` (floats in the default float dtype)."""
    dtype = _dtype(dtype)
    if dtype is None and isinstance(fill_value, float):
        dtype = torch.get_default_dtype()
    return torch.full(tuple(np.atleast_1d(shape).tolist()), fill_value, dtype=dtype)


def eye(
    N: int, M: int | None = None, k: int = 0, dtype: torch.dtype | str | None = None
) -> torch.Tensor:
    """An `N x M` matrix with ones on the `k`-th diagonal.

    Example:
        >>> eye(2, 3, k=1)
        tensor([[0., 1., 0.],
                [0., 0., 1.]])
    """
    M = N if M is None else M
    ones_ = torch.ones(N, M, dtype=_dtype(dtype) or torch.get_default_dtype())
    return torch.triu(torch.tril(ones_, k), k)


@symbolic
def tril(x: torch.Tensor, k: int = 0) -> torch.Tensor:
    """`x` with the elements above the `k`-th diagonal set to zero."""
    return torch.tril(x, k)


@symbolic
def triu(x: torch.Tensor, k: int = 0) -> torch.Tensor:
    """`x` with the elements below the `k`-th diagonal set to zero."""
    return torch.triu(x, k)


def convert_to_tensor(x: Any, dtype: torch.dtype | str | None = None) -> Any:
    """`x` as a torch tensor (numpy arrays, lists, scalars); symbolic tensors stay as they are.

    Floating numpy arrays keep their dtype, as in Keras on torch; pass `dtype=` to cast.
    """
    if not isinstance(x, torch.Tensor) and type(x).__name__ == "SymbolicTensor":
        return x
    tensor = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return tensor if dtype is None else tensor.to(_dtype(dtype))


def convert_to_numpy(x: Any) -> np.ndarray:
    """`x` as a numpy array (a tensor is detached and moved to the CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return np.asarray(x.numpy())
    return np.asarray(x)


@symbolic
def stop_gradient(x: torch.Tensor) -> torch.Tensor:
    """`x`, with no gradient flowing back through it."""
    return x.detach()
