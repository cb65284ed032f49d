"""`lamina.utils.to_categorical` / `normalize` against Keras fixtures; `lamina.config` and
`lamina.backend`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lamina import backend, config
from lamina.utils import normalize, to_categorical

UTILS = np.load(Path(__file__).parent / "fixtures" / "keras" / "utils.npz")


def test_to_categorical_matches_keras() -> None:
    got = to_categorical(UTILS["labels"])
    assert got.dtype == UTILS["categorical"].dtype and got.shape == (5, 3)
    np.testing.assert_array_equal(got, UTILS["categorical"])
    np.testing.assert_array_equal(to_categorical(UTILS["labels"], 5), UTILS["categorical_5"])
    np.testing.assert_array_equal(
        to_categorical(UTILS["matrix"], num_classes=3), UTILS["categorical_matrix"]
    )
    np.testing.assert_array_equal(to_categorical(UTILS["column"]), UTILS["categorical_column"])
    as_tensor = to_categorical(torch.from_numpy(UTILS["labels"]))
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.dtype == torch.float32
    np.testing.assert_array_equal(as_tensor.numpy(), UTILS["categorical"])


def test_to_categorical_errors_say_what_was_wrong() -> None:
    with pytest.raises(ValueError, match=r"received label 3, expected labels in \[0, 3\)"):
        to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match=r"received label -1"):
        to_categorical([0, -1])
    with pytest.raises(ValueError, match=r"positive int for num_classes, received 0"):
        to_categorical([0], num_classes=0)
    with pytest.raises(ValueError, match=r"expected integer class labels"):
        to_categorical([0.5])


@pytest.mark.parametrize(
    ("key", "axis", "order"),
    [("normalize", -1, 2), ("normalize_axis1_order1", 1, 1), ("normalize_axis0_order3", 0, 3)],
)
def test_normalize_matches_keras(key: str, axis: int, order: int) -> None:
    x = UTILS["x"]
    got = normalize(x, axis=axis, order=order)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, UTILS[key], rtol=1e-5, atol=1e-6)
    tensor = normalize(torch.from_numpy(x), axis=axis, order=order)
    np.testing.assert_allclose(tensor.numpy(), UTILS[key], rtol=1e-5, atol=1e-6)


def test_normalize_keeps_zero_rows_and_checks_the_axis() -> None:
    np.testing.assert_array_equal(normalize(np.zeros((2, 3))), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"normalize: received axis=2 for an array of shape"):
        normalize(np.ones((2, 3)), axis=2)


def test_config_settings_round_trip() -> None:
    assert config.epsilon() == 1e-7 and backend.epsilon() == 1e-7
    assert config.floatx() == "float32" and config.image_data_format() == "channels_last"
    try:
        config.set_epsilon(1e-5)
        config.set_image_data_format("channels_first")
        backend.set_floatx("float64")
        assert backend.epsilon() == 1e-5 and backend.image_data_format() == "channels_first"
        assert torch.get_default_dtype() == torch.float64 and config.floatx() == "float64"
    finally:
        config.set_epsilon(1e-7)
        config.set_image_data_format("channels_last")
        config.set_floatx("float32")
    with pytest.raises(ValueError, match=r"set_image_data_format: expected 'channels_last'"):
        config.set_image_data_format("NHWC")
    with pytest.raises(ValueError, match=r"set_floatx: expected one of .* received 'int8'"):
        config.set_floatx("int8")


def test_backend_basics() -> None:
    from lamina import Input

    assert backend.backend() == "torch"
    backend.clear_session()
    assert backend.get_uid("x") == 1 and backend.get_uid("x") == 2
    assert backend.is_keras_tensor(Input((2,))) and not backend.is_keras_tensor(torch.ones(1))
    assert backend.standardize_dtype(torch.float16) == "float16"
    assert backend.standardize_dtype(np.float32) == "float32"
    assert backend.is_float_dtype("bfloat16") and backend.is_int_dtype("uint8")
    with pytest.raises(ValueError, match=r"standardize_dtype: received 'floaty'"):
        backend.standardize_dtype("floaty")
    backend.clear_session()
