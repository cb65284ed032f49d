"""`AUC`: the area under the ROC or precision-recall curve, from confusion counts.

Unlike the mean metrics, it accumulates true and false positives and negatives at fixed
thresholds and integrates the curve only when the result is read.
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.losses import squeeze_or_expand_to_same_rank
from lamina.metrics.classes import _as
from lamina.metrics.metric import Metric

_MAX_THRESHOLDS = 1_000_000
"""Most thresholds an AUC takes: Keras's default is 200; a million gives a resolution of 1e-6."""


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
        # An int, and bounded: a saved file's compile config reaches this constructor, and
        # the thresholds list and the per-threshold counts grow with it.
        if type(num_thresholds) is not int or not 2 <= num_thresholds <= _MAX_THRESHOLDS:
            raise ValueError(
                f"AUC: num_thresholds must be an int in [2, {_MAX_THRESHOLDS}], received "
                f"{num_thresholds!r}."
            )
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
