from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers import check_layer
from lamina import Input
from lamina.core.errors import LayerError
from lamina.layers import Activation, Dense, Dropout, Flatten, Permute, RepeatVector, Reshape


def test_dense_matches_numpy_affine_map() -> None:
    def reference(x, layer):
        kernel, bias = layer.get_weights()
        return np.log1p(np.exp(x @ kernel + bias))

    layer = check_layer(
        lambda: Dense(5, activation="softplus"), (4,), reference, expected_shape=(None, 5)
    )
    kernel, bias = layer.get_weights()
    assert kernel.shape == (4, 5) and bias.shape == (5,)  # Keras layout
    assert not bias.any()  # zero bias, as Keras


def test_dense_on_3d_input_applies_to_last_axis() -> None:
    check_layer(
        lambda: Dense(2),
        (3, 4),
        lambda x, layer: x @ layer.get_weights()[0],
        expected_shape=(None, 3, 2),
    )


def test_dense_glorot_uniform_limits() -> None:
    layer = Dense(300)
    layer(Input(shape=(200,)))
    kernel = layer.get_weights()[0]
    limit = math.sqrt(6 / (200 + 300))
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.95 * limit
    assert abs(kernel.std() - limit / math.sqrt(3)) < 0.01 * limit * 3


def test_dense_without_bias_and_callable_activation() -> None:
    layer = check_layer(
        lambda: Dense(3, activation=torch.tanh, use_bias=False),
        (2,),
        lambda x, layer: np.tanh(x @ layer.get_weights()[0]),
    )
    assert len(layer.weights) == 1


def test_dense_rejects_wrong_last_axis_with_names() -> None:
    layer = Dense(3, name="head")
    layer(Input(shape=(4,)))
    with pytest.raises(
        LayerError,
        match=r"Dense 'head': expected input shape \(None, 4\), "
        r"received \(None, 5\)",
    ):
        layer(Input(shape=(5,)))


def test_dense_rejects_bad_units() -> None:
    with pytest.raises(ValueError, match="positive int for units, received 0"):
        Dense(0)


TORCH_REFERENCES = {
    "relu": torch.relu,
    "relu6": torch.nn.functional.relu6,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": torch.nn.functional.softplus,
    "softsign": lambda x: x / (1 + x.abs()),
    "softmax": lambda x: torch.softmax(x, -1),
    "log_softmax": lambda x: torch.log_softmax(x, -1),
    "elu": lambda x: torch.where(x > 0, x, torch.exp(x) - 1),
    "selu": lambda x: (
        1.0507009873554805 * torch.where(x > 0, x, 1.6732632423543772 * (torch.exp(x) - 1))
    ),
    "gelu": lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
    "silu": lambda x: x * torch.sigmoid(x),
    "swish": lambda x: x * torch.sigmoid(x),
    "mish": lambda x: x * torch.tanh(torch.nn.functional.softplus(x)),
    "hard_sigmoid": lambda x: torch.clamp(x + 3, 0, 6) / 6,
    "hard_silu": lambda x: x * torch.clamp(x + 3, 0, 6) / 6,
    "leaky_relu": lambda x: torch.where(x > 0, x, 0.2 * x),
    "exponential": torch.exp,
    "linear": lambda x: x,
}


@pytest.mark.parametrize("name", sorted(TORCH_REFERENCES))
def test_activation_layer_matches_torch(name: str) -> None:
    reference = TORCH_REFERENCES[name]
    check_layer(
        lambda: Activation(name),
        (6,),
        lambda x, layer: reference(torch.from_numpy(x)).numpy(),
        atol=1e-5,
    )


def test_unknown_activation_lists_choices() -> None:
    with pytest.raises(ValueError, match=r"Unknown activation 'relux'.*'relu'"):
        Activation("relux")


def test_dropout_is_identity_in_inference_and_scales_in_training() -> None:
    check_layer(lambda: Dropout(0.5), (10,), lambda x, layer: x)
    layer = Dropout(0.25)
    x = torch.ones(2000, 10)
    y = layer(x, training=True)
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.75))
    assert abs(kept.float().mean().item() - 0.75) < 0.02
    layer.train()
    assert (layer(x) == 0).any()


def test_dropout_noise_shape_drops_whole_features() -> None:
    layer = Dropout(0.5, noise_shape=(None, 1, 8), seed=3)
    y = layer(torch.ones(4, 5, 8), training=True)
    assert (y == y[:, :1, :]).all()
    with pytest.raises(ValueError, match=r"rate in \[0, 1\), received 1"):
        Dropout(1)


def test_flatten() -> None:
    check_layer(Flatten, (4, 2), lambda x, layer: x.reshape(len(x), -1), expected_shape=(None, 8))


def test_reshape_with_minus_one() -> None:
    check_layer(
        lambda: Reshape((4, 1, 1)),
        (4,),
        lambda x, layer: x.reshape(-1, 4, 1, 1),
        expected_shape=(None, 4, 1, 1),
    )
    check_layer(
        lambda: Reshape((-1, 2)),
        (3, 4),
        lambda x, layer: x.reshape(len(x), -1, 2),
        expected_shape=(None, 6, 2),
    )


def test_reshape_error_counts_values() -> None:
    with pytest.raises(
        LayerError,
        match=r"Reshape 'reshape_bad': cannot reshape \(None, 4\) "
        r"into \(4, 1, 2\): 4 values vs 8",
    ):
        Reshape((4, 1, 2), name="reshape_bad")(Input(shape=(4,)))
    with pytest.raises(ValueError, match="at most one -1"):
        Reshape((-1, -1))


def test_permute() -> None:
    check_layer(
        lambda: Permute((2, 1)),
        (3, 4),
        lambda x, layer: x.transpose(0, 2, 1),
        expected_shape=(None, 4, 3),
    )
    with pytest.raises(ValueError, match=r"permutation of 1..2, received \(0, 1\)"):
        Permute((0, 1))


def test_repeat_vector() -> None:
    check_layer(
        lambda: RepeatVector(3),
        (4,),
        lambda x, layer: np.repeat(x[:, None, :], 3, axis=1),
        expected_shape=(None, 3, 4),
    )


def test_constant_initializer_and_its_config() -> None:
    from lamina import initializers

    layer = Dense(2, kernel_initializer=initializers.Constant(0.5), bias_initializer="ones")
    layer(Input(shape=(3,)))
    kernel, bias = layer.get_weights()
    np.testing.assert_array_equal(kernel, np.full((3, 2), 0.5))
    np.testing.assert_array_equal(bias, np.ones(2))
    config = layer.get_config()
    assert config["kernel_initializer"] == {"class_name": "Constant", "config": {"value": 0.5}}
    assert config["bias_initializer"] == "ones"
    clone = Dense.from_config(config)
    clone(Input(shape=(3,)))
    np.testing.assert_array_equal(clone.get_weights()[0], kernel)
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'"):
        Dense(2, kernel_initializer="glorot")
