from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import check_layer
from keras_cases import case_id, config_keys, keras_cases
from lamina import Input, Model
from lamina.core.layer import LayerError
from lamina.layers import (
    ActivityRegularization,
    AlphaDropout,
    Dense,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)

CASES = keras_cases("regularization")
CLASSES = {
    "ActivityRegularization": ActivityRegularization,
    "AlphaDropout": AlphaDropout,
    "GaussianDropout": GaussianDropout,
    "GaussianNoise": GaussianNoise,
    "SpatialDropout1D": SpatialDropout1D,
    "SpatialDropout2D": SpatialDropout2D,
    "SpatialDropout3D": SpatialDropout3D,
}


@pytest.fixture(autouse=True)
def _seeded() -> None:
    # Statistical checks draw from torch's global generator: the same draws in every run.
    torch.manual_seed(0)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_keras(case) -> None:
    layer = CLASSES[case.spec["layer"]](**case.args)
    got = layer(torch.from_numpy(case.input), **case.call)
    np.testing.assert_allclose(got.detach().numpy(), case.output, atol=1e-6)
    assert set(layer.get_config()) - {"name", "trainable"} == config_keys(case)
    if "loss" in case.extra:
        (loss,) = layer.losses
        np.testing.assert_allclose(loss.item(), case.extra["loss"], rtol=1e-5)


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: SpatialDropout1D(0.5, seed=1), (3, 4)),
        (lambda: SpatialDropout2D(0.5, seed=1), (2, 3, 4)),
        (lambda: SpatialDropout2D(0.5, data_format="channels_first"), (4, 2, 3)),
        (lambda: SpatialDropout3D(0.5), (2, 2, 2, 3)),
        (lambda: GaussianNoise(0.3, seed=2), (4,)),
        (lambda: GaussianDropout(0.3), (4,)),
        (lambda: AlphaDropout(0.3, noise_shape=(None, 1)), (3, 2)),
        (lambda: ActivityRegularization(l1=0.1, l2=0.01), (4,)),
    ],
)
def test_check_layer_identity_at_inference(make, shape) -> None:
    check_layer(make, shape, lambda x, layer: x)


@pytest.mark.parametrize(
    ("make", "channel_axis"),
    [
        (lambda: SpatialDropout1D(0.4, seed=3), -1),
        (lambda: SpatialDropout2D(0.4, seed=3), -1),
        (lambda: SpatialDropout2D(0.4, data_format="channels_first", seed=3), 1),
        (lambda: SpatialDropout3D(0.4, seed=3), -1),
    ],
)
def test_spatial_dropout_drops_whole_channels(make, channel_axis) -> None:
    layer = make()
    rank = layer.rank + 2
    shape = [64, 3, 3, 3, 3][:rank]
    shape[channel_axis] = 16
    x = torch.ones(shape)
    y = layer(x, training=True)
    assert ((y == 0) | torch.isclose(y, torch.tensor(1 / 0.6))).all()
    per_channel = y.movedim(channel_axis, 1).reshape(64, 16, -1)
    assert (per_channel == per_channel[..., :1]).all()  # one draw per sample and channel
    assert abs((per_channel[..., 0] == 0).float().mean().item() - 0.4) < 0.06


def test_noise_layers_statistics_in_training() -> None:
    torch.manual_seed(0)
    x = torch.full((200, 100), 2.0)
    noise = GaussianNoise(0.5)(x, training=True) - x
    assert abs(noise.mean().item()) < 0.02 and abs(noise.std().item() - 0.5) < 0.02
    y = GaussianDropout(0.2)(x, training=True)
    assert abs(y.mean().item() - 2.0) < 0.02
    assert abs(y.std().item() - 2.0 * (0.2 / 0.8) ** 0.5) < 0.02
    z = torch.randn(400, 100)
    out = AlphaDropout(0.3)(z, training=True)
    assert abs(out.mean().item()) < 0.03 and abs(out.std().item() - 1.0) < 0.03
    saturation = -1.6732632423543772 * 1.0507009873554805
    a = (0.7 * (1 + 0.3 * saturation**2)) ** -0.5
    dropped = (out - (a * saturation - a * saturation * 0.3)).abs() < 1e-5
    assert dropped.float().mean().item() == pytest.approx(0.3, abs=0.02)


def test_seeded_layers_repeat_their_noise() -> None:
    x = torch.ones(4, 5)
    for make in (lambda: GaussianNoise(0.3, seed=7), lambda: AlphaDropout(0.5, seed=7)):
        torch.testing.assert_close(make()(x, training=True), make()(x, training=True))


def test_activity_regularization_reaches_the_training_loss() -> None:
    inputs = Input(shape=(3,))
    dense = Dense(2, kernel_initializer="ones", use_bias=False)
    model = Model(inputs, ActivityRegularization(l2=0.5)(dense(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    x, y = torch.ones(4, 3), torch.zeros(4, 2)
    loss = model.evaluate(x, y, verbose=0)
    outputs = torch.full((4, 2), 3.0)
    expected = (outputs**2).mean() + 0.5 * (outputs**2).sum() / 4
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected.item(), rel=1e-5)
    assert history.history["loss"][1] < history.history["loss"][0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GaussianNoise(1.5), r"GaussianNoise: expected a number in \[0, 1\] for stddev"),
        (lambda: GaussianDropout(1.0), r"GaussianDropout: .* \[0, 1\) for rate, received 1.0"),
        (lambda: AlphaDropout(-0.1), r"AlphaDropout: .*rate, received -0.1"),
        (lambda: SpatialDropout2D(0.1, data_format="nhwc"), r"data_format 'channels_last'"),
        (lambda: ActivityRegularization(l1=-1), r"expected a number >= 0 for l1, received -1"),
    ],
)
def test_bad_arguments(make, message) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_spatial_dropout_rejects_wrong_rank() -> None:
    with pytest.raises(
        LayerError, match=r"SpatialDropout2D 's': expected a 4-D input .*\(None, 3\)"
    ):
        SpatialDropout2D(0.1, name="s")(Input(shape=(3,)))
