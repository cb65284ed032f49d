"""Masks through the graph: `Masking`, `Embedding(mask_zero=True)`, propagation, merging."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.helpers import check_layer
from tests.keras_fixtures import check_against_keras

from lamina import Input, Model
from lamina.core.errors import LayerError
from lamina.layers import (
    Add,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Lambda,
    Masking,
    Maximum,
)


def test_masking_layer_zeroes_and_masks_padded_steps() -> None:
    def reference(x: np.ndarray, layer: Masking) -> np.ndarray:
        return x * np.any(x != 0.5, axis=-1, keepdims=True)

    layer = check_layer(lambda: Masking(mask_value=0.5), (4, 3), reference)
    x = torch.ones(2, 3, 2)
    x[0, 1] = 0.5
    assert layer.compute_mask(x).tolist() == [[True, False, True], [True, True, True]]
    assert layer.get_config()["mask_value"] == 0.5


def test_masking_matches_keras() -> None:
    layer, data = check_against_keras("sequence/masking")
    mask = layer.compute_mask(torch.from_numpy(data["x"]))
    np.testing.assert_array_equal(mask.numpy(), data["mask"])


def _recorder() -> tuple[list[object], Lambda]:
    seen: list[object] = []

    def record(t: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        seen.append(mask)
        return t

    return seen, Lambda(record)


def test_mask_travels_through_layers_that_support_it() -> None:
    x = Input(shape=(4,), dtype=torch.int64)
    e = Embedding(6, 3, mask_zero=True)(x)
    h = Dropout(0.1)(Dense(2)(e))
    assert h._keras_mask is e._keras_mask and h._keras_mask.shape == (None, 4)
    seen, recorder = _recorder()
    model = Model(x, recorder(h))
    model(torch.tensor([[3, 1, 0, 0], [2, 0, 0, 0]]))
    assert torch.equal(seen[-1], torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]]).bool())


def test_model_without_masks_runs_the_plain_plan() -> None:
    from lamina.core.plan import run_plan

    x = Input(shape=(4,))
    model = Model(x, Dense(2)(x))
    assert model._run_plan is run_plan


def test_a_layer_that_cannot_use_a_mask_says_so() -> None:
    x = Input(shape=(4,), dtype=torch.int64)
    e = Embedding(6, 3, mask_zero=True)(x)
    with pytest.raises(LayerError, match=r"Flatten 'flatten.*' does not support masking"):
        Flatten()(e)


def test_lambda_mask_argument_sets_a_mask() -> None:
    x = Input(shape=(3, 2))
    masked = Lambda(lambda t: t, mask=lambda t, m: t[..., 0] > 0)(x)
    seen, recorder = _recorder()
    model = Model(x, recorder(masked))
    model(torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [2.0, 1.0]]]))
    assert seen[-1].tolist() == [[True, False, True]]


def test_merging_layers_combine_masks() -> None:
    a, b = Input(shape=(3, 2)), Input(shape=(3, 2))
    ma, mb = Masking()(a), Masking()(b)
    added = Add()([ma, mb])
    joined = Concatenate(axis=1)([ma, mb])
    assert Add()([ma, b])._keras_mask is None  # one input without a mask: none (Keras)
    seen_add, rec_add = _recorder()
    seen_cat, rec_cat = _recorder()
    model = Model([a, b], [rec_add(added), rec_cat(joined)])
    xa = torch.tensor([[[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])
    xb = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]])
    model([xa, xb])
    assert seen_add[-1].tolist() == [[True, False, True]]
    assert seen_cat[-1].tolist() == [[True, False, False, False, False, True]]
    assert joined._keras_mask.shape == (None, 6)


def test_operations_drop_the_mask_as_keras_ops_do() -> None:
    x = Input(shape=(4,), dtype=torch.int64)
    e = Embedding(6, 3, mask_zero=True)(x)
    assert (e * 2)._keras_mask is None


def test_maximum_ignores_masked_positions() -> None:
    a, b = Input(shape=(2, 1)), Input(shape=(2, 1))
    out = Maximum()([Masking(mask_value=9.0)(a), Masking(mask_value=9.0)(b)])
    model = Model([a, b], out)
    xa = torch.tensor([[[9.0], [1.0]]])  # step 0 of a is padding (zeroed by Masking)
    xb = torch.tensor([[[-3.0], [2.0]]])
    assert model([xa, xb]).tolist() == [[[-3.0], [2.0]]]  # not max(0, -3)
