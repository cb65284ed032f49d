"""Sorting and selecting (`sort`, `argsort`, `top_k`), padding (`pad`) and numpy's `dot`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lamina.ops.recording import symbolic


@symbolic
def sort(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """`x` sorted in ascending order along `axis`."""
    return torch.sort(x, dim=axis).values


@symbolic
def argsort(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """The indices that sort `x` along `axis` (ascending, stable)."""
    return torch.argsort(x, dim=axis, stable=True)


@symbolic
def top_k(x: torch.Tensor, k: int, sorted: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The `k` largest values along the last axis and their indices, as Keras returns them.

    Example:
        >>> import torch
        >>> top_k(torch.tensor([1.0, 3.0, 2.0]), 2)
        (tensor([3., 2.]), tensor([1, 2]))
    """
    values, indices = torch.topk(x, k, dim=-1, sorted=sorted)
    return values, indices


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "symmetric": None, "edge": "replicate"}


@symbolic
def pad(
    x: torch.Tensor,
    pad_width: int | Sequence[Any],
    mode: str = "constant",
    constant_values: float | None = None,
) -> torch.Tensor:
    """Pad `x` as `numpy.pad`: `pad_width` is `((before, after), ...)` per axis (or one pair,
    or one int, for every axis); modes "constant", "reflect" and "edge".

    Example:
        >>> import torch
        >>> pad(torch.ones(1, 2), ((0, 0), (1, 2)))
        tensor([[0., 1., 1., 0., 0.]])
    """
    torch_mode = _PAD_MODES.get(mode)
    if torch_mode is None:
        raise ValueError(
            f"pad: mode={mode!r} is not supported; expected 'constant', 'reflect' or 'edge'."
        )
    if constant_values is not None and mode != "constant":
        raise ValueError(f"pad: constant_values is only used with mode='constant', not {mode!r}.")
    width = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2)).tolist()
    flat = [int(v) for before_after in reversed(width) for v in before_after]
    if torch_mode == "constant":
        return F.pad(x, flat, value=0.0 if constant_values is None else constant_values)
    # torch pads the last dimensions of a batched input only: add a batch axis, pad, drop it.
    return F.pad(x.unsqueeze(0), flat, mode=torch_mode).squeeze(0)


@symbolic
def dot(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """numpy's `dot`: a product of scalars, a matrix product for 1-D and 2-D, and for N-D a sum
    over the last axis of `x1` and the second-to-last of `x2`.

    Example:
        >>> import torch
        >>> dot(torch.ones(2, 3, 4), torch.ones(5, 4, 6)).shape
        torch.Size([2, 3, 5, 6])
    """
    if x1.ndim == 0 or x2.ndim == 0:
        return x1 * x2
    axis = 0 if x2.ndim == 1 else x2.ndim - 2
    product: torch.Tensor = torch.tensordot(x1, x2, dims=([x1.ndim - 1], [axis]))
    return product
