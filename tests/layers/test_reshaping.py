from __future__ import annotations

import numpy as np
import pytest

from helpers import check_layer
from keras_fixtures import check_against_keras, fixture_names
from lamina import Input
from lamina.core.layer import LayerError
from lamina.layers import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    Identity,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)

FAMILY = [
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Identity",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
]


@pytest.mark.parametrize("name", fixture_names("normalization", *FAMILY))
def test_matches_keras(name: str) -> None:
    check_against_keras(name)


def _pad(x, pairs, first):
    spatial = [(0, 0), *pairs, (0, 0)] if not first else [(0, 0), (0, 0), *pairs]
    return np.pad(x, spatial)


@pytest.mark.parametrize(
    ("make", "shape", "reference", "expected"),
    [
        (lambda: ZeroPadding1D((1, 2)), (3, 2), lambda x: _pad(x, [(1, 2)], False), (None, 6, 2)),
        (
            lambda: ZeroPadding2D(((1, 0), 2), data_format="channels_first"),
            (2, 3, 2),
            lambda x: _pad(x, [(1, 0), (2, 2)], True),
            (None, 2, 4, 6),
        ),
        (
            lambda: ZeroPadding3D(1),
            (1, 2, 1, 2),
            lambda x: _pad(x, [(1, 1)] * 3, False),
            (None, 3, 4, 3, 2),
        ),
        (lambda: Cropping1D((1, 2)), (5, 2), lambda x: x[:, 1:3], (None, 2, 2)),
        (lambda: Cropping2D(1), (4, 3, 2), lambda x: x[:, 1:3, 1:2], (None, 2, 1, 2)),
        (
            lambda: Cropping3D(((0, 1), 0, (1, 0)), data_format="channels_first"),
            (1, 3, 2, 2),
            lambda x: x[:, :, 0:2, :, 1:],
            (None, 1, 2, 2, 1),
        ),
        (lambda: UpSampling1D(3), (2, 2), lambda x: x.repeat(3, axis=1), (None, 6, 2)),
        (
            lambda: UpSampling2D((1, 2)),
            (2, 2, 3),
            lambda x: x.repeat(2, axis=2),
            (None, 2, 4, 3),
        ),
        (
            lambda: UpSampling3D(2, data_format="channels_first"),
            (1, 1, 2, 1),
            lambda x: x.repeat(2, axis=2).repeat(2, axis=3).repeat(2, axis=4),
            (None, 1, 2, 4, 2),
        ),
        (Identity, (3, 2), lambda x: x, (None, 3, 2)),
    ],
)
def test_check_layer(make, shape, reference, expected) -> None:
    layer = check_layer(make, shape, lambda x, layer: reference(x), expected_shape=expected)
    assert layer.compute_output_shape((None, *shape)) == expected


def test_bilinear_upsampling_check_layer() -> None:
    import torch

    def reference(x, layer):
        t = torch.from_numpy(x).permute(0, 3, 1, 2)
        out = torch.nn.functional.interpolate(t, scale_factor=2, mode="bilinear")
        return out.permute(0, 2, 3, 1).numpy()

    check_layer(lambda: UpSampling2D(2, interpolation="bilinear"), (2, 3, 1), reference)


def test_unknown_spatial_sizes_stay_unknown() -> None:
    assert ZeroPadding2D(1)(Input(shape=(None, 4, 2))).shape == (None, None, 6, 2)
    assert ZeroPadding2D(1).compute_output_shape((None, None, 4, 2)) == (None, None, 6, 2)
    assert UpSampling1D(2)(Input(shape=(None, 3))).shape == (None, None, 3)


def test_configs_use_keras_forms() -> None:
    assert ZeroPadding2D(1).get_config()["padding"] == ((1, 1), (1, 1))
    assert ZeroPadding1D(2).get_config()["padding"] == (2, 2)
    assert Cropping2D((1, 2)).get_config()["cropping"] == ((1, 1), (2, 2))
    assert "data_format" not in Cropping1D().get_config()
    config = UpSampling2D(3, interpolation="Bilinear").get_config()
    assert config["size"] == (3, 3) and config["interpolation"] == "bilinear"
    assert config["data_format"] == "channels_last"


def test_errors_name_the_layer_and_the_fix() -> None:
    with pytest.raises(
        LayerError, match=r"ZeroPadding2D 'pad': expected a 4-D input .*\(None, 3, 2\); use Zero"
    ):
        ZeroPadding2D(name="pad")(Input(shape=(3, 2)))
    with pytest.raises(LayerError, match=r"Cropping1D 'crop': cropping 2 \+ 3 .* size 4"):
        Cropping1D((2, 3), name="crop")(Input(shape=(4, 2)))
    with pytest.raises(ValueError, match=r"ZeroPadding2D: expected padding as .*received -1"):
        ZeroPadding2D(-1)
    with pytest.raises(ValueError, match=r"Cropping3D: expected cropping as .*received \(1, 2\)"):
        Cropping3D((1, 2))
    with pytest.raises(ValueError, match="data_format 'channels_last', 'channels_first' or None"):
        UpSampling3D(data_format="NHWC")
    with pytest.raises(ValueError, match="interpolation 'nearest' or 'bilinear', received 'cubic'"):
        UpSampling2D(interpolation="cubic")
    with pytest.raises(ValueError, match=r"UpSampling1D: expected size as a positive int"):
        UpSampling1D(0)


def test_data_format_none_follows_the_config_setting() -> None:
    from lamina import config

    config.set_image_data_format("channels_first")
    try:
        layer = ZeroPadding2D(1)
    finally:
        config.set_image_data_format("channels_last")
    assert layer.get_config()["data_format"] == "channels_first"
    assert layer(Input(shape=(2, 3, 3))).shape == (None, 2, 5, 5)


def test_automatic_names_follow_keras() -> None:
    from lamina.core.layer import snake_case

    assert snake_case("UpSampling2D") == "up_sampling2d"
    assert snake_case("ZeroPadding3D") == "zero_padding3d"
    assert snake_case("BatchNormalization") == "batch_normalization"
    assert snake_case("LSTMCell") == "lstm_cell"
