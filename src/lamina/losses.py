"""Losses with Keras's names, formulas and reductions, computed in torch.

Each loss exists as a function that returns one value per sample (``mean_squared_error``,
reducing only the last axis) and as a class that reduces those values to a scalar
(``MeanSquaredError``), as in Keras. ``compile(loss=...)`` accepts either, a name, or any
callable ``(y_true, y_pred) -> tensor``.

Reductions (``reduction=``): ``"sum_over_batch_size"`` (the default: the weighted sum divided
by the number of values), ``"sum"``, ``"mean_with_sample_weight"`` (the weighted sum divided by
the sum of the weights) and ``None``/``"none"`` (no reduction).

Example:
    >>> import torch
    >>> from lamina import losses
    >>> y_true = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    >>> y_pred = torch.tensor([[0.5, 1.0], [1.0, 0.0]])
    >>> losses.mean_squared_error(y_true, y_pred)
    tensor([0.1250, 0.5000])
    >>> losses.MeanSquaredError()(y_true, y_pred)
    tensor(0.3125)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "binary_crossentropy",
    "categorical_crossentropy",
    "cosine_similarity",
    "deserialize",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "serialize",
    "sparse_categorical_crossentropy",
    "squared_hinge",
]

EPSILON = 1e-7
"""Keras's fuzz factor: probabilities are clipped to [EPSILON, 1 - EPSILON] before a log."""

REDUCTIONS = (None, "none", "sum", "sum_over_batch_size", "mean", "mean_with_sample_weight")


# ---------------------------------------------------------------------------- shape helpers
def squeeze_or_expand_to_same_rank(
    x1: torch.Tensor, x2: torch.Tensor, *, expand_rank_1: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Make two tensors whose ranks differ by one the same rank, as Keras does.

    A trailing axis of size 1 is dropped from the larger (labels `(N, 1)` against predictions
    `(N,)`); otherwise the smaller gains one (`(N,)` against `(N, 1)`).
    """
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1:
        if x1.shape[-1] == 1 and (r2 > 0 or expand_rank_1):
            return x1.squeeze(-1), x2
        return x1, x2.unsqueeze(-1)
    if r2 == r1 + 1:
        if x2.shape[-1] == 1 and (r1 > 0 or expand_rank_1):
            return x1, x2.squeeze(-1)
        return x1.unsqueeze(-1), x2
    return x1, x2


def _as_float(y_true: Any, y_pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.dtype != y_pred.dtype and y_pred.is_floating_point():
        y_true = y_true.to(y_pred.dtype)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


# ---------------------------------------------------------------------------- functions
def mean_squared_error(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean((y_true - y_pred) ** 2)` over the last axis."""
    y_true, y_pred = _as_float(y_true, y_pred)
    return torch.square(y_pred - y_true).mean(-1)


def mean_absolute_error(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean(|y_true - y_pred|)` over the last axis."""
    y_true, y_pred = _as_float(y_true, y_pred)
    return torch.abs(y_pred - y_true).mean(-1)


def mean_absolute_percentage_error(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """`100 * mean(|(y_true - y_pred) / y_true|)` over the last axis (denominator >= 1e-7)."""
    y_true, y_pred = _as_float(y_true, y_pred)
    diff = torch.abs((y_true - y_pred) / torch.clamp(torch.abs(y_true), min=EPSILON))
    return 100.0 * diff.mean(-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean((log(1 + y_pred) - log(1 + y_true)) ** 2)` over the last axis."""
    y_true, y_pred = _as_float(y_true, y_pred)
    first = torch.log(torch.clamp(y_pred, min=EPSILON) + 1.0)
    second = torch.log(torch.clamp(y_true, min=EPSILON) + 1.0)
    return torch.square(first - second).mean(-1)


def huber(y_true: Any, y_pred: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Quadratic for errors below `delta`, linear above; mean over the last axis."""
    y_true, y_pred = _as_float(y_true, y_pred)
    return F.huber_loss(y_pred, y_true, reduction="none", delta=delta).mean(-1)


def log_cosh(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean(log(cosh(y_pred - y_true)))` over the last axis, computed without overflow."""
    y_true, y_pred = _as_float(y_true, y_pred)
    x = y_pred - y_true
    return (x + F.softplus(-2.0 * x) - math.log(2.0)).mean(-1)


def binary_crossentropy(
    y_true: Any,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Binary crossentropy averaged over `axis`.

    Probabilities are clipped to `[1e-7, 1 - 1e-7]` as in Keras; with `from_logits=True` the
    stable `binary_cross_entropy_with_logits` is used instead.
    """
    y_true, y_pred = _as_float(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        values = F.binary_cross_entropy(
            torch.clamp(y_pred, EPSILON, 1.0 - EPSILON), y_true, reduction="none"
        )
    return values.mean(axis)


def categorical_crossentropy(
    y_true: Any,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Crossentropy between one-hot (or soft) labels and predicted class probabilities.

    Without `from_logits`, `y_pred` is renormalized to sum to one and clipped, as in Keras.
    """
    y_true, y_pred = _as_float(y_true, y_pred)
    if label_smoothing:
        classes = y_pred.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    return -(y_true * _log_probabilities(y_pred, from_logits, axis)).sum(axis)


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    axis: int = -1,
) -> torch.Tensor:
    """Crossentropy between integer class labels and predicted class probabilities.

    `y_true` has the shape of `y_pred` without `axis` (or with a size-1 `axis`).
    """
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = y_true.squeeze(axis)
    log_prob = _log_probabilities(y_pred, from_logits, axis)
    if axis not in (-1, y_pred.ndim - 1):
        log_prob = log_prob.movedim(axis, -1)
    index = y_true.long().unsqueeze(-1)
    return -log_prob.gather(-1, index).squeeze(-1)


def _log_probabilities(y_pred: torch.Tensor, from_logits: bool, axis: int) -> torch.Tensor:
    if from_logits:
        return F.log_softmax(y_pred, dim=axis)
    y_pred = y_pred / y_pred.sum(axis, keepdim=True)
    return torch.log(torch.clamp(y_pred, EPSILON, 1.0 - EPSILON))


def kl_divergence(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """`sum(y_true * log(y_true / y_pred))` over the last axis, both clipped to [1e-7, 1]."""
    y_true, y_pred = _as_float(y_true, y_pred)
    y_true = torch.clamp(y_true, EPSILON, 1.0)
    y_pred = torch.clamp(y_pred, EPSILON, 1.0)
    return (y_true * torch.log(y_true / y_pred)).sum(-1)


def cosine_similarity(y_true: Any, y_pred: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Negative cosine similarity along `axis` (-1: same direction, 1: opposite), as Keras."""
    y_true, y_pred = _as_float(y_true, y_pred)
    return -(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis)).sum(axis)


def _l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    return x * torch.rsqrt(torch.clamp(torch.square(x).sum(axis, keepdim=True), min=1e-12))


def hinge(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean(max(1 - y_true * y_pred, 0))`; labels 0/1 are mapped to -1/1."""
    y_true, y_pred = _as_float(y_true, y_pred)
    y_true = _signed_labels(y_true)
    return torch.clamp(1.0 - y_true * y_pred, min=0.0).mean(-1)


def squared_hinge(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean(max(1 - y_true * y_pred, 0) ** 2)`; labels 0/1 are mapped to -1/1."""
    y_true, y_pred = _as_float(y_true, y_pred)
    y_true = _signed_labels(y_true)
    return torch.square(torch.clamp(1.0 - y_true * y_pred, min=0.0)).mean(-1)


def _signed_labels(y_true: torch.Tensor) -> torch.Tensor:
    return torch.where(y_true == 0, -torch.ones_like(y_true), y_true)


def poisson(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean(y_pred - y_true * log(y_pred + 1e-7))` over the last axis."""
    y_true, y_pred = _as_float(y_true, y_pred)
    return (y_pred - y_true * torch.log(y_pred + EPSILON)).mean(-1)


# ---------------------------------------------------------------------------- classes
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
        reduction: how values are reduced (see the module docstring).
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
        reduction: see the module docstring.
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
        reduction: see the module docstring.
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
        reduction: see the module docstring.
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


# ---------------------------------------------------------------------------- lookup
_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        BinaryCrossentropy,
        CategoricalCrossentropy,
        CosineSimilarity,
        Hinge,
        Huber,
        KLDivergence,
        LogCosh,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredError,
        MeanSquaredLogarithmicError,
        Poisson,
        SparseCategoricalCrossentropy,
        SquaredHinge,
    )
}

# A name given to compile() becomes the class (so the fused kernels are used); the function
# names and Keras's short aliases map to the same classes.
_NAMES: dict[str, type[Loss]] = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "huber": Huber,
    "huber_loss": Huber,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "cosine_similarity": CosineSimilarity,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "poisson": Poisson,
}

_FUNCTIONS: dict[Callable[..., Any], type[Loss]] = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    huber: Huber,
    log_cosh: LogCosh,
    binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    kl_divergence: KLDivergence,
    cosine_similarity: CosineSimilarity,
    hinge: Hinge,
    squared_hinge: SquaredHinge,
    poisson: Poisson,
}


def names() -> list[str]:
    """Every loss name `get` accepts."""
    return sorted({*_NAMES, *(n.upper() for n in ("mse", "mae", "mape", "msle")), *_CLASSES})


def get(identifier: Any, *, custom_objects: dict[str, Any] | None = None) -> Loss | None:
    """A `Loss` from a name, a config dict, a `Loss`, or a callable `(y_true, y_pred)`.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.

    Example:
        >>> from lamina import losses
        >>> losses.get("mse")
        MeanSquaredError(reduction='sum_over_batch_size')
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects=custom_objects)
    if isinstance(identifier, str):
        if custom_objects and identifier in custom_objects:
            return get(custom_objects[identifier])
        cls = _NAMES.get(identifier) or _NAMES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown loss {identifier!r}. Known names: {', '.join(names())}; or pass a "
                "Loss object or any function (y_true, y_pred) -> tensor."
            )
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        known = _FUNCTIONS.get(identifier)
        return known() if known is not None else LossFunctionWrapper(identifier)
    raise TypeError(
        f"Expected a loss name, a Loss or a callable, received {type(identifier).__name__} "
        f"({identifier!r})."
    )


def serialize(loss: Loss | None) -> Any:
    """A JSON-compatible description of `loss`: `{"class_name": ..., "config": ...}`.

    A wrapped user function is stored by its registered name (see
    `lamina.saving.registry.register_serializable`) or its plain `__name__`.
    """
    if loss is None:
        return None
    if type(loss) is LossFunctionWrapper:
        from lamina.saving.registry import get_registered_name

        config = {k: v for k, v in loss.get_config().items() if k != "name"}
        return {
            "class_name": "function",
            "config": {"function": get_registered_name(loss.fn), "name": loss.name, **config},
        }
    if type(loss).__name__ in _CLASSES and _CLASSES[type(loss).__name__] is type(loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    from lamina.saving.registry import get_registered_name

    return {"class_name": get_registered_name(type(loss)), "config": loss.get_config()}


def deserialize(config: Any, *, custom_objects: dict[str, Any] | None = None) -> Loss | None:
    """The `Loss` that `serialize` described (names of custom objects are looked up in
    `custom_objects`, then in lamina's registry)."""
    if config is None:
        return None
    if isinstance(config, str):
        return get(config, custom_objects=custom_objects)
    from lamina.saving.registry import deserialize_object

    return deserialize_object(  # type: ignore[no-any-return]
        config,
        kind="Loss",
        builtins=_CLASSES,
        wrap_function=LossFunctionWrapper,
        named_functions=_NAMED_FUNCTIONS,
        custom_objects=custom_objects,
    )


_NAMED_FUNCTIONS = {fn.__name__: fn for fn in _FUNCTIONS}


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
