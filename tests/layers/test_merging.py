from __future__ import annotations

import numpy as np
import pytest

from helpers import check_layer
from lamina import Input
from lamina.core.errors import LayerError
from lamina.layers import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    merge,
)


@pytest.mark.parametrize(
    ("cls", "reference"),
    [
        (Add, lambda a, b: a + b),
        (Subtract, lambda a, b: a - b),
        (Multiply, lambda a, b: a * b),
        (Average, lambda a, b: (a + b) / 2),
        (Maximum, np.maximum),
        (Minimum, np.minimum),
    ],
)
def test_elementwise_merges(cls, reference) -> None:
    check_layer(
        cls, [(3, 4), (3, 4)], lambda xs, layer: reference(*xs), expected_shape=(None, 3, 4)
    )


def test_add_three_inputs_and_broadcast() -> None:
    check_layer(Add, [(4,), (4,), (4,)], lambda xs, layer: xs[0] + xs[1] + xs[2])
    check_layer(Add, [(3, 4), (1, 4)], lambda xs, layer: xs[0] + xs[1], expected_shape=(None, 3, 4))


def test_add_rejects_mismatched_shapes() -> None:
    with pytest.raises(
        LayerError,
        match=r"Add 'bad_add': input shapes \[\(None, 3\), "
        r"\(None, 4\)\] do not broadcast",
    ):
        Add(name="bad_add")([Input(shape=(3,)), Input(shape=(4,))])


def test_subtract_needs_two() -> None:
    with pytest.raises(LayerError, match="exactly 2 inputs, received 3"):
        Subtract()([Input(shape=(3,))] * 3)


def test_concatenate_axes() -> None:
    check_layer(
        Concatenate,
        [(4, 1), (4, 2)],
        lambda xs, layer: np.concatenate(xs, -1),
        expected_shape=(None, 4, 3),
    )
    check_layer(
        lambda: Concatenate(axis=1),
        [(2, 3), (5, 3)],
        lambda xs, layer: np.concatenate(xs, 1),
        expected_shape=(None, 7, 3),
    )


def test_concatenate_error_names_axis() -> None:
    with pytest.raises(LayerError, match=r"Concatenate 'cat': cannot join .* axis 1 differs"):
        Concatenate(name="cat")([Input(shape=(4, 1)), Input(shape=(3, 1))])


def test_dot_matches_numpy() -> None:
    check_layer(
        lambda: Dot(axes=1),
        [(5,), (5,)],
        lambda xs, layer: (xs[0] * xs[1]).sum(-1, keepdims=True),
        expected_shape=(None, 1),
        atol=1e-5,
    )
    check_layer(
        lambda: Dot(axes=(2, 2)),
        [(3, 4), (6, 4)],
        lambda xs, layer: np.einsum("bik,bjk->bij", *xs),
        expected_shape=(None, 3, 6),
        atol=1e-5,
    )


def test_dot_normalize_is_cosine() -> None:
    def cosine(xs, layer):
        a, b = xs
        return ((a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1))[:, None]

    check_layer(lambda: Dot(axes=-1, normalize=True), [(5,), (5,)], cosine, atol=1e-5)


def test_dot_rejects_size_mismatch() -> None:
    with pytest.raises(LayerError, match="have sizes 4 and 5"):
        Dot(axes=1)([Input(shape=(4,)), Input(shape=(5,))])


def test_keras1_merge_modes_on_the_seed_shapes() -> None:
    a, b = Input(shape=(4, 1, 1)), Input(shape=(4, 1, 1))
    assert merge([a, b], mode="concat").shape == (None, 4, 1, 2)
    assert merge([a, b], mode="concat", concat_axis=1).shape == (None, 8, 1, 1)
    for mode in ("sum", "mul", "ave", "max"):
        assert merge([a, b], mode=mode).shape == (None, 4, 1, 1)
    u, v = Input(shape=(3,)), Input(shape=(3,))
    assert merge([u, v], mode="dot").shape == (None, 1)
    assert merge([u, v], mode="cos").shape == (None, 1)
    assert merge([u, v], mode=lambda xs: xs[0] - xs[1]).shape == (None, 3)
    with pytest.raises(ValueError, match="unknown mode 'avg'"):
        merge([u, v], mode="avg")
