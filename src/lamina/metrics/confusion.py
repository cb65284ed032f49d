"""Metrics from confusion counts at thresholds: `TruePositives`, `TrueNegatives`,
`FalsePositives`, `FalseNegatives`, `Precision`, `Recall`, `PrecisionAtRecall`,
`RecallAtPrecision`, with Keras's arguments.

A prediction above a threshold (strictly) counts as positive; `top_k` keeps only each row's
`k` largest predictions as candidates, and `class_id` looks at one column. Counts are
(sample-)weighted sums kept as tensors, so an epoch never waits on the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lamina.losses import squeeze_or_expand_to_same_rank
from lamina.metrics.classes import _as
from lamina.metrics.metric import Metric


def _thresholds(owner: str, thresholds: float | Sequence[float] | None) -> list[float]:
    values = [0.5] if thresholds is None else thresholds
    values = [values] if isinstance(values, (int, float)) else list(values)
    if not values or not all(isinstance(t, (int, float)) and 0 <= t <= 1 for t in values):
        raise ValueError(
            f"{owner}: thresholds must be numbers in [0, 1] (or a list of them), received "
            f"{thresholds!r}."
        )
    return [float(t) for t in values]


class _Confusion(Metric):
    """Accumulates weighted true/false positives/negatives at each threshold."""

    _counts: tuple[str, ...] = ("tp", "fp", "tn", "fn")

    def __init__(
        self,
        thresholds: float | Sequence[float] | None = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        self.init_thresholds = thresholds
        # With top_k and no thresholds, every top-k prediction is positive (Keras's rule).
        self.thresholds = (
            [-float("inf")] if thresholds is None and top_k else _thresholds(owner, thresholds)
        )
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"{owner}: top_k must be a positive int or None, received {top_k!r}.")
        self.top_k, self.class_id = top_k, class_id
        self.reset_state()

    def reset_state(self) -> None:
        self.counts: dict[str, torch.Tensor] | None = None

    def update_state(self, y_true: Any, y_pred: torch.Tensor, sample_weight: Any = None) -> None:
        with torch.no_grad():
            y_pred = y_pred.detach()
            y_true = _as(y_true, y_pred)
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
            if self.top_k is not None:
                kept = y_pred.topk(min(self.top_k, y_pred.shape[-1]), dim=-1).indices
                top = torch.zeros_like(y_pred, dtype=torch.bool).scatter_(-1, kept, True)
                y_pred = torch.where(top, y_pred, torch.full_like(y_pred, -float("inf")))
            if self.class_id is not None:
                y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
            truth = (y_true > 0.5).reshape(-1)
            scores = y_pred.reshape(-1)
            weight = torch.ones_like(scores)
            if sample_weight is not None:
                w = torch.as_tensor(sample_weight, device=scores.device, dtype=scores.dtype)
                w = w.reshape(w.shape + (1,) * (y_pred.ndim - w.ndim))
                weight = torch.broadcast_to(w, y_pred.shape).reshape(-1)
            thresholds = torch.tensor(self.thresholds, device=scores.device, dtype=scores.dtype)
            predicted = scores.unsqueeze(0) > thresholds.unsqueeze(1)  # (thresholds, n)

            def total(hits: torch.Tensor) -> torch.Tensor:
                return hits.to(weight.dtype) @ weight

            batch = {
                "tp": total(predicted & truth),
                "fp": total(predicted & ~truth),
                "tn": total(~predicted & ~truth),
                "fn": total(~predicted & truth),
            }
            if self.counts is None:
                self.counts = batch
            else:
                for key, value in batch.items():
                    self.counts[key].add_(value)

    def _count(self, key: str) -> torch.Tensor:
        return self.counts[key] if self.counts is not None else torch.zeros(len(self.thresholds))

    def _single(self, value: torch.Tensor) -> torch.Tensor:
        return value[0] if isinstance(self.init_thresholds, (int, float, type(None))) else value

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "thresholds": self.init_thresholds}


def _divide_no_nan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > 0, a / torch.where(b > 0, b, torch.ones_like(b)), torch.zeros_like(a))


class _Count(_Confusion):
    _key = "tp"

    def __init__(
        self,
        thresholds: float | Sequence[float] | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(thresholds, name=name, dtype=dtype)

    def result(self) -> torch.Tensor:
        return self._single(self._count(self._key))


class TruePositives(_Count):
    """The weighted number of positives predicted positive (above `thresholds`).

    Example:
        >>> import torch
        >>> m = TruePositives()
        >>> m.update_state(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> float(m.result())
        2.0
    """

    _key = "tp"


class FalsePositives(_Count):
    """The weighted number of negatives predicted positive."""

    _key = "fp"


class TrueNegatives(_Count):
    """The weighted number of negatives predicted negative."""

    _key = "tn"


class FalseNegatives(_Count):
    """The weighted number of positives predicted negative."""

    _key = "fn"


class Precision(_Confusion):
    """`tp / (tp + fp)`: how many predicted positives are positive (0 before any).

    Args:
        thresholds: a prediction above it is positive (default 0.5); a list gives one value
            per threshold.
        top_k: only each row's `k` largest predictions can be positive.
        class_id: the column (class) to measure.

    Example:
        >>> import torch
        >>> m = Precision()
        >>> m.update_state(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> round(float(m.result()), 4)
        0.6667
    """

    direction = "up"

    def result(self) -> torch.Tensor:
        tp = self._count("tp")
        return self._single(_divide_no_nan(tp, tp + self._count("fp")))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "top_k": self.top_k, "class_id": self.class_id}


class Recall(Precision):
    """`tp / (tp + fn)`: how many positives are predicted positive (0 before any); the
    arguments are `Precision`'s.

    Example:
        >>> import torch
        >>> m = Recall()
        >>> m.update_state(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> round(float(m.result()), 4)
        0.6667
    """

    def result(self) -> torch.Tensor:
        tp = self._count("tp")
        return self._single(_divide_no_nan(tp, tp + self._count("fn")))


class _AtConstraint(_Confusion):
    """The best of one rate where another reaches a target, over `num_thresholds` thresholds
    spread evenly over [0, 1] (Keras's grid)."""

    _target_name = "value"

    def __init__(
        self,
        value: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        owner = type(self).__name__
        if not 0 <= value <= 1:
            raise ValueError(f"{owner}: {self._target_name} must be in [0, 1], received {value!r}.")
        if not isinstance(num_thresholds, int) or not 1 <= num_thresholds <= 1_000_000:
            raise ValueError(
                f"{owner}: num_thresholds must be an int in [1, 1000000], received "
                f"{num_thresholds!r}."
            )
        grid = (
            [0.5]
            if num_thresholds == 1
            else [i / (num_thresholds - 1) for i in range(num_thresholds)]
        )
        super().__init__(grid, class_id=class_id, name=name, dtype=dtype)
        self.value, self.num_thresholds = float(value), num_thresholds

    def _rates(self) -> tuple[torch.Tensor, torch.Tensor]:
        tp = self._count("tp")
        precisions = _divide_no_nan(tp, tp + self._count("fp"))
        recalls = _divide_no_nan(tp, tp + self._count("fn"))
        return precisions, recalls

    @staticmethod
    def _best(constrained: torch.Tensor, dependent: torch.Tensor, target: float) -> torch.Tensor:
        feasible = constrained >= target
        if not bool(feasible.any()):
            return torch.zeros((), dtype=dependent.dtype)
        return dependent[feasible].max()

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            self._target_name: self.value,
            "num_thresholds": self.num_thresholds,
            "class_id": self.class_id,
        }


class PrecisionAtRecall(_AtConstraint):
    """The best precision among the thresholds whose recall is at least `recall`.

    Example:
        >>> import torch
        >>> m = PrecisionAtRecall(recall=0.5)
        >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.6, 0.4, 0.9]))
        >>> float(m.result())
        1.0
    """

    direction = "up"
    _target_name = "recall"

    def __init__(
        self,
        recall: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self) -> torch.Tensor:
        precisions, recalls = self._rates()
        return self._best(recalls, precisions, self.value)


class RecallAtPrecision(_AtConstraint):
    """The best recall among the thresholds whose precision is at least `precision`."""

    direction = "up"
    _target_name = "precision"

    def __init__(
        self,
        precision: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self) -> torch.Tensor:
        precisions, recalls = self._rates()
        return self._best(precisions, recalls, self.value)


__all__ = [
    "FalseNegatives",
    "FalsePositives",
    "Precision",
    "PrecisionAtRecall",
    "Recall",
    "RecallAtPrecision",
    "TrueNegatives",
    "TruePositives",
]
