"""`R2Score`, `MeanIoU`, and the hinge and log-cosh metrics (the means of the losses of those
names), with Keras's arguments."""

from __future__ import annotations

from typing import Any

import torch

from lamina.losses import functions as loss_functions
from lamina.losses import squeeze_or_expand_to_same_rank
from lamina.losses.extra import categorical_hinge
from lamina.metrics.classes import _as
from lamina.metrics.metric import MeanMetricWrapper, Metric


class Hinge(MeanMetricWrapper):
    """The mean of `max(0, 1 - y_true * y_pred)` (labels -1/1; 0/1 are converted)."""

    def __init__(self, name: str = "hinge", dtype: Any = None) -> None:
        super().__init__(loss_functions.hinge, name=name)


class SquaredHinge(MeanMetricWrapper):
    """The mean of `max(0, 1 - y_true * y_pred) ** 2`."""

    def __init__(self, name: str = "squared_hinge", dtype: Any = None) -> None:
        super().__init__(loss_functions.squared_hinge, name=name)


class CategoricalHinge(MeanMetricWrapper):
    """The mean of the categorical hinge of one-hot labels."""

    def __init__(self, name: str = "categorical_hinge", dtype: Any = None) -> None:
        super().__init__(categorical_hinge, name=name)


class LogCoshError(MeanMetricWrapper):
    """The mean of `log(cosh(y_pred - y_true))`."""

    def __init__(self, name: str = "logcosh", dtype: Any = None) -> None:
        super().__init__(loss_functions.log_cosh, name=name)


class R2Score(Metric):
    """The coefficient of determination of `(batch, outputs)` predictions.

    Args:
        class_aggregation: `"uniform_average"` (the mean over outputs),
            `"variance_weighted_average"` (weighted by each output's variance) or `None`
            (one score per output).
        num_regressors: for the adjusted R2 (0: plain R2), with `n` the number of samples
            (Keras 3 counts elements, `samples * outputs`, which differs with several
            outputs).

    Example:
        >>> import torch
        >>> m = R2Score()
        >>> m.update_state(torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([[1.0], [2.0], [4.0]]))
        >>> float(m.result())
        0.5
    """

    direction = "up"

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str = "r2_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name)
        allowed = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in allowed:
            raise ValueError(
                f"R2Score: class_aggregation must be one of {allowed}, received "
                f"{class_aggregation!r}."
            )
        if not isinstance(num_regressors, int) or num_regressors < 0:
            raise ValueError(
                f"R2Score: num_regressors must be a non-negative int, received {num_regressors!r}."
            )
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.reset_state()

    def reset_state(self) -> None:
        self.sums: torch.Tensor | None = None  # (4, outputs): w, w*y, w*y^2, w*residual^2
        self.samples = 0

    def update_state(self, y_true: Any, y_pred: torch.Tensor, sample_weight: Any = None) -> None:
        with torch.no_grad():
            y_pred = y_pred.detach()
            y_true = _as(y_true, y_pred)
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
            if y_pred.ndim == 1:
                y_true, y_pred = y_true.unsqueeze(-1), y_pred.unsqueeze(-1)
            w = torch.ones_like(y_pred)
            if sample_weight is not None:
                sw = torch.as_tensor(sample_weight, device=y_pred.device, dtype=y_pred.dtype)
                w = torch.broadcast_to(sw.reshape(-1, 1), y_pred.shape)
            batch = torch.stack(
                [w.sum(0), (w * y_true).sum(0), (w * y_true**2).sum(0),
                 (w * (y_true - y_pred) ** 2).sum(0)]
            )  # fmt: skip
            self.samples += y_pred.shape[0]
            if self.sums is None:
                self.sums = batch
            else:
                self.sums.add_(batch)

    def result(self) -> torch.Tensor:
        if self.sums is None:
            return torch.tensor(0.0)
        count, total, squares, residual = self.sums
        mean = total / count
        total_squares = squares - total * mean
        raw = torch.where(
            total_squares > 0,
            1.0 - residual / torch.where(total_squares > 0, total_squares, 1.0),
            torch.zeros_like(residual),
        )
        if self.class_aggregation == "uniform_average":
            score = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (raw * total_squares).sum() / total_squares.sum()
        else:
            score = raw
        if self.num_regressors:
            n, p = self.samples, self.num_regressors
            if n - p - 1 > 0:
                score = 1.0 - (1.0 - score) * (n - 1) / (n - p - 1)
        return score

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }


class MeanIoU(Metric):
    """The mean over classes of the intersection over union of integer predictions.

    Args:
        num_classes: the number of classes.
        ignore_class: a label to leave out.
        sparse_y_true, sparse_y_pred: whether labels / predictions are class ids (True) or
            per-class scores whose argmax is taken (False).

    Example:
        >>> import torch
        >>> m = MeanIoU(num_classes=2)
        >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]))
        >>> round(float(m.result()), 4)
        0.3333
    """

    direction = "up"

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        super().__init__(name=name or "mean_io_u")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"MeanIoU: num_classes must be a positive int, received {num_classes}."
            )
        self.num_classes, self.ignore_class = num_classes, ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        self.reset_state()

    def reset_state(self) -> None:
        self.matrix: torch.Tensor | None = None

    def update_state(self, y_true: Any, y_pred: torch.Tensor, sample_weight: Any = None) -> None:
        with torch.no_grad():
            y_pred = y_pred.detach()
            y_true = torch.as_tensor(y_true, device=y_pred.device)
            if not self.sparse_y_pred:
                y_pred = y_pred.argmax(self.axis)
            if not self.sparse_y_true:
                y_true = y_true.argmax(self.axis)
            truth, guess = y_true.reshape(-1).long(), y_pred.reshape(-1).long()
            weight = torch.ones(truth.shape, device=y_pred.device, dtype=torch.float64)
            if sample_weight is not None:
                weight = torch.as_tensor(sample_weight, device=y_pred.device).reshape(-1)
                weight = torch.broadcast_to(weight, truth.shape).to(torch.float64)
            if self.ignore_class is not None:
                weight = weight * (truth != self.ignore_class)
            n = self.num_classes
            index = (truth.clamp(0, n - 1) * n + guess.clamp(0, n - 1)).reshape(-1)
            batch = torch.zeros(n * n, dtype=torch.float64, device=y_pred.device)
            batch.index_add_(0, index, weight)
            if self.matrix is None:
                self.matrix = batch.reshape(n, n)
            else:
                self.matrix.add_(batch.reshape(n, n))

    def result(self) -> torch.Tensor:
        if self.matrix is None:
            return torch.tensor(0.0)
        matrix = self.matrix
        intersection = matrix.diagonal()
        union = matrix.sum(0) + matrix.sum(1) - intersection
        present = union > 0
        iou = intersection[present] / union[present]
        return (iou.sum() / present.sum().clamp(min=1)).float()

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


__all__ = [
    "CategoricalHinge",
    "Hinge",
    "LogCoshError",
    "MeanIoU",
    "R2Score",
    "SquaredHinge",
]
