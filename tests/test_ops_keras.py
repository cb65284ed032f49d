"""The `keras.ops` names everyday code uses, against numpy, on tensors and in saved models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model, ops

RNG = np.random.default_rng(0)
A = RNG.normal(size=(3, 4)).astype(np.float32)
B = RNG.normal(size=(3, 4)).astype(np.float32)

UNARY = [
    ("logical_not", lambda x: ops.logical_not(x > 0), lambda x: ~(x > 0)),
    ("all", lambda x: ops.all(x > -1, axis=1), lambda x: (x > -1).all(axis=1)),
    ("any", lambda x: ops.any(x > 1, axis=0, keepdims=True),
     lambda x: (x > 1).any(0, keepdims=True)),
    ("tril", lambda x: ops.tril(x, k=1), lambda x: np.tril(x, 1)),
    ("triu", lambda x: ops.triu(x, k=-1), lambda x: np.triu(x, -1)),
    ("sort", lambda x: ops.sort(x, axis=0), lambda x: np.sort(x, axis=0)),
    ("argsort", lambda x: ops.argsort(x), lambda x: np.argsort(x, kind="stable")),
    ("top_k", lambda x: ops.top_k(x, 2)[0], lambda x: -np.sort(-x, axis=-1)[:, :2]),
    ("pad", lambda x: ops.pad(x, ((1, 0), (0, 2))), lambda x: np.pad(x, ((1, 0), (0, 2)))),
    ("pad-reflect", lambda x: ops.pad(x, 1, mode="reflect"), lambda x: np.pad(x, 1, "reflect")),
    ("pad-edge", lambda x: ops.pad(x, ((0, 0), (2, 1)), mode="edge"),
     lambda x: np.pad(x, ((0, 0), (2, 1)), "edge")),
    ("stop_gradient", lambda x: ops.stop_gradient(x), lambda x: x),
    ("dot", lambda x: ops.dot(x, x.T if isinstance(x, np.ndarray) else ops.transpose(x)),
     lambda x: x @ x.T),
    ("gelu", lambda x: ops.nn.gelu(x),
     lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))),
    ("silu", lambda x: ops.nn.silu(x), lambda x: x / (1 + np.exp(-x))),
]  # fmt: skip

BINARY = [
    ("equal", ops.equal, np.equal),
    ("not_equal", ops.not_equal, np.not_equal),
    ("greater", ops.greater, np.greater),
    ("greater_equal", ops.greater_equal, np.greater_equal),
    ("less", ops.less, np.less),
    ("less_equal", ops.less_equal, np.less_equal),
    ("logical_and", lambda a, b: ops.logical_and(a > 0, b > 0), lambda a, b: (a > 0) & (b > 0)),
    ("logical_or", lambda a, b: ops.logical_or(a > 0, b > 0), lambda a, b: (a > 0) | (b > 0)),
]


def _numpy(value: Any) -> np.ndarray:
    return ops.convert_to_numpy(value)


@pytest.mark.parametrize(("name", "op", "reference"), UNARY, ids=[c[0] for c in UNARY])
def test_unary_ops_match_numpy_eagerly_and_in_a_saved_model(
    name: str, op: Any, reference: Any, tmp_path: Path
) -> None:
    expected = reference(A)
    np.testing.assert_allclose(_numpy(op(torch.from_numpy(A))), expected, rtol=1e-5, atol=1e-6)
    if name in ("dot", "stop_gradient"):
        x = Input(batch_shape=(3, 4))
    else:
        x = Input(shape=(4,))
    model = Model(x, ops.cast(op(x), "float32"))
    np.testing.assert_allclose(model.predict(A, verbose=0), expected, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m.lamina")
    loaded = lamina.load_model(tmp_path / "m.lamina")
    np.testing.assert_allclose(loaded.predict(A, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "op", "reference"), BINARY, ids=[c[0] for c in BINARY])
def test_comparisons_broadcast_as_numpy(name: str, op: Any, reference: Any) -> None:
    a, b = torch.from_numpy(A), torch.from_numpy(B)
    np.testing.assert_array_equal(_numpy(op(a, b)), reference(A, B))
    np.testing.assert_array_equal(_numpy(op(a, 0.0)), reference(A, np.float32(0.0)))
    x, y = Input(shape=(4,)), Input(shape=(4,))
    model = Model([x, y], ops.cast(op(x, y), "float32"))
    np.testing.assert_array_equal(model.predict([A, B], verbose=0), reference(A, B))


def test_creation_ops_match_numpy() -> None:
    np.testing.assert_array_equal(_numpy(ops.arange(5)), np.arange(5))
    np.testing.assert_allclose(_numpy(ops.arange(0.5, 2, 0.5)), np.arange(0.5, 2, 0.5))
    assert ops.arange(3, dtype="float32").dtype == torch.float32
    np.testing.assert_array_equal(_numpy(ops.eye(3, 4, k=1)), np.eye(3, 4, k=1))
    np.testing.assert_array_equal(_numpy(ops.zeros((2, 3))), np.zeros((2, 3)))
    np.testing.assert_array_equal(_numpy(ops.ones(3, dtype="int32")), np.ones(3, np.int32))
    full = ops.full((2, 2), 1.5)
    assert full.dtype == torch.float32 and float(full.sum()) == 6.0
    assert ops.convert_to_tensor(np.ones(2), dtype="float16").dtype == torch.float16
    assert ops.convert_to_numpy(torch.ones(2, dtype=torch.bfloat16)).dtype == np.float32
    x = torch.ones(2, requires_grad=True)
    assert not ops.stop_gradient(x * 2).requires_grad


def test_dot_follows_numpy_for_every_rank() -> None:
    for shapes in [
        ((), (3,)),
        ((3,), (3,)),
        ((2, 3), (3,)),
        ((2, 3), (3, 4)),
        ((2, 3, 4), (5, 4, 6)),
    ]:
        a = RNG.normal(size=shapes[0]).astype(np.float32)
        b = RNG.normal(size=shapes[1]).astype(np.float32)
        got = _numpy(ops.dot(torch.as_tensor(a), torch.as_tensor(b)))
        np.testing.assert_allclose(got, np.dot(a, b), rtol=1e-5, atol=1e-5)


def test_top_k_gives_values_and_indices() -> None:
    values, indices = ops.top_k(torch.tensor([[1.0, 5.0, 3.0]]), 2)
    assert values.tolist() == [[5.0, 3.0]] and indices.tolist() == [[1, 2]]


def test_crossentropies_match_their_formulas() -> None:
    p = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]], np.float32)
    t = np.array([[0, 1, 0], [1, 0, 0]], np.float32)
    cce = _numpy(ops.nn.categorical_crossentropy(torch.from_numpy(t), torch.from_numpy(p)))
    np.testing.assert_allclose(cce, -np.log([0.7, 0.5]), rtol=1e-6)
    logits = torch.from_numpy(np.log(p))
    sparse = ops.nn.sparse_categorical_crossentropy(torch.tensor([1, 0]), logits, from_logits=True)
    np.testing.assert_allclose(_numpy(sparse), -np.log([0.7, 0.5]), rtol=1e-5)
    bce = ops.nn.binary_crossentropy(torch.from_numpy(t), torch.from_numpy(p))
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(_numpy(bce), expected, rtol=1e-5)
    bce_logits = ops.nn.binary_crossentropy(torch.from_numpy(t), logits, from_logits=True)
    expected = -(t * np.log(1 / (1 + 1 / p)) + (1 - t) * np.log(1 - 1 / (1 + 1 / p)))
    np.testing.assert_allclose(_numpy(bce_logits), expected, rtol=1e-5)


def test_bad_pad_mode_names_the_choices() -> None:
    with pytest.raises(ValueError, match="pad: mode='wrap' is not supported"):
        ops.pad(torch.ones(2), 1, mode="wrap")
