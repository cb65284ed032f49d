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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lamina import losses as losses_module
from lamina.losses import squeeze_or_expand_to_same_rank

__all__ = [
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "Mean",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "resolve",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]


# ---------------------------------------------------------------------------- functions
def accuracy(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """1 where the prediction equals the label exactly, else 0, averaged over the last axis."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(_as(y_true, y_pred), y_pred)
    return (y_true == y_pred.to(y_true.dtype)).float().mean(-1)


def binary_accuracy(y_true: Any, y_pred: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """How often `y_pred > threshold` matches the 0/1 label, averaged over the last axis."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(_as(y_true, y_pred), y_pred)
    return ((y_pred > threshold) == (y_true > 0.5)).float().mean(-1)


def categorical_accuracy(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """How often the predicted class (argmax) matches the one-hot label's class."""
    y_true = _as(y_true, y_pred)
    return (y_true.argmax(-1) == y_pred.argmax(-1)).float()


def sparse_categorical_accuracy(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """How often the predicted class (argmax) matches the integer label."""
    y_true = _sparse_labels(_as(y_true, y_pred), y_pred)
    return (y_true == y_pred.argmax(-1)).float()


def top_k_categorical_accuracy(y_true: Any, y_pred: torch.Tensor, k: int = 5) -> torch.Tensor:
    """How often the one-hot label's class is among the `k` highest predictions."""
    return sparse_top_k_categorical_accuracy(_as(y_true, y_pred).argmax(-1), y_pred, k)


def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: torch.Tensor, k: int = 5
) -> torch.Tensor:
    """How often the integer label is among the `k` highest predictions."""
    y_true = _sparse_labels(_as(y_true, y_pred), y_pred)
    top = y_pred.topk(min(k, y_pred.shape[-1]), dim=-1).indices
    return (top == y_true.unsqueeze(-1)).any(-1).float()


def _as(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(y_true, device=y_pred.device)


def _sparse_labels(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true.long()


# ---------------------------------------------------------------------------- classes
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


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly (for `"accuracy"` in `compile`, see the
    module docstring: that picks the binary, categorical or sparse variant)."""

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


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from confusion counts at fixed thresholds.

    Args:
        num_thresholds: how many thresholds split [0, 1] (more: closer to the exact area).
        curve: `"ROC"` or `"PR"`.
        summation_method: `"interpolation"` (trapezoids; for PR, Davis & Goadrich's
            interpolation), `"minoring"` or `"majoring"`.
        name: the metric's name.
        from_logits: apply a sigmoid to the predictions first.

    Example:
        >>> import torch
        >>> from lamina.metrics import AUC
        >>> auc = AUC()
        >>> auc.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8]))
        >>> round(float(auc.result()), 2)
        0.75
    """

    direction = "up"

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: Any = None,
        from_logits: bool = False,
    ) -> None:
        super().__init__(name=name or "auc")
        if num_thresholds < 2:
            raise ValueError(f"AUC: num_thresholds must be > 1, received {num_thresholds}.")
        if curve.upper() not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', received {curve!r}.")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(
                "AUC: summation_method must be 'interpolation', 'minoring' or 'majoring', "
                f"received {summation_method!r}."
            )
        self.num_thresholds = num_thresholds
        self.curve = curve.upper()
        self.summation_method = summation_method
        self.from_logits = from_logits
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        # Keras's grid: the ends sit just outside [0, 1] so 0 and 1 predictions count.
        self.thresholds = torch.tensor([-1e-7, *inner, 1.0 + 1e-7], dtype=torch.float64)
        self.reset_state()

    def reset_state(self) -> None:
        self.counts: torch.Tensor | None = None  # (4, T): tp, fp, tn, fn

    def update_state(self, y_true: Any, y_pred: torch.Tensor, sample_weight: Any = None) -> None:
        with torch.no_grad():
            y_pred = y_pred.detach()
            if self.from_logits:
                y_pred = torch.sigmoid(y_pred)
            y_true, y_pred = squeeze_or_expand_to_same_rank(_as(y_true, y_pred), y_pred)
            label = (y_true > 0.5).reshape(-1, 1).to(torch.float64)
            pred = y_pred.reshape(-1, 1).to(torch.float64)
            if sample_weight is None:
                weight = torch.ones_like(label)
            else:
                weight = torch.as_tensor(sample_weight, device=pred.device, dtype=torch.float64)
                weight = torch.broadcast_to(
                    weight.reshape(weight.shape + (1,) * (y_pred.ndim - weight.ndim)),
                    y_pred.shape,
                ).reshape(-1, 1)
            above = (pred > self.thresholds.to(pred.device)).to(torch.float64)
            tp = (above * label * weight).sum(0)
            fp = (above * (1 - label) * weight).sum(0)
            fn = ((1 - above) * label * weight).sum(0)
            tn = ((1 - above) * (1 - label) * weight).sum(0)
            counts = torch.stack([tp, fp, tn, fn])
            self.counts = counts if self.counts is None else self.counts + counts

    def result(self) -> torch.Tensor:
        if self.counts is None:
            return torch.tensor(0.0)
        tp, fp, tn, fn = self.counts
        n = self.num_thresholds
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr(tp, fp, fn).float()
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div(fp, fp + tn), recall
        else:
            x, y = recall, _div(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[: n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[: n - 1], y[1:])
        else:
            heights = torch.maximum(y[: n - 1], y[1:])
        return ((x[: n - 1] - x[1:]) * heights).sum().float()

    def _interpolate_pr(self, tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
        # Davis & Goadrich (2006): precision is interpolated along the line between
        # neighbouring thresholds, as Keras's AUC(curve="PR") does.
        n = self.num_thresholds
        dtp = tp[: n - 1] - tp[1:]
        p = tp + fp
        dp = p[: n - 1] - p[1:]
        slope = _div(dtp, torch.clamp(dp, min=0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[: n - 1] > 0) & (p[1:] > 0)
        ratio = torch.where(
            both, _div(p[: n - 1], torch.clamp(p[1:], min=0)), torch.ones_like(p[1:])
        )
        increments = _div(
            slope * (dtp + intercept * torch.log(ratio)), torch.clamp(tp[1:] + fn[1:], min=0)
        )
        return increments.sum()

    def get_config(self) -> dict[str, Any]:
        return {
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "name": self.name,
            "from_logits": self.from_logits,
        }


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > 0, a / torch.where(b > 0, b, torch.ones_like(b)), torch.zeros_like(a))


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
        return deserialize(identifier, custom_objects=custom_objects)
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
