"""Metrics with Keras's names: stateful objects that accumulate over an epoch.

A metric's state is kept in torch tensors on the data's device and updated without leaving
torch, so `fit` never waits for a number it does not show; `result()` returns a 0-d tensor and
only the progress bar and the logs turn it into a Python float.

`compile(metrics=["accuracy"])` picks binary, categorical or sparse categorical accuracy from
the shapes of the first batch, as Keras does: binary when the output's last axis is 1, sparse
when the labels have one axis fewer than the output (or a last axis of 1 against several
classes), categorical otherwise.

Example:
    >>> import torch
    >>> from lamina import metrics
    >>> m = metrics.SparseCategoricalAccuracy()
    >>> m.update_state(torch.tensor([0, 1]), torch.tensor([[0.9, 0.1], [0.8, 0.2]]))
    >>> float(m.result())
    0.5

The package holds `metric` (the `Metric` base class, `Mean` and `MeanMetricWrapper`),
`classes` (the metrics that average a per-sample function, and those functions) and `auc`;
this module re-exports them and looks metrics up by name (`get`, `resolve`, `serialize`,
`deserialize`).
"""

from __future__ import annotations

from typing import Any, cast

import torch

from lamina.metrics.auc import AUC as AUC
from lamina.metrics.classes import Accuracy as Accuracy
from lamina.metrics.classes import BinaryAccuracy as BinaryAccuracy
from lamina.metrics.classes import BinaryCrossentropy as BinaryCrossentropy
from lamina.metrics.classes import CategoricalAccuracy as CategoricalAccuracy
from lamina.metrics.classes import CategoricalCrossentropy as CategoricalCrossentropy
from lamina.metrics.classes import MeanAbsoluteError as MeanAbsoluteError
from lamina.metrics.classes import MeanSquaredError as MeanSquaredError
from lamina.metrics.classes import RootMeanSquaredError as RootMeanSquaredError
from lamina.metrics.classes import SparseCategoricalAccuracy as SparseCategoricalAccuracy
from lamina.metrics.classes import SparseCategoricalCrossentropy as SparseCategoricalCrossentropy
from lamina.metrics.classes import SparseTopKCategoricalAccuracy as SparseTopKCategoricalAccuracy
from lamina.metrics.classes import TopKCategoricalAccuracy as TopKCategoricalAccuracy
from lamina.metrics.classes import accuracy as accuracy
from lamina.metrics.classes import binary_accuracy as binary_accuracy
from lamina.metrics.classes import categorical_accuracy as categorical_accuracy
from lamina.metrics.classes import sparse_categorical_accuracy as sparse_categorical_accuracy
from lamina.metrics.classes import (
    sparse_top_k_categorical_accuracy as sparse_top_k_categorical_accuracy,
)
from lamina.metrics.classes import top_k_categorical_accuracy as top_k_categorical_accuracy
from lamina.metrics.confusion import FalseNegatives as FalseNegatives
from lamina.metrics.confusion import FalsePositives as FalsePositives
from lamina.metrics.confusion import Precision as Precision
from lamina.metrics.confusion import PrecisionAtRecall as PrecisionAtRecall
from lamina.metrics.confusion import Recall as Recall
from lamina.metrics.confusion import RecallAtPrecision as RecallAtPrecision
from lamina.metrics.confusion import TrueNegatives as TrueNegatives
from lamina.metrics.confusion import TruePositives as TruePositives
from lamina.metrics.fbeta import F1Score as F1Score
from lamina.metrics.fbeta import FBetaScore as FBetaScore
from lamina.metrics.metric import Mean as Mean
from lamina.metrics.metric import MeanMetricWrapper as MeanMetricWrapper
from lamina.metrics.metric import Metric as Metric
from lamina.metrics.regression import CategoricalHinge as CategoricalHinge
from lamina.metrics.regression import Hinge as Hinge
from lamina.metrics.regression import LogCoshError as LogCoshError
from lamina.metrics.regression import MeanIoU as MeanIoU
from lamina.metrics.regression import R2Score as R2Score
from lamina.metrics.regression import SquaredHinge as SquaredHinge

__all__ = [
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "F1Score",
    "FBetaScore",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "LogCoshError",
    "Mean",
    "MeanAbsoluteError",
    "MeanIoU",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "Precision",
    "PrecisionAtRecall",
    "R2Score",
    "Recall",
    "RecallAtPrecision",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SquaredHinge",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "resolve",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]

# ---------------------------------------------------------------------------- lookup
_CLASSES: dict[str, type[Metric]] = {
    cls.__name__: cls
    for cls in (
        AUC,
        Accuracy,
        BinaryAccuracy,
        BinaryCrossentropy,
        CategoricalAccuracy,
        CategoricalCrossentropy,
        Mean,
        MeanAbsoluteError,
        MeanSquaredError,
        RootMeanSquaredError,
        SparseCategoricalAccuracy,
        SparseCategoricalCrossentropy,
        SparseTopKCategoricalAccuracy,
        TopKCategoricalAccuracy,
        FalseNegatives,
        FalsePositives,
        Precision,
        PrecisionAtRecall,
        Recall,
        RecallAtPrecision,
        TrueNegatives,
        TruePositives,
        F1Score,
        FBetaScore,
        CategoricalHinge,
        Hinge,
        LogCoshError,
        MeanIoU,
        R2Score,
        SquaredHinge,
    )
}

_NAMES: dict[str, type[Metric]] = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "rmse": RootMeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError,
    "auc": AUC,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "precision": Precision,
    "recall": Recall,
    "f1_score": F1Score,
    "fbeta_score": FBetaScore,
    "r2_score": R2Score,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "logcosh": LogCoshError,
    "log_cosh_error": LogCoshError,
    "true_positives": TruePositives,
    "true_negatives": TrueNegatives,
    "false_positives": FalsePositives,
    "false_negatives": FalseNegatives,
}

# Names whose metric depends on the shapes of labels and outputs (see `resolve`).
SHAPE_DEPENDENT = ("accuracy", "acc", "crossentropy", "ce")


def names() -> list[str]:
    """Every metric name `get` and `compile(metrics=...)` accept."""
    return sorted({*SHAPE_DEPENDENT, *_NAMES, *_CLASSES})


def get(identifier: Any, *, custom_objects: dict[str, Any] | None = None) -> Metric:
    """A `Metric` from a name, a config dict, a `Metric`, or a callable `(y_true, y_pred)`.

    `"accuracy"` here is exact-match `Accuracy`; `compile` resolves it by shapes instead
    (see `resolve`).
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return cast("Metric", deserialize(identifier, custom_objects=custom_objects))
    if isinstance(identifier, str):
        if custom_objects and identifier in custom_objects:
            return get(custom_objects[identifier])
        if identifier in ("accuracy", "acc"):
            return Accuracy(name=identifier)
        cls = _NAMES.get(identifier) or _NAMES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown metric {identifier!r}. Known names: {', '.join(names())}; or pass a "
                "Metric object or any function (y_true, y_pred) -> per-sample values."
            )
        metric = cls()
        if identifier in _NAMES:
            metric.name = identifier  # Keras logs a metric under the name it was given
        return metric
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        f"Expected a metric name, a Metric or a callable, received "
        f"{type(identifier).__name__} ({identifier!r})."
    )


def resolve(identifier: Any, y_true: torch.Tensor, y_pred: torch.Tensor) -> Metric:
    """The metric `compile(metrics=[identifier])` means for labels and outputs of these shapes.

    `"accuracy"`/`"acc"` and `"crossentropy"`/`"ce"` become the binary variant when the output's
    last axis is 1, the sparse one when the labels have one axis fewer than the output (or a
    last axis of 1 against several classes), and the categorical one otherwise, as in Keras.
    """
    if not (isinstance(identifier, str) and identifier in SHAPE_DEPENDENT):
        return get(identifier)
    binary = y_pred.ndim > 0 and y_pred.shape[-1] == 1
    sparse = y_true.ndim < y_pred.ndim or (
        y_true.ndim > 0 and y_true.shape[-1] == 1 and y_pred.ndim > 0 and y_pred.shape[-1] > 1
    )
    if y_pred.ndim == 1:
        binary = True
    if identifier in ("accuracy", "acc"):
        cls: type[Metric] = (
            BinaryAccuracy
            if binary
            else SparseCategoricalAccuracy
            if sparse
            else CategoricalAccuracy
        )
    else:
        cls = (
            BinaryCrossentropy
            if binary
            else SparseCategoricalCrossentropy
            if sparse
            else CategoricalCrossentropy
        )
    metric = cls()
    metric.name = identifier
    return metric


def serialize(metric: Any) -> Any:
    """A JSON-compatible description: the name for a metric given by name, else
    `{"class_name": ..., "config": ...}`."""
    if isinstance(metric, str):
        return metric
    if not isinstance(metric, Metric):
        metric = get(metric)
    if type(metric) is MeanMetricWrapper:
        from lamina.saving.registry import get_registered_name

        return {
            "class_name": "function",
            "config": {"function": get_registered_name(metric.fn), **metric.get_config()},
        }
    if _CLASSES.get(type(metric).__name__) is type(metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    from lamina.saving.registry import get_registered_name

    return {"class_name": get_registered_name(type(metric)), "config": metric.get_config()}


def deserialize(config: Any, *, custom_objects: dict[str, Any] | None = None) -> Any:
    """The metric (or metric name) that `serialize` described."""
    if isinstance(config, str):
        return config
    from lamina.saving.registry import deserialize_object

    return deserialize_object(
        config,
        kind="Metric",
        builtins=_CLASSES,
        wrap_function=MeanMetricWrapper,
        custom_objects=custom_objects,
    )
