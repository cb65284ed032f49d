"""`BuildBudget`: how many bytes the weights made while loading a file may take.

Loading sets one (`saving/model_loader.py`) around rebuilding the model; `add_weight` charges
each weight's bytes to it before the weight is made, on any device, so a hostile config
(`Dense(10**9)`) is refused before anything is allocated, naming the layer. Outside a load
there is no budget and nothing is counted.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

__all__ = ["BuildBudget", "BuildLimitError", "charge"]


class BuildLimitError(ValueError):
    """A build while loading would make more bytes than the load allows."""


@dataclass
class BuildBudget:
    """Bytes left for the weights and inputs that builds make while loading.

    Attributes:
        left: bytes still allowed.
        limit: the whole budget, for messages.
        how: how a user raises it, for messages.
    """

    left: int
    limit: int
    how: str

    @contextlib.contextmanager
    def active(self) -> Iterator[BuildBudget]:
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)


_CURRENT: contextvars.ContextVar[BuildBudget | None] = contextvars.ContextVar(
    "lamina_build_budget", default=None
)


def charge(what: str, shape: Sequence[int], dtype: torch.dtype) -> None:
    """Count a tensor of `shape` and `dtype` that is about to be made against the current
    budget, if any; raise `BuildLimitError` naming `what` when it does not fit."""
    budget = _CURRENT.get()
    if budget is None:
        return
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > budget.left:
        raise BuildLimitError(
            f"{what} of shape {tuple(shape)} and dtype {str(dtype).removeprefix('torch.')} "
            f"would take {nbytes:,} bytes, and this load allows {budget.limit:,} bytes for "
            f"what builds make ({budget.left:,} left). {budget.how}"
        )
    budget.left -= nbytes
