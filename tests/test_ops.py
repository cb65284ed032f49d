from __future__ import annotations

import numpy as np
import pytest
import torch

from lamina import Input, Model, ops

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4)).astype(np.float32)
POS = np.abs(X) + 0.5

UNARY = [
    ("exp", np.exp, X), ("log", np.log, POS), ("log1p", np.log1p, POS),
    ("expm1", np.expm1, X), ("sqrt", np.sqrt, POS), ("rsqrt", lambda a: 1 / np.sqrt(a), POS),
    ("square", np.square, X), ("abs", np.abs, X), ("sign", np.sign, X),
    ("negative", np.negative, X), ("sin", np.sin, X), ("cos", np.cos, X),
    ("tanh", np.tanh, X), ("sigmoid", lambda a: 1 / (1 + np.exp(-a)), X),
    ("softplus", lambda a: np.log1p(np.exp(a)), X), ("relu", lambda a: np.maximum(a, 0), X),
    ("floor", np.floor, X), ("ceil", np.ceil, X), ("round", np.round, X),
    ("softmax", lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True), X),
    ("log_softmax", lambda a: a - np.log(np.exp(a).sum(-1, keepdims=True)), X),
    ("zeros_like", np.zeros_like, X), ("ones_like", np.ones_like, X),
]  # fmt: skip


@pytest.mark.parametrize(("name", "reference", "data"), UNARY, ids=[u[0] for u in UNARY])
def test_unary_ops_match_numpy(name, reference, data) -> None:
    got = getattr(ops, name)(torch.from_numpy(data))
    np.testing.assert_allclose(got.numpy(), reference(data), rtol=1e-5, atol=1e-6)


REDUCTIONS = [
    ("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min),
    ("var", np.var), ("std", np.std),
]  # fmt: skip


@pytest.mark.parametrize(("name", "reference"), REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(name, reference, axis, keepdims) -> None:
    got = getattr(ops, name)(torch.from_numpy(X), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(
        got.numpy(), reference(X, axis=axis, keepdims=keepdims), rtol=1e-5, atol=1e-6
    )


def test_shape_and_join_ops_match_numpy() -> None:
    t = torch.from_numpy(X)
    np.testing.assert_array_equal(ops.transpose(t).numpy(), X.T)
    np.testing.assert_array_equal(ops.reshape(t, (4, -1)).numpy(), X.reshape(4, -1))
    np.testing.assert_array_equal(ops.expand_dims(t, 1).numpy(), X[:, None])
    np.testing.assert_array_equal(ops.squeeze(ops.expand_dims(t, 0), 0).numpy(), X)
    np.testing.assert_array_equal(
        ops.concatenate([t, t], axis=1).numpy(), np.concatenate([X, X], 1)
    )
    np.testing.assert_array_equal(ops.stack([t, t]).numpy(), np.stack([X, X]))
    np.testing.assert_allclose(ops.matmul(t, t.T).numpy(), X @ X.T, rtol=1e-5)
    np.testing.assert_array_equal(ops.where(t > 0, t, 0.0).numpy(), np.where(X > 0, X, 0))
    np.testing.assert_array_equal(ops.clip(t, -0.5, 0.5).numpy(), np.clip(X, -0.5, 0.5))
    np.testing.assert_array_equal(ops.maximum(t, 0.0).numpy(), np.maximum(X, 0))
    np.testing.assert_array_equal(ops.tile(t, (2, 1)).numpy(), np.tile(X, (2, 1)))
    np.testing.assert_array_equal(ops.repeat(t, 2, axis=0).numpy(), np.repeat(X, 2, axis=0))
    np.testing.assert_array_equal(ops.flip(t, 1).numpy(), np.flip(X, 1))
    np.testing.assert_allclose(ops.cumsum(t, 1).numpy(), np.cumsum(X, 1), rtol=1e-6)
    np.testing.assert_array_equal(ops.argmax(t, axis=1).numpy(), np.argmax(X, 1))
    parts = ops.split(t, 2, axis=1)
    np.testing.assert_array_equal(parts[1].numpy(), X[:, 2:])
    with pytest.raises(ValueError, match="does not divide into 3 equal sections"):
        ops.split(t, 3, axis=1)
    np.testing.assert_array_equal(ops.one_hot(torch.tensor([0, 2]), 3).numpy(), np.eye(3)[[0, 2]])
    assert ops.cast(t, "float64").dtype == torch.float64
    with pytest.raises(ValueError, match="unknown dtype 'save'"):
        ops.cast(t, "save")


def test_shape_and_random_follow_the_tensor() -> None:
    mean = torch.zeros(64, 2, dtype=torch.float64)
    shape = ops.shape(mean)
    assert shape == (64, 2) and shape.device == mean.device
    sample = ops.random.normal(shape, dtype=torch.float64)
    assert sample.shape == (64, 2) and sample.dtype == torch.float64
    a = ops.random.normal((1000,), mean=3.0, stddev=0.5, seed=1)
    b = ops.random.normal((1000,), mean=3.0, stddev=0.5, seed=1)
    assert torch.equal(a, b) and abs(a.mean().item() - 3) < 0.1 and abs(a.std().item() - 0.5) < 0.1
    u = ops.random.uniform((1000,), minval=-2.0, maxval=-1.0)
    assert u.min() >= -2 and u.max() < -1


def test_ops_on_symbolic_tensors_record_nodes() -> None:
    x = Input(shape=(3, 4))
    y = ops.sum(ops.exp(x), axis=2)
    z = ops.concatenate([y, ops.mean(x, axis=2)], axis=1)
    assert y.shape == (None, 3) and z.shape == (None, 6)
    assert y.node.layer.label == "sum(x, axis=2)"
    assert ops.shape(x) == (None, 3, 4)
    model = Model(x, z)
    data = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        model.predict(data, verbose=0),
        np.concatenate([np.exp(data).sum(2), data.mean(2)], 1),
        rtol=1e-5,
    )
