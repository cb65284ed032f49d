"""Confusion, F-score, R2, IoU and hinge metrics against Keras 3's results
(tests/fixtures/keras/metrics.json, written by scripts/keras_fixtures_metrics.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model
from lamina.layers import Dense

CASES = json.loads((Path(__file__).parent / "fixtures" / "keras" / "metrics.json").read_text())


def _id(case: dict[str, Any]) -> str:
    weighted = "weighted" if case["batches"][1][2] is not None else "plain"
    return f"{case['class_name']}-{json.dumps(case['kwargs'], sort_keys=True)}-{weighted}"


def _weighted_mean_iou(case: dict[str, Any]) -> float:
    classes = case["kwargs"]["num_classes"]
    matrix = np.zeros((classes, classes))
    for y_true, y_pred, weight in case["batches"]:
        weights = np.ones(len(y_true)) if weight is None else np.asarray(weight)
        np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), weights)
    intersection = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - intersection
    return float(np.mean(intersection[union > 0] / union[union > 0]))


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_metric_matches_keras(case: dict[str, Any]) -> None:
    expected = case["result"]
    if case["class_name"] == "MeanIoU" and case["batches"][1][2] is not None:
        # Keras's MeanIoU casts float sample weights to int (its own warning): the weighted
        # case is checked against the definition instead.
        expected = _weighted_mean_iou(case)
    metric = getattr(lamina.metrics, case["class_name"])(**case["kwargs"])
    for y_true, y_pred, weight in case["batches"]:
        metric.update_state(
            torch.tensor(y_true), torch.tensor(y_pred, dtype=torch.float32),
            None if weight is None else torch.tensor(weight, dtype=torch.float32),
        )  # fmt: skip
    np.testing.assert_allclose(metric.result().numpy(), expected, rtol=1e-4, atol=1e-6)
    again = type(metric).from_config(metric.get_config())
    assert again.get_config() == metric.get_config()


def test_metrics_by_name_in_compile_and_fit() -> None:
    lamina.utils.set_random_seed(0)
    x = Input(shape=(3,))
    model = Model(x, Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="sgd", loss="bce", metrics=["precision", "recall", "auc"])
    data = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    labels = (data.sum(1, keepdims=True) > 0).astype(np.float32)
    logs = model.fit(data, labels, epochs=1, verbose=0).history
    assert {"loss", "precision", "recall", "auc"} <= set(logs)
    assert 0.0 <= logs["precision"][0] <= 1.0


def test_metric_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"Precision: thresholds must be numbers in \[0, 1\]"):
        lamina.metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match=r"FBetaScore: average must be None, 'micro'"):
        lamina.metrics.FBetaScore(average="mean")
    with pytest.raises(ValueError, match=r"expected predictions of shape \(batch, classes\)"):
        lamina.metrics.F1Score().update_state(torch.ones(3), torch.ones(3))
