"""The loss classes, one per loss function, with Keras's names and constructor arguments.

Each wraps its function from `functions`; the common ones override `_mean` with a fused torch
kernel, used when no sample weights are given and the reduction is a mean.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lamina.losses.functions import (
    EPSILON,
    _as_float,
    binary_crossentropy,
    categorical_crossentropy,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from lamina.losses.loss import LossFunctionWrapper


class MeanSquaredError(LossFunctionWrapper):
    """Mean of squared errors (`"mse"`)."""

    def __init__(
        self,
        name: str = "mean_squared_error",
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(mean_squared_error, name=name, reduction=reduction)

    def _mean(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        y_true, y_pred = _as_float(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            return self.call(y_true, y_pred).mean()
        return F.mse_loss(y_pred, y_true)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors (`"mae"`)."""

    def __init__(
        self,
        name: str = "mean_absolute_error",
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(mean_absolute_error, name=name, reduction=reduction)

    def _mean(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        y_true, y_pred = _as_float(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            return self.call(y_true, y_pred).mean()
        return F.l1_loss(y_pred, y_true)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """Mean of absolute errors relative to the labels, in percent (`"mape"`)."""

    def __init__(
        self,
        name: str = "mean_absolute_percentage_error",
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(mean_absolute_percentage_error, name=name, reduction=reduction)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Mean of squared differences of `log(1 + x)` (`"msle"`)."""

    def __init__(
        self,
        name: str = "mean_squared_logarithmic_error",
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(mean_squared_logarithmic_error, name=name, reduction=reduction)


class Huber(LossFunctionWrapper):
    """Huber loss: quadratic for errors below `delta`, linear above."""

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
        dtype: Any = None,
    ) -> None:
        super().__init__(huber, name=name, reduction=reduction, delta=float(delta))


class LogCosh(LossFunctionWrapper):
    """`log(cosh(error))`: like MSE for small errors and MAE for large ones."""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "log_cosh",
        dtype: Any = None,
    ) -> None:
        super().__init__(log_cosh, name=name, reduction=reduction)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary crossentropy, for 0/1 (or soft) labels, averaged over the last axis.

    Args:
        from_logits: whether `y_pred` holds logits (the stable choice) rather than
            probabilities.
        label_smoothing: squeeze labels towards 0.5 by this much.
        axis: the axis averaged over.
        reduction: see the `lamina.losses` docstring.
        name: the loss's name.

    Example:
        >>> import torch
        >>> from lamina.losses import BinaryCrossentropy
        >>> loss = BinaryCrossentropy(from_logits=True)
        >>> round(float(loss(torch.ones(1, 2), torch.zeros(1, 2))), 4)  # log(2)
        0.6931
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            binary_crossentropy,
            name=name,
            reduction=reduction,
            from_logits=from_logits,
            label_smoothing=float(label_smoothing),
            axis=axis,
        )
        self.from_logits = from_logits

    def _mean(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        kwargs = self._fn_kwargs
        y_true, y_pred = _as_float(y_true, y_pred)
        if kwargs["label_smoothing"] or y_true.shape != y_pred.shape:
            return self.call(y_true, y_pred).mean()
        # One fused kernel: the mean over all values equals the mean of per-sample means.
        if self.from_logits:
            return F.binary_cross_entropy_with_logits(y_pred, y_true)
        return F.binary_cross_entropy(torch.clamp(y_pred, EPSILON, 1.0 - EPSILON), y_true)


class CategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy for one-hot labels (`y_true` of the predictions' shape).

    Args:
        from_logits: whether `y_pred` holds logits rather than probabilities.
        label_smoothing: mix the labels with the uniform distribution by this much.
        axis: the class axis.
        reduction: see the `lamina.losses` docstring.
        name: the loss's name.
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            categorical_crossentropy,
            name=name,
            reduction=reduction,
            from_logits=from_logits,
            label_smoothing=float(label_smoothing),
            axis=axis,
        )


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy for integer labels (`y_true` without the class axis).

    Args:
        from_logits: whether `y_pred` holds logits rather than probabilities.
        reduction: see the `lamina.losses` docstring.
        name: the loss's name.

    Example:
        >>> import torch
        >>> from lamina.losses import SparseCategoricalCrossentropy
        >>> loss = SparseCategoricalCrossentropy(from_logits=True)
        >>> round(float(loss(torch.tensor([0]), torch.zeros(1, 4))), 4)  # log(4)
        1.3863
    """

    def __init__(
        self,
        from_logits: bool = False,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            sparse_categorical_crossentropy, name=name, reduction=reduction, from_logits=from_logits
        )
        self.from_logits = from_logits

    def _mean(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        if not self.from_logits or y_pred.ndim != 2:
            return self.call(y_true, y_pred).mean()
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        if y_true.ndim == 2 and y_true.shape[-1] == 1:
            y_true = y_true.squeeze(-1)
        return F.cross_entropy(y_pred, y_true.long())


class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence `sum(y_true * log(y_true / y_pred))` (`"kld"`)."""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "kl_divergence",
        dtype: Any = None,
    ) -> None:
        super().__init__(kl_divergence, name=name, reduction=reduction)


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along `axis`: minimizing it aligns predictions and labels."""

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosine_similarity",
        dtype: Any = None,
    ) -> None:
        super().__init__(cosine_similarity, name=name, reduction=reduction, axis=axis)


class Hinge(LossFunctionWrapper):
    """Hinge loss for labels -1/1 (0/1 are mapped to -1/1)."""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "hinge",
        dtype: Any = None,
    ) -> None:
        super().__init__(hinge, name=name, reduction=reduction)


class SquaredHinge(LossFunctionWrapper):
    """Squared hinge loss for labels -1/1 (0/1 are mapped to -1/1)."""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "squared_hinge",
        dtype: Any = None,
    ) -> None:
        super().__init__(squared_hinge, name=name, reduction=reduction)


class Poisson(LossFunctionWrapper):
    """Poisson loss, for count data."""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "poisson",
        dtype: Any = None,
    ) -> None:
        super().__init__(poisson, name=name, reduction=reduction)
