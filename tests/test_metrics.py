"""Metrics against numpy references, accumulated over several batches."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

from lamina import metrics

RNG = np.random.default_rng(0)


def test_doctests() -> None:
    assert doctest.testmod(metrics, raise_on_error=False).failed == 0


def _batches(
    metric: metrics.Metric, y_true: np.ndarray, y_pred: np.ndarray, size: int = 7
) -> float:
    metric.reset_state()
    for start in range(0, len(y_true), size):
        metric.update_state(
            torch.from_numpy(y_true[start : start + size]),
            torch.from_numpy(y_pred[start : start + size]),
        )
    return float(metric.result())


def test_binary_accuracy() -> None:
    y_true = RNG.integers(0, 2, size=(50, 1)).astype(np.float32)
    y_pred = RNG.uniform(size=(50, 1)).astype(np.float32)
    expected = ((y_pred > 0.5) == (y_true > 0.5)).mean()
    np.testing.assert_allclose(_batches(metrics.BinaryAccuracy(), y_true, y_pred), expected)
    expected_07 = ((y_pred > 0.7) == (y_true > 0.5)).mean()
    got = _batches(metrics.BinaryAccuracy(threshold=0.7), y_true, y_pred)
    np.testing.assert_allclose(got, expected_07)


def test_categorical_sparse_and_top_k_accuracy() -> None:
    labels = RNG.integers(0, 5, size=50)
    scores = RNG.uniform(size=(50, 5)).astype(np.float32)
    onehot = np.eye(5, dtype=np.float32)[labels]
    expected = (scores.argmax(-1) == labels).mean()
    np.testing.assert_allclose(_batches(metrics.CategoricalAccuracy(), onehot, scores), expected)
    np.testing.assert_allclose(
        _batches(metrics.SparseCategoricalAccuracy(), labels, scores), expected
    )
    np.testing.assert_allclose(
        _batches(metrics.SparseCategoricalAccuracy(), labels[:, None], scores), expected
    )
    top2 = np.argsort(-scores, axis=-1)[:, :2]
    expected_top2 = (top2 == labels[:, None]).any(-1).mean()
    np.testing.assert_allclose(
        _batches(metrics.SparseTopKCategoricalAccuracy(k=2), labels, scores), expected_top2
    )
    np.testing.assert_allclose(
        _batches(metrics.TopKCategoricalAccuracy(k=2), onehot, scores), expected_top2
    )


def test_regression_metrics() -> None:
    y_true = RNG.normal(size=(30, 3)).astype(np.float32)
    y_pred = RNG.normal(size=(30, 3)).astype(np.float32)
    mse = ((y_true - y_pred) ** 2).mean()
    np.testing.assert_allclose(_batches(metrics.MeanSquaredError(), y_true, y_pred), mse, rtol=1e-5)
    np.testing.assert_allclose(
        _batches(metrics.RootMeanSquaredError(), y_true, y_pred), np.sqrt(mse), rtol=1e-5
    )
    np.testing.assert_allclose(
        _batches(metrics.MeanAbsoluteError(), y_true, y_pred),
        np.abs(y_true - y_pred).mean(),
        rtol=1e-5,
    )


def test_weighted_mean() -> None:
    m = metrics.Mean()
    m.update_state(torch.tensor([1.0, 2.0]), sample_weight=torch.tensor([3.0, 1.0]))
    m.update_state(torch.tensor([4.0]), sample_weight=torch.tensor([0.0]))
    assert float(m.result()) == pytest.approx((3 * 1 + 2) / 4)
    m.reset_state()
    assert float(m.result()) == 0.0


def _roc_auc_at_thresholds(labels: np.ndarray, scores: np.ndarray, n: int) -> float:
    thresholds = np.array([-1e-7, *[(i + 1) / (n - 1) for i in range(n - 2)], 1 + 1e-7])
    above = scores[None, :] > thresholds[:, None]
    tp = (above & (labels == 1)).sum(1)
    fp = (above & (labels == 0)).sum(1)
    tpr, fpr = tp / (labels == 1).sum(), fp / (labels == 0).sum()
    return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


def _exact_roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def test_auc_roc() -> None:
    labels = RNG.integers(0, 2, size=300)
    scores = np.clip(labels * 0.3 + RNG.uniform(size=300) * 0.7, 0, 1).astype(np.float32)
    got = _batches(metrics.AUC(), labels.astype(np.float32), scores, size=64)
    np.testing.assert_allclose(got, _roc_auc_at_thresholds(labels, scores, 200), rtol=1e-5)
    assert abs(got - _exact_roc_auc(labels, scores)) < 0.01


def test_auc_pr_and_options() -> None:
    labels = np.array([0, 0, 1, 1, 1, 0], dtype=np.float32)
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.2], dtype=np.float32)
    # Perfect ranking except one pair: PR-AUC is high but below 1.
    pr = _batches(metrics.AUC(curve="PR"), labels, scores)
    assert 0.7 < pr < 1.0
    logits = np.log(scores / (1 - scores))
    with_logits = _batches(metrics.AUC(from_logits=True), labels, logits.astype(np.float32))
    np.testing.assert_allclose(with_logits, _batches(metrics.AUC(), labels, scores), rtol=1e-6)
    with pytest.raises(ValueError, match="curve must be 'ROC' or 'PR'"):
        metrics.AUC(curve="XY")


def _resolved(name: str, y_true: torch.Tensor, y_pred: torch.Tensor) -> type:
    return type(metrics.resolve(name, y_true, y_pred))


def test_accuracy_resolution_follows_keras_shapes() -> None:
    assert _resolved("accuracy", torch.zeros(4, 1), torch.zeros(4, 1)) is metrics.BinaryAccuracy
    assert _resolved("acc", torch.zeros(4), torch.zeros(4, 10)) is metrics.SparseCategoricalAccuracy
    assert (
        _resolved("accuracy", torch.zeros(4, 1), torch.zeros(4, 10))
        is metrics.SparseCategoricalAccuracy
    )
    assert (
        _resolved("accuracy", torch.zeros(4, 10), torch.zeros(4, 10)) is metrics.CategoricalAccuracy
    )
    assert (
        _resolved("ce", torch.zeros(4), torch.zeros(4, 3)) is metrics.SparseCategoricalCrossentropy
    )
    resolved = metrics.resolve("accuracy", torch.zeros(4, 1), torch.zeros(4, 1))
    assert resolved.name == "accuracy"


def test_get_names_and_errors() -> None:
    assert isinstance(metrics.get("mae"), metrics.MeanAbsoluteError)
    assert metrics.get("mae").name == "mae"
    assert isinstance(metrics.get("AUC"), metrics.AUC)
    with pytest.raises(ValueError, match="Unknown metric 'acuracy'"):
        metrics.get("acuracy")
