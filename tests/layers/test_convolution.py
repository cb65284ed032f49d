from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from helpers import check_layer
from keras_fixtures import check_against_keras
from lamina import Input, Model, constraints, layers, regularizers
from lamina.core.layer import LayerError
from lamina.layers import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "keras" / "convolution"
CASES = sorted(p.stem for p in FIXTURES.glob("*.npz") if "pooling" not in p.stem)


def compare_with_keras_fixture(case: str) -> None:
    """Keras's weights into the lamina layer: same output and shapes, and the same config."""
    layer, data = check_against_keras(f"convolution/{case}")
    compare_config(layer, data)


def compare_config(layer: Any, data: dict[str, np.ndarray]) -> None:
    """The same config keys as Keras's, and the same plain values."""
    keras_config = json.loads(str(data["config"]))
    config = layer.get_config()
    assert set(keras_config) == set(config) - {"name", "trainable", "dtype"}
    for key, value in keras_config.items():
        if not isinstance(value, dict):
            assert _plain(config[key]) == value, key


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def same_default(keras: str | None, mine: str | None) -> bool:
    """Keras's default and ours mean the same: equal, or an int for a tuple of that int."""
    if keras is None or mine is None:
        return keras == mine
    a, b = ast.literal_eval(keras), ast.literal_eval(mine)
    if isinstance(a, tuple) and isinstance(b, int):
        return all(v == b for v in a)
    return bool(a == b)


SIGNATURES = json.loads((FIXTURES / "signatures.json").read_text())


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_arguments_and_defaults_match_keras(name: str) -> None:
    parameters = inspect.signature(getattr(layers, name).__init__).parameters
    mine = {
        p.name: None if p.default is p.empty else repr(p.default)
        for p in parameters.values()
        if p.name != "self" and p.kind is not p.VAR_KEYWORD
    }
    for argument, default in SIGNATURES[name].items():
        if argument == "name" and argument not in mine:
            continue  # through **kwargs, as every layer
        assert argument in mine, f"{name}: missing {argument!r} (Keras default {default})"
        assert same_default(default, mine[argument]), (argument, default, mine[argument])


def test_every_layer_has_keras_fixtures() -> None:
    names = {str(np.load(FIXTURES / f"{case}.npz")["layer"]) for case in CASES}
    assert names == {
        f"{kind}{rank}D{suffix}"
        for kind, suffix, ranks in (
            ("Conv", "", (1, 2, 3)),
            ("Conv", "Transpose", (1, 2, 3)),
            ("SeparableConv", "", (1, 2)),
            ("DepthwiseConv", "", (1, 2)),
        )
        for rank in ranks
    }


@pytest.mark.parametrize("case", CASES)
def test_matches_keras(case: str) -> None:
    compare_with_keras_fixture(case)


# ---------------------------------------------------------------- NumPy references (valid)
def windows(x: np.ndarray, kernel_size: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """`(batch, *out, channels, *kernel_size)` windows of a channels-last `x`."""
    rank = len(kernel_size)
    view = sliding_window_view(x, kernel_size, axis=tuple(range(1, rank + 1)))
    return view[(slice(None), *(slice(None, None, s) for s in strides))]


def np_conv(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, ...]) -> np.ndarray:
    rank = kernel.ndim - 2
    w = windows(x, kernel.shape[:rank], strides)
    axes = ([rank + 1, *range(rank + 2, 2 * rank + 2)], [rank, *range(rank)])
    return np.tensordot(w, kernel, axes=axes)


def np_depthwise(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, ...]) -> np.ndarray:
    rank = kernel.ndim - 2
    w = windows(x, kernel.shape[:rank], strides)  # (N, *out, C, *k)
    k = np.moveaxis(kernel, rank, 0)  # (C, *k, M)
    out = np.einsum(
        "n...cK,cKm->n...cm",
        w.reshape(*w.shape[: rank + 2], -1),
        k.reshape(k.shape[0], -1, k.shape[-1]),
    )
    return out.reshape(*out.shape[:-2], -1)


def np_conv_transpose(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, ...]) -> np.ndarray:
    """Each input position adds its kernel-weighted values to a window of the output."""
    rank = kernel.ndim - 2
    sizes = kernel.shape[:rank]
    out = [(n - 1) * s + k for n, s, k in zip(x.shape[1:-1], strides, sizes)]
    y = np.zeros((x.shape[0], *out, kernel.shape[-2]), dtype=np.float64)
    for position in np.ndindex(*x.shape[1:-1]):
        window = tuple(slice(p * s, p * s + k) for p, s, k in zip(position, strides, sizes))
        y[(slice(None), *window)] += np.einsum(
            "nc,...fc->n...f", x[(slice(None), *position)], kernel
        )
    return y


def with_bias(y: np.ndarray, layer: Any) -> np.ndarray:
    return y + layer.bias.detach().numpy() if layer.bias is not None else y


@pytest.mark.parametrize(
    ("make", "shape", "strides", "expected"),
    [
        (lambda: Conv1D(3, 2, strides=2), (5, 2), (2,), (None, 2, 3)),
        (lambda: Conv2D(3, (2, 3), activation="relu"), (4, 5, 2), (1, 1), (None, 3, 3, 3)),
        (lambda: Conv3D(2, 2, use_bias=False), (3, 3, 2, 1), (1, 1, 1), (None, 2, 2, 1, 2)),
    ],
)
def test_conv(make: Any, shape: tuple[int, ...], strides: tuple[int, ...], expected: Any) -> None:
    def reference(x: np.ndarray, layer: Any) -> np.ndarray:
        y = with_bias(np_conv(x, layer.kernel.detach().numpy(), strides), layer)
        return np.maximum(y, 0) if layer.activation is not layers.core.activations.linear else y

    layer = check_layer(make, shape, reference, expected_shape=expected, atol=1e-5)
    assert layer.kernel.shape == (*layer.kernel_size, shape[-1], layer.filters)  # Keras layout


@pytest.mark.parametrize(
    ("make", "shape", "strides", "expected"),
    [
        (lambda: Conv1DTranspose(2, 3, strides=2), (3, 2), (2,), (None, 7, 2)),
        (lambda: Conv2DTranspose(3, 2, strides=(1, 2)), (2, 3, 2), (1, 2), (None, 3, 6, 3)),
        (lambda: Conv3DTranspose(2, 2, strides=2), (2, 1, 2, 1), (2, 2, 2), (None, 4, 2, 4, 2)),
    ],
)
def test_conv_transpose(
    make: Any, shape: tuple[int, ...], strides: tuple[int, ...], expected: Any
) -> None:
    def reference(x: np.ndarray, layer: Any) -> np.ndarray:
        return with_bias(np_conv_transpose(x, layer.kernel.detach().numpy(), strides), layer)

    layer = check_layer(make, shape, reference, expected_shape=expected, atol=1e-5)
    assert layer.kernel.shape == (*layer.kernel_size, layer.filters, shape[-1])


@pytest.mark.parametrize(
    ("make", "shape", "expected"),
    [
        (lambda: DepthwiseConv1D(2, depth_multiplier=2), (4, 3), (None, 3, 6)),
        (lambda: DepthwiseConv2D((2, 3), strides=(1, 2)), (3, 5, 2), (None, 2, 2, 2)),
    ],
)
def test_depthwise_conv(make: Any, shape: tuple[int, ...], expected: Any) -> None:
    def reference(x: np.ndarray, layer: Any) -> np.ndarray:
        return with_bias(np_depthwise(x, layer.kernel.detach().numpy(), layer.strides), layer)

    layer = check_layer(make, shape, reference, expected_shape=expected, atol=1e-5)
    assert [n for n, _ in layer.named_parameters()] == ["kernel", "bias"]


@pytest.mark.parametrize(
    ("make", "shape", "expected"),
    [
        (lambda: SeparableConv1D(3, 2, depth_multiplier=2), (4, 2), (None, 3, 3)),
        (lambda: SeparableConv2D(2, 2, strides=2), (4, 5, 3), (None, 2, 2, 2)),
    ],
)
def test_separable_conv(make: Any, shape: tuple[int, ...], expected: Any) -> None:
    def reference(x: np.ndarray, layer: Any) -> np.ndarray:
        depthwise = np_depthwise(x, layer.depthwise_kernel.detach().numpy(), layer.strides)
        pointwise = layer.pointwise_kernel.detach().numpy()
        return with_bias(depthwise @ pointwise.reshape(pointwise.shape[-2:]), layer)

    layer = check_layer(make, shape, reference, expected_shape=expected, atol=1e-5)
    names = [n for n, _ in layer.named_parameters()]
    assert names == ["depthwise_kernel", "pointwise_kernel", "bias"]


def test_channels_last_output_is_contiguous_without_copying_the_input() -> None:
    layer = Conv2D(4, 3, padding="same")
    x = torch.randn(2, 6, 6, 3)
    y = layer(x)
    assert y.is_contiguous()  # torch ran on the channels_last view and kept its format
    assert x.permute(0, 3, 1, 2).is_contiguous(memory_format=torch.channels_last)


def test_unknown_spatial_sizes_infer_none() -> None:
    assert Conv2D(2, 3, strides=2)(Input(shape=(None, None, 3))).shape == (None, None, None, 2)
    assert Conv1DTranspose(2, 3, strides=2)(Input(shape=(None, 3))).shape == (None, None, 2)
    layer = Conv2D(2, 7)
    assert layer.compute_output_shape((None, None, 9, 3)) == (None, None, 3, 2)
    depthwise = DepthwiseConv2D(3, depth_multiplier=2)
    assert depthwise.compute_output_shape((None, 8, 8, 3)) == (None, 6, 6, 6)


def test_kernel_initializer_fans_use_keras_layout() -> None:
    layer = Conv2D(64, 3, kernel_initializer="he_uniform")
    layer(Input(shape=(8, 8, 16)))
    assert float(layer.kernel.detach().abs().max()) <= (6 / (3 * 3 * 16)) ** 0.5


# ---------------------------------------------------------------- errors
def test_wrong_rank_names_layer_and_fix() -> None:
    with pytest.raises(
        LayerError,
        match=r"Conv2D 'conv': expected input shape \(None, rows, cols, channels\), received "
        r"\(None, 28, 28\) \(channels_last; add a channels axis",
    ):
        Conv2D(2, 3, name="conv")(Input(shape=(28, 28)))
    with pytest.raises(LayerError, match=r"DepthwiseConv1D 'dw'.*takes 3-D inputs"):
        DepthwiseConv1D(3, name="dw")(Input(shape=(4, 4, 4, 2)))


def test_channels_mismatch_after_build() -> None:
    layer = Conv1D(2, 3, name="c")
    layer(Input(shape=(8, 3)))
    with pytest.raises(
        LayerError, match=r"Conv1D 'c': expected input shape \(None, steps, 3\), received"
    ):
        layer(Input(shape=(8, 4)))


def test_input_smaller_than_kernel() -> None:
    with pytest.raises(LayerError, match=r"smaller than the kernel \(5, 5\).*padding='same'"):
        Conv2D(2, 5)(Input(shape=(4, 8, 1)))


def test_groups_must_divide_channels() -> None:
    with pytest.raises(LayerError, match="channels must be a multiple of groups=2"):
        Conv2D(4, 1, groups=2)(Input(shape=(4, 4, 3)))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Conv2D(0, 3), "Conv2D: expected a positive int for filters, received 0"),
        (lambda: Conv2D(2, (3, 3, 3)), r"kernel_size to be a positive int or a tuple of 2"),
        (lambda: Conv2D(2, 3, padding="causal"), "expected padding 'valid' or 'same', received"),
        (lambda: Conv1D(2, 3, padding="full"), "'valid' or 'same' or 'causal'"),
        (lambda: Conv2D(3, 3, groups=2), r"filters \(3\) must be a multiple of groups \(2\)"),
        (lambda: Conv2D(2, 3, strides=0), "strides to be a positive int"),
        (lambda: Conv2D(2, 3, data_format="NHWC"), "expected data_format 'channels_last'"),
        (
            lambda: Conv2DTranspose(2, 3, strides=2, output_padding=2),
            r"output_padding \(2, 2\) must be smaller than strides \(2, 2\)",
        ),
        (lambda: DepthwiseConv2D(3, depth_multiplier=0), "positive int for depth_multiplier"),
        (lambda: Conv2D(2, 3, kernel_constraint="tight"), "tight"),
    ],
)
def test_bad_arguments(make: Any, message: str) -> None:
    with pytest.raises((ValueError, NotImplementedError), match=message):
        make()


def test_config_defaults_match_keras_names() -> None:
    config = Conv2D(8, 3).get_config()
    assert config["kernel_size"] == (3, 3) and config["strides"] == (1, 1)
    assert config["data_format"] == "channels_last" and config["padding"] == "valid"
    assert config["activation"] == "linear" and config["groups"] == 1


def test_regularizers_and_constraints_use_keras_layout() -> None:
    x = Input(shape=(5, 5, 2))
    conv = Conv2D(
        3,
        2,
        kernel_regularizer=regularizers.L2(0.1),
        bias_regularizer="l1",
        activity_regularizer=regularizers.L1(0.01),
        kernel_constraint=constraints.MaxNorm(0.5, axis=[0, 1, 2]),  # per filter, as in Keras
    )
    separable = SeparableConv2D(2, 2, pointwise_regularizer=regularizers.L2(0.2))
    model = Model(x, separable(conv(x)))
    model.compile(optimizer="sgd", loss="mse")
    data = torch.randn(4, 5, 5, 2)
    output = conv(data)
    kernel, bias = conv.get_weights()
    pointwise = separable.pointwise_kernel.detach().numpy()
    model(data)
    expected = [
        0.1 * (kernel**2).sum(),
        0.01 * abs(bias).sum(),
        0.2 * (pointwise**2).sum(),
        0.01 * output.abs().sum().item() / 4,
    ]
    assert sorted(v.item() for v in model.losses) == pytest.approx(sorted(expected), rel=1e-5)
    model.train_on_batch(data.numpy(), np.zeros((4, 3, 3, 2), np.float32))
    norms = np.sqrt((conv.get_weights()[0] ** 2).sum(axis=(0, 1, 2)))
    assert norms.max() <= 0.5 + 1e-6
    config = conv.get_config()
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.1}}
    clone = Conv2D.from_config(config)
    assert isinstance(clone.kernel_constraint, constraints.MaxNorm)
    assert isinstance(clone.activity_regularizer, regularizers.L1)


def test_data_format_none_follows_the_global_setting() -> None:
    from lamina import config

    config.set_image_data_format("channels_first")
    try:
        layer = Conv2D(2, 3)
    finally:
        config.set_image_data_format("channels_last")
    assert layer.data_format == "channels_first"
    assert layer(Input(shape=(1, 6, 6))).shape == (None, 2, 4, 4)


def test_default_names_are_keras_names() -> None:
    from lamina.core.layer import snake_case

    names = {
        cls: snake_case(cls)
        for cls in ("Conv2D", "Conv3DTranspose", "SeparableConv1D", "GlobalAveragePooling2D")
    }
    assert names == {
        "Conv2D": "conv2d",
        "Conv3DTranspose": "conv3d_transpose",
        "SeparableConv1D": "separable_conv1d",
        "GlobalAveragePooling2D": "global_average_pooling2d",
    }


def test_subclass_with_its_own_call_is_run_for_its_shape() -> None:
    class Halve(Conv2D):
        def call(self, inputs: torch.Tensor) -> torch.Tensor:
            return super().call(inputs)[:, ::2]

    assert Halve(2, 3)(Input(shape=(7, 5, 1))).shape == (None, 3, 3, 2)
