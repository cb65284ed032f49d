"""Losses against numpy formulas and torch.nn.functional."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lamina import losses

RNG = np.random.default_rng(0)
EPS = 1e-7


def _probs(*shape: int) -> np.ndarray:
    return RNG.uniform(0.05, 0.95, size=shape).astype(np.float32)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a))


def test_doctests() -> None:
    assert doctest.testmod(losses, raise_on_error=False).failed == 0


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("mse", lambda t, p: ((t - p) ** 2).mean(-1)),
        ("mae", lambda t, p: np.abs(t - p).mean(-1)),
        ("mape", lambda t, p: 100 * np.abs((t - p) / np.maximum(np.abs(t), EPS)).mean(-1)),
        (
            "msle",
            lambda t, p: (
                (np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2
            ).mean(-1),
        ),
        ("log_cosh", lambda t, p: np.log(np.cosh(p - t)).mean(-1)),
        (
            "binary_crossentropy",
            lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1),
        ),
        (
            "categorical_crossentropy",
            lambda t, p: -(t * np.log(p / p.sum(-1, keepdims=True))).sum(-1),
        ),
        (
            "kld",
            lambda t, p: (np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1))).sum(
                -1
            ),
        ),
        (
            "cosine_similarity",
            lambda t, p: -(t * p).sum(-1) / np.linalg.norm(t, axis=-1) / np.linalg.norm(p, axis=-1),
        ),
        ("poisson", lambda t, p: (p - t * np.log(p + EPS)).mean(-1)),
        ("hinge", lambda t, p: np.maximum(1 - np.where(t == 0, -1, t) * p, 0).mean(-1)),
    ],
)
def test_loss_matches_numpy(name: str, reference: object) -> None:
    y_true, y_pred = _probs(6, 5), _probs(6, 5)
    if name == "hinge":
        y_true = (y_true > 0.5).astype(np.float32)
    expected = reference(y_true.astype(np.float64), y_pred.astype(np.float64))  # type: ignore[operator]
    loss = losses.get(name)
    assert loss is not None
    per_sample = loss.fn(_t(y_true), _t(y_pred))  # type: ignore[attr-defined]
    np.testing.assert_allclose(per_sample.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(loss(_t(y_true), _t(y_pred))), expected.mean(), rtol=1e-5)


def test_huber_matches_torch_and_formula() -> None:
    y_true, y_pred = RNG.normal(size=(4, 3)), 3 * RNG.normal(size=(4, 3))
    err = np.abs(y_pred - y_true)
    expected = np.where(err <= 1.5, 0.5 * err**2, 1.5 * err - 0.5 * 1.5**2).mean(-1).mean()
    got = losses.Huber(delta=1.5)(_t(y_true), _t(y_pred))
    np.testing.assert_allclose(float(got), expected, rtol=1e-6)


def test_binary_crossentropy_from_logits_matches_torch() -> None:
    logits = torch.randn(8, 784, generator=torch.Generator().manual_seed(1))
    target = torch.rand(8, 784, generator=torch.Generator().manual_seed(2))
    got = losses.BinaryCrossentropy(from_logits=True)(target, logits)
    torch.testing.assert_close(got, F.binary_cross_entropy_with_logits(logits, target))
    per_sample = losses.binary_crossentropy(target, logits, from_logits=True)
    torch.testing.assert_close(
        per_sample, F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(-1)
    )


def test_binary_crossentropy_clips_probabilities_like_keras() -> None:
    # A prediction of exactly 0 for a label 1 costs -log(1e-7), not infinity.
    got = losses.binary_crossentropy(torch.ones(1, 1), torch.zeros(1, 1))
    np.testing.assert_allclose(got.numpy(), [-np.log(EPS)], rtol=1e-4)


def test_label_smoothing() -> None:
    y_true, y_pred = np.array([[1.0, 0.0]]), np.array([[0.7, 0.3]])
    smooth = y_true * 0.8 + 0.5 * 0.2
    expected = -(smooth * np.log(y_pred) + (1 - smooth) * np.log(1 - y_pred)).mean()
    got = losses.BinaryCrossentropy(label_smoothing=0.2)(_t(y_true), _t(y_pred))
    np.testing.assert_allclose(float(got), expected, rtol=1e-6)
    smooth_c = y_true * 0.8 + 0.2 / 2
    expected_c = -(smooth_c * np.log(y_pred)).sum()
    got_c = losses.CategoricalCrossentropy(label_smoothing=0.2)(_t(y_true), _t(y_pred))
    np.testing.assert_allclose(float(got_c), expected_c, rtol=1e-6)


def test_sparse_categorical_crossentropy_matches_torch() -> None:
    logits = torch.randn(7, 4, generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    expected = F.cross_entropy(logits, labels)
    torch.testing.assert_close(
        losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits), expected
    )
    # (N, 1) labels and probabilities give the same value.
    probs = torch.softmax(logits, -1)
    got = losses.SparseCategoricalCrossentropy()(labels[:, None].numpy(), probs)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # And categorical crossentropy on one-hot labels agrees.
    onehot = F.one_hot(labels, 4).float()
    torch.testing.assert_close(
        losses.CategoricalCrossentropy(from_logits=True)(onehot, logits), expected
    )


def test_sample_weight_and_reductions() -> None:
    y_true, y_pred = _t(_probs(4, 3)), _t(_probs(4, 3))
    weights = np.array([1.0, 0.0, 2.0, 0.5], dtype=np.float32)
    per_sample = ((y_true - y_pred) ** 2).mean(-1).numpy()
    weighted = per_sample * weights
    mse = losses.MeanSquaredError
    np.testing.assert_allclose(float(mse()(y_true, y_pred, weights)), weighted.sum() / 4, rtol=1e-6)
    np.testing.assert_allclose(
        float(mse(reduction="sum")(y_true, y_pred, weights)), weighted.sum(), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(mse(reduction="mean_with_sample_weight")(y_true, y_pred, weights)),
        weighted.sum() / weights.sum(),
        rtol=1e-6,
    )
    np.testing.assert_allclose(mse(reduction=None)(y_true, y_pred).numpy(), per_sample, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        mse(reduction="avg")


def test_rank_mismatch_is_squeezed_like_keras() -> None:
    # Labels (N,) against predictions (N, 1): compared elementwise, not broadcast to (N, N).
    y_true, y_pred = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([[0.0], [1.0], [4.0]])
    np.testing.assert_allclose(float(losses.MeanSquaredError()(y_true, y_pred)), 4.0 / 3)


def test_unknown_name_lists_choices() -> None:
    with pytest.raises(ValueError, match="Unknown loss 'msee'") as info:
        losses.get("msee")
    assert "mean_squared_error" in str(info.value) and "binary_crossentropy" in str(info.value)


def test_get_accepts_names_classes_functions_and_callables() -> None:
    assert isinstance(losses.get("MSE"), losses.MeanSquaredError)
    assert isinstance(losses.get("BinaryCrossentropy"), losses.BinaryCrossentropy)
    assert isinstance(losses.get(losses.mean_absolute_error), losses.MeanAbsoluteError)
    assert isinstance(losses.get(losses.Huber), losses.Huber)

    def cube(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return ((y_pred - y_true) ** 3).mean(-1)

    wrapped = losses.get(cube)
    assert isinstance(wrapped, losses.LossFunctionWrapper)
    assert float(wrapped(torch.zeros(2, 1), torch.full((2, 1), 2.0))) == 8.0
    with pytest.raises(TypeError, match="Expected a loss name"):
        losses.get(3)


def test_serialize_round_trip_through_json() -> None:
    loss = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    config = json.loads(json.dumps(losses.serialize(loss)))
    back = losses.deserialize(config)
    assert isinstance(back, losses.BinaryCrossentropy)
    assert back.get_config() == loss.get_config()
    x, y = torch.randn(3, 4), torch.rand(3, 4)
    torch.testing.assert_close(back(y, x), loss(y, x))

    def custom(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return (y_pred - y_true).abs().mean(-1)

    config = json.loads(json.dumps(losses.serialize(losses.get(custom))))
    with pytest.raises(ValueError, match="custom_objects"):
        losses.deserialize(config)
    restored = losses.deserialize(config, custom_objects={"custom": custom})
    assert isinstance(restored, losses.LossFunctionWrapper) and restored.fn is custom


def test_deserialize_unknown_class_or_function_says_how_to_register() -> None:
    from lamina import losses as losses_module
    from lamina import metrics as metrics_module

    with pytest.raises(ValueError, match=r"Loss class 'Mystery' is not known; pass custom_objects"):
        losses_module.deserialize({"class_name": "Mystery", "config": {}})
    with pytest.raises(
        ValueError, match=r"Metric function 'mine' is not known.*register_serializable"
    ):
        metrics_module.deserialize({"class_name": "function", "config": {"function": "mine"}})

    def mine(y_true, y_pred):
        return (y_true - y_pred).abs().mean(-1)

    loss = losses_module.deserialize(
        {"class_name": "function", "config": {"function": "mine"}}, custom_objects={"mine": mine}
    )
    y_true, y_pred = torch.zeros(2, 3), torch.ones(2, 3)
    assert float(loss(y_true, y_pred)) == 1.0
