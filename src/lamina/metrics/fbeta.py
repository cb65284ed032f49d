"""`FBetaScore` and `F1Score`: per-class precision and recall combined, with Keras's
`average` choices and its epsilon-guarded divisions."""

from __future__ import annotations

from typing import Any, cast

import torch

from lamina.metrics.classes import _as
from lamina.metrics.metric import Metric

_EPSILON = 1e-7  # Keras's backend epsilon, which its F-score divisions add


class FBetaScore(Metric):
    """The F-beta score of multi-label or one-hot `(batch, classes)` predictions.

    Args:
        average: `None` (one score per class), `"micro"` (from the summed counts), `"macro"`
            (the mean of the per-class scores) or `"weighted"` (their mean weighted by each
            class's number of positives).
        beta: the weight of recall against precision.
        threshold: predictions above it are positive; `None` makes each row's largest one
            positive (its argmax), as Keras does.

    Example:
        >>> import torch
        >>> m = FBetaScore(beta=2.0, threshold=0.5, average="micro")
        >>> m.update_state(torch.tensor([[1.0, 0.0], [1.0, 1.0]]),
        ...                torch.tensor([[0.9, 0.8], [0.2, 0.7]]))
        >>> round(float(m.result()), 4)
        0.6667
    """

    direction = "up"

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str = "fbeta_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name)
        owner = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                f"{owner}: average must be None, 'micro', 'macro' or 'weighted', received "
                f"{average!r}."
            )
        if not isinstance(beta, (int, float)) or beta <= 0:
            raise ValueError(f"{owner}: beta must be a positive number, received {beta!r}.")
        if threshold is not None and not 0 <= threshold <= 1:
            raise ValueError(f"{owner}: threshold must be in [0, 1] or None, received {threshold}.")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self.reset_state()

    def reset_state(self) -> None:
        self.counts: torch.Tensor | None = None  # (3, classes): tp, fp, fn

    def update_state(self, y_true: Any, y_pred: torch.Tensor, sample_weight: Any = None) -> None:
        with torch.no_grad():
            y_pred = y_pred.detach()
            if y_pred.ndim != 2:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': expected predictions of shape "
                    f"(batch, classes), received {tuple(y_pred.shape)}."
                )
            y_true = _as(y_true, y_pred).reshape(y_pred.shape)
            if self.threshold is None:
                best = y_pred.max(dim=-1, keepdim=True).values
                predicted = (y_pred >= best).to(y_pred.dtype)
            else:
                predicted = (y_pred > self.threshold).to(y_pred.dtype)
            w = torch.ones_like(y_pred[:, :1])
            if sample_weight is not None:
                w = torch.as_tensor(sample_weight, device=y_pred.device, dtype=y_pred.dtype)
                w = w.reshape(-1, 1)
            hits = predicted * y_true
            batch = torch.stack(
                [
                    (hits * w).sum(0),
                    ((predicted - hits) * w).sum(0),
                    ((y_true - hits) * w).sum(0),
                ]
            )
            if self.counts is None:
                self.counts = batch
            else:
                self.counts.add_(batch)

    def result(self) -> torch.Tensor:
        if self.counts is None:
            return torch.tensor(0.0)
        tp, fp, fn = self.counts
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = tp / (tp + fp + _EPSILON)
        recall = tp / (tp + fn + _EPSILON)
        squared = self.beta**2
        score: torch.Tensor = (
            (1 + squared) * precision * recall / (squared * precision + recall + _EPSILON)
        )
        if self.average == "macro":
            return score.mean()
        if self.average == "weighted":
            support = tp + fn
            return cast(torch.Tensor, (score * support / support.sum()).sum())
        return score

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """`FBetaScore` with `beta=1`: the harmonic mean of precision and recall."""

    def __init__(
        self,
        average: str | None = None,
        threshold: float | None = None,
        name: str = "f1_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["beta"]
        return config


__all__ = ["F1Score", "FBetaScore"]
