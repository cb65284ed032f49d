from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import check_layer
from keras_cases import case_id, config_keys, keras_cases
from lamina import Input, Model
from lamina.core.layer import LayerError
from lamina.layers import (
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)

CLASSES = {
    "RandomContrast": RandomContrast,
    "RandomCrop": RandomCrop,
    "RandomFlip": RandomFlip,
    "RandomRotation": RandomRotation,
    "RandomTranslation": RandomTranslation,
    "RandomZoom": RandomZoom,
}
CASES = [c for c in keras_cases("preprocessing") if c.spec["layer"] in CLASSES]


@pytest.fixture(autouse=True)
def _seeded() -> None:
    # Statistical checks draw from torch's global generator: the same draws in every run.
    torch.manual_seed(0)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_keras(case) -> None:
    # At inference, and in training with each range shrunk to one value.
    layer = CLASSES[case.spec["layer"]](**case.args)
    got = layer(torch.from_numpy(case.input), **case.call)
    np.testing.assert_allclose(got.numpy(), case.output, atol=1e-5, rtol=1e-5)
    assert set(layer.get_config()) - {"name", "trainable"} == config_keys(case)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomFlip(seed=1),
        lambda: RandomRotation(0.2, fill_mode="constant"),
        lambda: RandomZoom(0.2, 0.1, interpolation="nearest"),
        lambda: RandomTranslation(0.1, 0.2, fill_mode="wrap"),
        lambda: RandomCrop(3, 4),
        lambda: RandomContrast(0.5, value_range=(-5, 5)),
    ],
)
def test_identity_at_inference(make) -> None:
    check_layer(make, (5, 6, 2), lambda x, layer: x, expected_shape=(None, 5, 6, 2))


def test_random_flip_gives_the_four_flips() -> None:
    x = torch.randn(1, 3, 4, 2).expand(400, -1, -1, -1)
    y = RandomFlip(seed=0)(x, training=True)
    options = [x[0], x[0].flip(1), x[0].flip(0), x[0].flip(0).flip(1)]
    which = torch.stack([(y == o).flatten(1).all(1) for o in options], 1)
    assert (which.sum(1) == 1).all()
    assert (which.float().mean(0) - 0.25).abs().max() < 0.07
    y = RandomFlip("horizontal", seed=0)(x, training=True)
    assert ((y == x[0]) | (y == x[0].flip(1))).flatten(1).all(1).all()


def test_right_angle_rotations_permute_pixels() -> None:
    x = torch.randn(2, 4, 4, 3)
    y = RandomRotation((0.25, 0.25))(x, training=True)
    torch.testing.assert_close(y, x.rot90(1, dims=(1, 2)))
    y = RandomRotation((-0.5, -0.5), interpolation="nearest")(x[0], training=True)
    torch.testing.assert_close(y, x[0].flip(0).flip(1))


def test_random_rotation_draws_within_its_range() -> None:
    layer = RandomRotation((0.05, 0.1), seed=3)
    x = torch.rand(64, 1, 1, 1)
    angles = layer.transforms(x.permute(0, 3, 1, 2))
    turns = torch.atan2(angles[:, 3], angles[:, 0]) / (2 * torch.pi)
    assert turns.min() >= 0.05 - 1e-6 and turns.max() <= 0.1 + 1e-6
    assert turns.std() > 0.01


def test_integer_translation_shifts_pixels() -> None:
    x = torch.randn(2, 4, 5, 1)
    y = RandomTranslation((0.25, 0.25), (-0.2, -0.2), fill_mode="constant")(x, training=True)
    expected = torch.zeros_like(x)
    expected[:, 1:, :-1] = x[:, :-1, 1:]
    torch.testing.assert_close(y, expected)


def test_zoom_out_then_value_range_is_kept() -> None:
    x = torch.rand(8, 6, 6, 1)
    y = RandomZoom((0.1, 0.5), fill_mode="nearest", seed=1)(x, training=True)
    assert y.shape == x.shape and y.min() >= x.min() - 1e-6 and y.max() <= x.max() + 1e-6


def test_random_crop_windows_in_training() -> None:
    x = torch.arange(5 * 6.0).reshape(1, 5, 6, 1)
    tops_lefts = set()
    layer = RandomCrop(3, 4, seed=0)
    for _ in range(30):
        y = layer(x, training=True)
        top, left = int(y[0, 0, 0, 0]) // 6, int(y[0, 0, 0, 0]) % 6
        torch.testing.assert_close(y, x[:, top : top + 3, left : left + 4])
        tops_lefts.add((top, left))
    assert len(tops_lefts) == 9  # every window
    small = RandomCrop(6, 4)(x, training=True)
    assert small.shape == (1, 6, 4, 1)


def test_random_contrast_scales_around_each_channel_mean() -> None:
    x = torch.rand(64, 4, 4, 2) * 100 + 50
    y = RandomContrast(0.4, seed=5)(x, training=True)
    centred_x = (x - x.mean(dim=(1, 2), keepdim=True)).flatten(1)
    centred_y = (y - y.mean(dim=(1, 2), keepdim=True)).flatten(1)
    factor = (centred_x * centred_y).sum(1) / centred_x.square().sum(1)
    # One factor per image, for all its channels:
    torch.testing.assert_close(centred_y, factor[:, None] * centred_x, atol=1e-3, rtol=1e-4)
    assert factor.min() >= 0.6 - 1e-4 and factor.max() <= 1.4 + 1e-4
    assert factor.min() < 0.9 and factor.max() > 1.1
    clipped = RandomContrast((1.0, 1.0), value_range=(0, 1))(torch.rand(4, 3, 3, 1), training=True)
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_seeded_layers_repeat_and_unbatched_images_work() -> None:
    x = torch.rand(3, 5, 5, 2)
    for make in (
        lambda: RandomRotation(0.3, seed=11),
        lambda: RandomZoom(0.3, seed=11),
        lambda: RandomTranslation(0.3, 0.3, seed=11),
        lambda: RandomContrast(0.5, value_range=(0, 1), seed=11),
        lambda: RandomFlip(seed=11),
    ):
        torch.testing.assert_close(make()(x, training=True), make()(x, training=True))
        assert make()(x[0], training=True).shape == x[0].shape


def test_augmentation_runs_in_fit_and_not_in_predict() -> None:
    inputs = Input(shape=(4, 4, 1))
    model = Model(inputs, RandomFlip(seed=0)(inputs))
    x = torch.randn(8, 4, 4, 1)
    torch.testing.assert_close(model.predict(x, verbose=0), x.numpy())
    model.train()
    assert not torch.equal(model(x), x)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RandomRotation(1.5), r"RandomRotation: expected factor .*\[-1, 1\], received 1.5"),
        (lambda: RandomZoom((0.1, 0.2, 0.3)), r"RandomZoom: expected height_factor"),
        (lambda: RandomTranslation(0.1, "x"), r"RandomTranslation: expected width_factor"),
        (lambda: RandomContrast(-0.1), r"RandomContrast: expected factor .*\[0, 1\]"),
        (lambda: RandomContrast(0.1, value_range=(1, 0)), r"value_range as \(low, high\)"),
        (lambda: RandomFlip("diagonal"), r"RandomFlip: expected mode to be one of"),
        (lambda: RandomRotation(0.1, fill_mode="mirror"), r"fill_mode to be one of"),
        (lambda: RandomCrop(0, 2), r"RandomCrop: expected a positive int for height"),
    ],
)
def test_bad_arguments(make, message) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_rejects_non_images() -> None:
    with pytest.raises(LayerError, match=r"RandomFlip 'f': expected images .*received shape"):
        RandomFlip(name="f")(Input(shape=(3,)))


def test_half_precision_images_keep_exact_pixel_coordinates() -> None:
    # bfloat16 cannot count past 256: coordinates are computed in float32.
    x = torch.randn(1, 2, 300, 1).bfloat16()
    y = RandomTranslation((0.0, 0.0), (0.5, 0.5), fill_mode="constant")(x, training=True)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y[:, :, 150:], x[:, :, :150]) and (y[:, :, :150] == 0).all()


def test_keras_io_style_augmentation_pipeline_fits_saves_and_loads(tmp_path) -> None:
    import lamina
    from lamina.layers import Dense, Flatten, Rescaling
    from lamina.models import Sequential

    rng = np.random.default_rng(0)
    x = (rng.random((8, 6, 6, 3)) * 255).astype("float32")
    y = rng.integers(0, 2, 8)
    augment = Sequential(
        [Input(shape=(6, 6, 3)), RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.1)]
    )
    model = Sequential([Input(shape=(6, 6, 3)), augment, Rescaling(1 / 255), Flatten(), Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    model.save(tmp_path / "augment.lamina")
    loaded = lamina.load_model(tmp_path / "augment.lamina")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
