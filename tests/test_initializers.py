"""Initializers: statistics, configs and seeding against Keras fixtures."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from lamina import initializers as I
from lamina.layers import Dense

INIT = np.load(Path(__file__).parent / "fixtures" / "keras" / "initializers.npz")
SHAPE = (3, 3, 40, 60)  # the fixture's convolution kernel: fans 360 and 540

MAKERS = {
    "glorot_uniform": lambda: I.GlorotUniform(seed=1),
    "glorot_normal": lambda: I.GlorotNormal(seed=1),
    "he_normal": lambda: I.HeNormal(seed=1),
    "he_uniform": lambda: I.HeUniform(seed=1),
    "lecun_normal": lambda: I.LecunNormal(seed=1),
    "lecun_uniform": lambda: I.LecunUniform(seed=1),
    "random_normal": lambda: I.RandomNormal(mean=0.5, stddev=2.0, seed=1),
    "random_uniform": lambda: I.RandomUniform(-3.0, 1.0, seed=1),
    "truncated_normal": lambda: I.TruncatedNormal(mean=1.0, stddev=0.5, seed=1),
    "variance_scaling_fan_out_uniform": lambda: I.VarianceScaling(
        2.0, mode="fan_out", distribution="uniform", seed=1
    ),
    "variance_scaling_fan_avg_untruncated": lambda: I.VarianceScaling(
        3.0, mode="fan_avg", distribution="untruncated_normal", seed=1
    ),
    "variance_scaling_default": lambda: I.VarianceScaling(seed=1),
    "orthogonal": lambda: I.Orthogonal(gain=2.0, seed=1),
    "constant": lambda: I.Constant(0.25),
    "zeros": lambda: I.Zeros(),
    "ones": lambda: I.Ones(),
    "identity": lambda: I.Identity(gain=3.0),
}
UNBOUNDED = ("random_normal", "variance_scaling_fan_avg_untruncated")


def _shape(name: str) -> tuple[int, ...]:
    return {"identity": (60, 60), "orthogonal": (30, 80)}.get(name, SHAPE)


@pytest.mark.parametrize("name", MAKERS)
def test_statistics_config_and_seeding_match_keras(name: str) -> None:
    init = MAKERS[name]()
    a, b = init(_shape(name)), init(_shape(name))
    values = a.double().numpy()
    mean, std, low, high = INIT[f"{name}_stats"]
    # 129,600 draws: the mean is within a few standard errors, the spread within 1%.
    assert abs(values.mean() - mean) <= 5 * std / np.sqrt(values.size) + 1e-12
    np.testing.assert_allclose(values.std(), std, rtol=0.02 if name == "orthogonal" else 0.01)
    if name not in UNBOUNDED:  # bounded draws reach their bounds
        np.testing.assert_allclose([values.min(), values.max()], [low, high], rtol=0.01, atol=2e-3)
    assert bool(torch.equal(a, b)) == bool(INIT[f"{name}_repeats"])
    keras_config = dict(ast.literal_eval(str(INIT[f"{name}_config"])))
    keras_config = {k: v for k, v in keras_config.items() if k not in ("input_axes", "output_axes")}
    ours = init.get_config()
    if name == "identity":
        assert ours == {"gain": 3.0}  # Keras 3.15's Identity leaves its gain out of its config
    else:
        assert ours == keras_config
    again = I.get(I.serialize(init))
    assert type(again) is type(init) and again.get_config() == ours


def test_orthogonal_and_identity_values() -> None:
    q = I.Orthogonal(gain=2.0, seed=1)((30, 80))
    torch.testing.assert_close(q @ q.t(), 4 * torch.eye(30), atol=1e-4, rtol=0)
    keras_q = torch.from_numpy(INIT["orthogonal_values"])
    torch.testing.assert_close(keras_q @ keras_q.t(), 4 * torch.eye(30), atol=1e-4, rtol=0)
    tall = I.Orthogonal(seed=2)((3, 3, 4, 20)).reshape(-1, 20)
    torch.testing.assert_close(tall.t() @ tall, torch.eye(20), atol=1e-4, rtol=0)
    np.testing.assert_array_equal(I.Identity(gain=3.0)((60, 60)).numpy(), INIT["identity_values"])


def test_seeds_and_the_global_generator() -> None:
    assert torch.equal(I.HeNormal(seed=3)((4, 5)), I.HeNormal(seed=3)((4, 5)))
    assert not torch.equal(I.HeNormal(seed=3)((4, 5)), I.HeNormal(seed=4)((4, 5)))
    unseeded = I.HeNormal()
    assert not torch.equal(unseeded((4, 5)), unseeded((4, 5)))
    torch.manual_seed(0)
    a = I.get("he_normal")((4, 5))
    torch.manual_seed(0)
    assert torch.equal(a, I.he_normal((4, 5)))  # the function API is unchanged
    assert I.get("he_normal") is I.he_normal and I.serialize(I.he_normal) == "he_normal"
    assert I.get("truncated_normal") is I.truncated_normal
    assert I.get("normal") is I.random_normal and I.get("one") is I.ones
    assert isinstance(I.get("GlorotUniform"), I.GlorotUniform)


def test_dense_takes_an_initializer_object_and_saves_its_config() -> None:
    layer = Dense(3, kernel_initializer=I.RandomNormal(stddev=0.5, seed=7))
    layer.build((None, 4))
    assert torch.equal(layer.kernel.detach(), I.RandomNormal(stddev=0.5, seed=7)((4, 3)))
    config = layer.get_config()["kernel_initializer"]
    assert config == {
        "class_name": "RandomNormal",
        "config": {"mean": 0.0, "stddev": 0.5, "seed": 7},
    }
    clone = Dense.from_config(layer.get_config())
    clone.build((None, 4))
    assert torch.equal(clone.kernel, layer.kernel)


def test_bad_arguments_name_the_class_and_the_value() -> None:
    with pytest.raises(
        ValueError, match=r"VarianceScaling: expected mode in .* received mode='fan'"
    ):
        I.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match=r"VarianceScaling: expected distribution in .*'normal'"):
        I.VarianceScaling(distribution="normal")
    with pytest.raises(ValueError, match=r"VarianceScaling: expected a positive scale, received"):
        I.VarianceScaling(scale=0)
    with pytest.raises(ValueError, match=r"HeNormal: expected an int or None for seed, received"):
        I.HeNormal(seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"RandomUniform: expected minval <= maxval"):
        I.RandomUniform(1.0, 0.0)
    with pytest.raises(ValueError, match=r"Orthogonal: expected a shape of at least 2 dim"):
        I.Orthogonal()((3,))
    with pytest.raises(
        ValueError, match=r"Identity: expected a 2-D shape, received shape=\(2, 2, 2\)"
    ):
        I.Identity()((2, 2, 2))
    with pytest.raises(ValueError, match=r"Unknown initializer 'glorot'; expected one of"):
        I.get("glorot")
    with pytest.raises(ValueError, match=r"Unknown initializer class 'Glorot'"):
        I.get({"class_name": "Glorot", "config": {}})


def test_classes_are_accepted_as_identifiers() -> None:
    from lamina import constraints, regularizers

    assert isinstance(I.get(I.HeNormal), I.HeNormal)
    assert isinstance(regularizers.get(regularizers.L2), regularizers.L2)
    assert isinstance(constraints.get(constraints.NonNeg), constraints.NonNeg)
    layer = Dense(2, kernel_initializer=I.Ones, kernel_regularizer=regularizers.L1)
    layer.build((None, 3))
    assert (layer.kernel == 1).all() and layer.kernel.regularizer.l1 == 0.01  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "init", [I.Orthogonal(seed=1), I.VarianceScaling(2.0, "fan_avg", "uniform"), I.Identity(2.0)]
)
def test_dense_with_an_initializer_object_saves_and_loads(init: I.Initializer) -> None:
    from helpers import check_layer

    def reference(x: np.ndarray, layer: Dense) -> np.ndarray:
        kernel, bias = layer.get_weights()
        return x @ kernel + bias

    check_layer(lambda: Dense(4, kernel_initializer=init), (4,), reference, atol=1e-5)
