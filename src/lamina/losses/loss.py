"""The `Loss` base class, its reductions, and the shape rule every loss and metric shares.

`Loss` turns per-sample values into a scalar as `reduction=` says (`reduce_values`);
`LossFunctionWrapper` makes a class of any per-sample function. Kept apart from the concrete
losses so that `functions` and `classes` (and `lamina.metrics`) build on it without cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

REDUCTIONS = (None, "none", "sum", "sum_over_batch_size", "mean", "mean_with_sample_weight")


# ---------------------------------------------------------------------------- shape helpers
def squeeze_or_expand_to_same_rank(
    x1: torch.Tensor, x2: torch.Tensor, *, expand_rank_1: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Make two tensors whose ranks differ by one the same rank, as Keras does.

    When the larger one ends in an axis of 1, that axis is dropped, except against a rank-1
    tensor, which gains one instead (with `expand_rank_1`): labels `(N,)` against predictions
    `(N, 1)` become `(N, 1)` and `(N, 1)`, so a loss still has one value per sample.
    """
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            return x1, x2.unsqueeze(-1)
        return x1.squeeze(-1), x2
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            return x1.unsqueeze(-1), x2
        return x1, x2.squeeze(-1)
    return x1, x2


# ---------------------------------------------------------------------------- the base class
def _check_reduction(owner: str, reduction: str | None) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{owner}: unknown reduction {reduction!r}; expected one of {list(REDUCTIONS)}."
        )


def reduce_values(
    values: torch.Tensor, sample_weight: Any = None, reduction: str | None = "sum_over_batch_size"
) -> torch.Tensor:
    """Weight per-sample loss values and reduce them as Keras's `reduction=` says."""
    if sample_weight is not None:
        weight = torch.as_tensor(sample_weight, device=values.device, dtype=values.dtype)
        weight, values = squeeze_or_expand_to_same_rank(weight, values)
        while weight.ndim < values.ndim:
            weight = weight.unsqueeze(-1)
        values = values * weight
    if reduction in (None, "none"):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return total / torch.broadcast_to(weight, values.shape).sum()
    return total / max(values.numel(), 1)


class Loss:
    """Base class of the losses: subclasses define `call(y_true, y_pred)`, returning a value
    per sample; calling the loss weights and reduces those values.

    Args:
        name: the loss's name.
        reduction: how values are reduced (see the `lamina.losses` docstring).
        dtype: accepted for Keras compatibility; the predictions' dtype is used.

    Example:
        >>> import torch
        >>> from lamina.losses import Loss
        >>> class Cube(Loss):
        ...     def call(self, y_true, y_pred):
        ...         return ((y_pred - y_true) ** 3).mean(-1)
        >>> Cube()(torch.zeros(2, 1), torch.full((2, 1), 2.0))
        tensor(8.)
    """

    def __init__(
        self,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        _check_reduction(type(self).__name__, reduction)
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction

    def call(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define call().")

    def __call__(
        self, y_true: Any, y_pred: torch.Tensor, sample_weight: Any = None
    ) -> torch.Tensor:
        if sample_weight is None and self.reduction in ("sum_over_batch_size", "mean"):
            return self._mean(y_true, y_pred)
        return reduce_values(self.call(y_true, y_pred), sample_weight, self.reduction)

    def _mean(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        """The mean of `call`'s values; subclasses with a fused torch kernel override it."""
        return self.call(y_true, y_pred).mean()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({options})"


class LossFunctionWrapper(Loss):
    """A loss class around a function `fn(y_true, y_pred, **kwargs)` returning per-sample
    values; how a plain callable given to `compile(loss=...)` is used."""

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._fn_kwargs}


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
