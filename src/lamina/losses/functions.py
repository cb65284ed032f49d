"""The per-sample loss functions: one value per sample, reducing only the last axis.

These are Keras's loss functions (`mean_squared_error`, `binary_crossentropy`, ...); the
classes in `classes` wrap them and add reductions and fused torch kernels.
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
import torch.nn.functional as F

from lamina.losses.loss import squeeze_or_expand_to_same_rank

EPSILON = 1e-7
"""Keras's fuzz factor: probabilities are clipped to [EPSILON, 1 - EPSILON] before a log."""


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
    return cast(torch.Tensor, (x + F.softplus(-2.0 * x) - math.log(2.0)).mean(-1))


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
    return cast(torch.Tensor, -(y_true * _log_probabilities(y_pred, from_logits, axis)).sum(axis))


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
    return cast(torch.Tensor, (y_true * torch.log(y_true / y_pred)).sum(-1))


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
    return cast(torch.Tensor, (y_pred - y_true * torch.log(y_pred + EPSILON)).mean(-1))
