"""The `Metric` base class, and `Mean` and `MeanMetricWrapper`, which most metrics build on.

A metric keeps its state in torch tensors and updates it in place, so `fit` never waits for a
number it does not show. `Mean` accumulates a (weighted) sum and count; `MeanMetricWrapper`
averages any per-sample function, which is what `classes` and a plain callable in
`compile(metrics=...)` use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lamina import losses as losses_module
from lamina.losses import squeeze_or_expand_to_same_rank


# ---------------------------------------------------------------------------- base classes
class Metric:
    """Base class: `update_state(y_true, y_pred, sample_weight=None)` accumulates,
    `result()` returns a 0-d tensor, `reset_state()` starts over.

    Attributes:
        name: the key of the metric in `fit`'s logs.
        direction: `"up"` if larger is better (accuracy, AUC), else `"down"`; callbacks in
            `mode="auto"` use it.
    """

    direction = "down"

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or losses_module._snake(type(self).__name__)

    def update_state(self, y_true: Any, y_pred: torch.Tensor, sample_weight: Any = None) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define update_state().")

    def result(self) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define result().")

    def reset_state(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define reset_state().")

    def __call__(
        self, y_true: Any, y_pred: torch.Tensor, sample_weight: Any = None
    ) -> torch.Tensor:
        """Update with one batch and return the result so far."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """The (weighted) mean of the values it is given.

    Example:
        >>> import torch
        >>> from lamina.metrics import Mean
        >>> m = Mean()
        >>> m.update_state(torch.tensor([1.0, 3.0])); m.update_state(torch.tensor(5.0))
        >>> float(m.result())
        3.0
    """

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name)
        self.reset_state()

    def reset_state(self) -> None:
        self.total: torch.Tensor | None = None
        self.count: torch.Tensor | float = 0.0

    def update_state(  # type: ignore[override]
        self, values: torch.Tensor, sample_weight: Any = None
    ) -> None:
        values = values.detach()
        if sample_weight is None:
            total, count = values.sum(), float(values.numel())
        else:
            weight = torch.as_tensor(sample_weight, device=values.device, dtype=values.dtype)
            weight, values = squeeze_or_expand_to_same_rank(weight, values)
            weight = torch.broadcast_to(
                weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim)), values.shape
            )
            total, count = (values * weight).sum(), weight.sum()  # type: ignore[assignment]
        self._add(total, count)

    def _add(self, total: torch.Tensor, count: torch.Tensor | float) -> None:
        # In place after the first batch: no new tensors, no host synchronisation.
        if self.total is None:
            self.total = total.clone()
        else:
            self.total.add_(total)
        self.count = self.count + count

    def result(self) -> torch.Tensor:
        if self.total is None:
            return torch.tensor(0.0)
        return self.total / self.count


class MeanMetricWrapper(Mean):
    """The mean over all samples of `fn(y_true, y_pred, **kwargs)`'s per-sample values.

    Args:
        fn: the per-sample function.
        name: the metric's name.
        direction: `"up"` if larger is better.
        kwargs: keyword arguments for `fn`.
    """

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        name: str | None = None,
        dtype: Any = None,
        *,
        direction: str = "down",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name or str(getattr(fn, "__name__", "metric")))
        self.fn = fn
        self.direction = direction
        self._fn_kwargs = kwargs

    def update_state(  # type: ignore[override]
        self, y_true: Any, y_pred: torch.Tensor, sample_weight: Any = None
    ) -> None:
        with torch.no_grad():
            super().update_state(self.fn(y_true, y_pred.detach(), **self._fn_kwargs), sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self._fn_kwargs}
