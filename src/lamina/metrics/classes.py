"""The metrics that average a per-sample function, and the accuracy functions they use.

Accuracies, errors and crossentropies are each a `MeanMetricWrapper` around one function: the
accuracy functions here, or the loss functions of `lamina.losses`. `AUC`, which keeps
confusion counts instead, is in `auc`.
"""

from __future__ import annotations

from typing import Any, cast

import torch

from lamina import losses as losses_module
from lamina.losses import squeeze_or_expand_to_same_rank
from lamina.metrics.metric import MeanMetricWrapper


# ---------------------------------------------------------------------------- functions
def accuracy(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """1 where the prediction equals the label exactly, else 0, averaged over the last axis."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(_as(y_true, y_pred), y_pred)
    return cast(torch.Tensor, (y_true == y_pred.to(y_true.dtype)).float().mean(-1))


def binary_accuracy(y_true: Any, y_pred: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """How often `y_pred > threshold` matches the 0/1 label, averaged over the last axis."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(_as(y_true, y_pred), y_pred)
    return cast(torch.Tensor, ((y_pred > threshold) == (y_true > 0.5)).float().mean(-1))


def categorical_accuracy(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """How often the predicted class (argmax) matches the one-hot label's class."""
    y_true = _as(y_true, y_pred)
    return cast(torch.Tensor, (y_true.argmax(-1) == y_pred.argmax(-1)).float())


def sparse_categorical_accuracy(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """How often the predicted class (argmax) matches the integer label."""
    y_true = _sparse_labels(_as(y_true, y_pred), y_pred)
    return cast(torch.Tensor, (y_true == y_pred.argmax(-1)).float())


def top_k_categorical_accuracy(y_true: Any, y_pred: torch.Tensor, k: int = 5) -> torch.Tensor:
    """How often the one-hot label's class is among the `k` highest predictions."""
    return sparse_top_k_categorical_accuracy(_as(y_true, y_pred).argmax(-1), y_pred, k)


def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: torch.Tensor, k: int = 5
) -> torch.Tensor:
    """How often the integer label is among the `k` highest predictions."""
    y_true = _sparse_labels(_as(y_true, y_pred), y_pred)
    top = y_pred.topk(min(k, y_pred.shape[-1]), dim=-1).indices
    return cast(torch.Tensor, (top == y_true.unsqueeze(-1)).any(-1).float())


def _as(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(y_true, device=y_pred.device)


def _sparse_labels(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true.long()


# ---------------------------------------------------------------------------- classes
class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly (for `"accuracy"` in `compile`, see the
    `lamina.metrics` docstring: that picks the binary, categorical or sparse variant)."""

    def __init__(self, name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(accuracy, name=name, direction="up")


class BinaryAccuracy(MeanMetricWrapper):
    """How often `y_pred > threshold` matches 0/1 labels."""

    def __init__(
        self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5
    ) -> None:
        super().__init__(binary_accuracy, name=name, direction="up", threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of the prediction matches the one-hot label's class."""

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(categorical_accuracy, name=name, direction="up")


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of the prediction matches the integer label."""

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, direction="up")


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the top `k` predictions."""

    def __init__(
        self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Any = None
    ) -> None:
        super().__init__(top_k_categorical_accuracy, name=name, direction="up", k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the top `k` predictions."""

    def __init__(
        self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype: Any = None
    ) -> None:
        super().__init__(sparse_top_k_categorical_accuracy, name=name, direction="up", k=k)


class MeanSquaredError(MeanMetricWrapper):
    """The mean squared error over all samples."""

    def __init__(self, name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(losses_module.mean_squared_error, name=name)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean absolute error over all samples."""

    def __init__(self, name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(losses_module.mean_absolute_error, name=name)


class RootMeanSquaredError(MeanMetricWrapper):
    """The square root of the mean squared error over all samples."""

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None) -> None:
        super().__init__(losses_module.mean_squared_error, name=name)

    def result(self) -> torch.Tensor:
        return torch.sqrt(super().result())


class BinaryCrossentropy(MeanMetricWrapper):
    """The mean binary crossentropy."""

    def __init__(
        self,
        name: str = "binary_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(
            losses_module.binary_crossentropy,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )


class CategoricalCrossentropy(MeanMetricWrapper):
    """The mean categorical crossentropy."""

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(
            losses_module.categorical_crossentropy,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """The mean sparse categorical crossentropy."""

    def __init__(
        self,
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
    ) -> None:
        super().__init__(
            losses_module.sparse_categorical_crossentropy, name=name, from_logits=from_logits
        )
