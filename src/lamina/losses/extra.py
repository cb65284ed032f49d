"""Keras 3's other losses: `CategoricalHinge`, `BinaryFocalCrossentropy`,
`CategoricalFocalCrossentropy`, `Dice` and `Tversky`, each a per-sample function and a class
with Keras's arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F

from lamina.losses.functions import EPSILON, _as_float
from lamina.losses.loss import LossFunctionWrapper


def categorical_hinge(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    """`max(0, 1 + max((1 - y_true) * y_pred) - sum(y_true * y_pred))` per sample."""
    y_true, y_pred = _as_float(y_true, y_pred)
    positive = (y_true * y_pred).sum(-1)
    negative = ((1.0 - y_true) * y_pred).max(-1).values
    return torch.clamp(negative - positive + 1.0, min=0.0)


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: torch.Tensor,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Binary crossentropy scaled by `(1 - p_t) ** gamma` (and, balanced, by `alpha` for the
    positives and `1 - alpha` for the negatives), averaged over `axis`."""
    y_true, y_pred = _as_float(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        bce = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
        y_pred = torch.sigmoid(y_pred)
    else:
        y_pred = torch.clamp(y_pred, EPSILON, 1.0 - EPSILON)
        bce = F.binary_cross_entropy(y_pred, y_true, reduction="none")
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return cast(torch.Tensor, focal.mean(axis))


def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Categorical crossentropy of each class scaled by `alpha * (1 - p) ** gamma`, summed
    over `axis`."""
    y_true, y_pred = _as_float(y_true, y_pred)
    if label_smoothing:
        classes = y_pred.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    if from_logits:
        y_pred = torch.softmax(y_pred, dim=axis)
    y_pred = y_pred / y_pred.sum(dim=axis, keepdim=True)
    y_pred = torch.clamp(y_pred, EPSILON, 1.0 - EPSILON)
    focal = alpha * (1.0 - y_pred) ** gamma * (-y_true * torch.log(y_pred))
    return cast(torch.Tensor, focal.sum(dim=axis))


def _sample_axes(y: torch.Tensor, axis: int | Sequence[int] | None) -> tuple[int, ...]:
    if axis is None:  # Keras's default: one value for the whole batch
        return tuple(range(y.ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def dice(
    y_true: Any, y_pred: torch.Tensor, axis: int | Sequence[int] | None = None
) -> torch.Tensor:
    """`1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred))` over `axis`; as in Keras,
    `axis=None` sums over the whole batch (one value), `axis=(1, 2, ...)` gives one per
    sample."""
    y_true, y_pred = _as_float(y_true, y_pred)
    axes = _sample_axes(y_pred, axis)
    intersection = (y_true * y_pred).sum(axes)
    union = y_true.sum(axes) + y_pred.sum(axes)
    return cast(torch.Tensor, 1.0 - 2.0 * intersection / (union + EPSILON))


def tversky(
    y_true: Any,
    y_pred: torch.Tensor,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: int | Sequence[int] | None = None,
) -> torch.Tensor:
    """`1 - tp / (tp + alpha * fp + beta * fn)` per sample; `alpha = beta = 0.5` is Dice."""
    y_true, y_pred = _as_float(y_true, y_pred)
    axes = _sample_axes(y_pred, axis)
    tp = (y_true * y_pred).sum(axes)
    fp = ((1.0 - y_true) * y_pred).sum(axes)
    fn = (y_true * (1.0 - y_pred)).sum(axes)
    return cast(torch.Tensor, 1.0 - tp / (tp + alpha * fp + beta * fn + EPSILON))


class CategoricalHinge(LossFunctionWrapper):
    """The categorical hinge of one-hot labels."""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_hinge",
        dtype: Any = None,
    ) -> None:
        super().__init__(categorical_hinge, name=name, reduction=reduction)


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Binary crossentropy focused on the hard examples (Lin et al., 2017).

    Example:
        >>> import torch
        >>> loss = BinaryFocalCrossentropy(gamma=0.0)  # gamma 0: plain crossentropy
        >>> round(float(loss(torch.ones(1, 2), torch.full((1, 2), 0.5))), 4)
        0.6931
    """

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_focal_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            binary_focal_crossentropy, name=name, reduction=reduction,
            apply_class_balancing=apply_class_balancing, alpha=float(alpha),
            gamma=float(gamma), from_logits=from_logits,
            label_smoothing=float(label_smoothing), axis=axis,
        )  # fmt: skip


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Categorical crossentropy focused on the hard examples."""

    def __init__(
        self,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_focal_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            categorical_focal_crossentropy, name=name, reduction=reduction, alpha=float(alpha),
            gamma=float(gamma), from_logits=from_logits,
            label_smoothing=float(label_smoothing), axis=axis,
        )  # fmt: skip


class Dice(LossFunctionWrapper):
    """The Dice loss, `1 - 2|A∩B| / (|A| + |B|)`, for segmentation masks."""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "dice",
        axis: int | Sequence[int] | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(dice, name=name, reduction=reduction, axis=axis)


class Tversky(LossFunctionWrapper):
    """The Tversky loss: Dice with `alpha` weighting false positives and `beta` false
    negatives."""

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        reduction: str | None = "sum_over_batch_size",
        name: str = "tversky",
        axis: int | Sequence[int] | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            tversky, name=name, reduction=reduction, alpha=float(alpha), beta=float(beta),
            axis=axis,
        )  # fmt: skip


__all__ = [
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge",
    "Dice",
    "Tversky",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "dice",
    "tversky",
]
