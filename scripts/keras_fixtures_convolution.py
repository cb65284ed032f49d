"""Write the Keras fixtures of the convolution and pooling layers (needs Keras 3).

    KERAS_BACKEND=torch /work/venvs/keras/bin/python scripts/keras_fixtures_convolution.py

For each case below, Keras builds the layer on a small random input, its weights are set to
random values (biases included, so that they are checked too), and one `.npz` per case is
written under `tests/fixtures/keras/convolution/` in the layout `tests/keras_fixtures.py`
reads: the layer's class name (`layer`) and arguments (`kwargs`, JSON), the input `x`, the
weights `w0`, `w1`, ... in Keras's layout, and Keras's output `y`; also Keras's config
(`config`, JSON, plain values only). `signatures.json` beside them holds each class's
constructor arguments and defaults. `tests/layers/test_convolution.py` and `test_pooling.py`
compare lamina against them without Keras.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "keras" / "convolution"

CF = {"data_format": "channels_first"}

# (case name, Keras class, arguments, input shape without the batch axis)
CASES: list[tuple[str, str, dict[str, Any], tuple[int, ...]]] = [
    ("conv1d", "Conv1D", {"filters": 3, "kernel_size": 3}, (7, 2)),
    (
        "conv1d_same_s2_k4",
        "Conv1D",
        {"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same"},
        (7, 3),
    ),
    (
        "conv1d_causal_d2",
        "Conv1D",
        {"filters": 2, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
        (6, 2),
    ),
    ("conv1d_groups_cf", "Conv1D", {"filters": 4, "kernel_size": 2, "groups": 2, **CF}, (4, 6)),
    ("conv2d", "Conv2D", {"filters": 3, "kernel_size": 3}, (6, 5, 2)),
    (
        "conv2d_same_s2_k3",
        "Conv2D",
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
        (7, 6, 2),
    ),
    (
        "conv2d_same_s2_k4",
        "Conv2D",
        {"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same"},
        (7, 7, 2),
    ),
    (
        "conv2d_same_k2",
        "Conv2D",
        {"filters": 2, "kernel_size": (2, 3), "padding": "same"},
        (5, 4, 2),
    ),
    (
        "conv2d_same_d2",
        "Conv2D",
        {"filters": 2, "kernel_size": 3, "padding": "same", "dilation_rate": 2},
        (6, 6, 1),
    ),
    (
        "conv2d_groups_relu_nobias",
        "Conv2D",
        {"filters": 4, "kernel_size": 2, "groups": 2, "activation": "relu", "use_bias": False},
        (4, 4, 4),
    ),
    (
        "conv2d_cf_same_s2",
        "Conv2D",
        {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", **CF},
        (2, 6, 5),
    ),
    ("conv3d", "Conv3D", {"filters": 2, "kernel_size": 2}, (3, 4, 3, 2)),
    (
        "conv3d_same_s2_k2",
        "Conv3D",
        {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same"},
        (5, 4, 3, 1),
    ),
    (
        "conv1d_transpose_same_s2",
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
        (4, 3),
    ),
    (
        "conv1d_transpose_valid_s2",
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2},
        (4, 3),
    ),
    (
        "conv1d_transpose_valid_k2_s3",
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 2, "strides": 3},
        (4, 2),
    ),
    (
        "conv1d_transpose_same_op1",
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1},
        (4, 2),
    ),
    (
        "conv1d_transpose_valid_op1",
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1},
        (4, 2),
    ),
    (
        "conv1d_transpose_same_d2",
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 3, "padding": "same", "dilation_rate": 2},
        (5, 2),
    ),
    (
        "conv2d_transpose_same_s2_k3",
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
        (3, 4, 2),
    ),
    (
        "conv2d_transpose_same_s2_k4",
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same"},
        (3, 3, 2),
    ),
    ("conv2d_transpose_valid", "Conv2DTranspose", {"filters": 3, "kernel_size": 3}, (3, 3, 2)),
    (
        "conv2d_transpose_same_s2_k4_op1",
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same", "output_padding": 1},
        (3, 3, 2),
    ),
    (
        "conv2d_transpose_cf_s2",
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 2, "strides": 2, **CF},
        (3, 3, 2),
    ),
    (
        "conv3d_transpose_valid_s2",
        "Conv3DTranspose",
        {"filters": 2, "kernel_size": 2, "strides": 2},
        (2, 3, 2, 2),
    ),
    (
        "conv3d_transpose_same_s2_k3",
        "Conv3DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
        (2, 2, 3, 1),
    ),
    (
        "separable_conv1d_same_dm2",
        "SeparableConv1D",
        {"filters": 3, "kernel_size": 3, "padding": "same", "depth_multiplier": 2},
        (6, 2),
    ),
    (
        "separable_conv1d_s2",
        "SeparableConv1D",
        {"filters": 2, "kernel_size": 2, "strides": 2},
        (7, 3),
    ),
    (
        "separable_conv2d_same_s2_dm2",
        "SeparableConv2D",
        {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2},
        (6, 5, 2),
    ),
    ("separable_conv2d_cf", "SeparableConv2D", {"filters": 2, "kernel_size": 2, **CF}, (3, 4, 4)),
    ("depthwise_conv1d_dm2", "DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2}, (6, 3)),
    (
        "depthwise_conv1d_same_s2",
        "DepthwiseConv1D",
        {"kernel_size": 4, "strides": 2, "padding": "same"},
        (7, 2),
    ),
    (
        "depthwise_conv2d_same_dm3",
        "DepthwiseConv2D",
        {"kernel_size": 3, "padding": "same", "depth_multiplier": 3},
        (5, 4, 2),
    ),
    (
        "depthwise_conv2d_cf_s2_d2",
        "DepthwiseConv2D",
        {"kernel_size": 2, "strides": 2, "dilation_rate": 1, **CF},
        (2, 5, 5),
    ),
    ("max_pooling1d", "MaxPooling1D", {}, (5, 2)),
    (
        "max_pooling1d_same_p3_s1",
        "MaxPooling1D",
        {"pool_size": 3, "strides": 1, "padding": "same"},
        (5, 2),
    ),
    (
        "max_pooling2d_same_p3_s2",
        "MaxPooling2D",
        {"pool_size": 3, "strides": 2, "padding": "same"},
        (6, 5, 2),
    ),
    ("max_pooling2d_cf", "MaxPooling2D", {"pool_size": (2, 3), **CF}, (2, 4, 6)),
    ("max_pooling3d_same", "MaxPooling3D", {"padding": "same"}, (3, 4, 5, 2)),
    ("average_pooling1d_same_p2", "AveragePooling1D", {"pool_size": 2, "padding": "same"}, (5, 2)),
    (
        "average_pooling1d_same_p3_s1",
        "AveragePooling1D",
        {"pool_size": 3, "strides": 1, "padding": "same"},
        (5, 2),
    ),
    ("average_pooling2d", "AveragePooling2D", {"pool_size": 2}, (4, 5, 2)),
    (
        "average_pooling2d_same_p3_s2",
        "AveragePooling2D",
        {"pool_size": 3, "strides": 2, "padding": "same"},
        (6, 5, 2),
    ),
    (
        "average_pooling2d_cf_same",
        "AveragePooling2D",
        {"pool_size": 2, "padding": "same", **CF},
        (2, 5, 3),
    ),
    (
        "average_pooling3d_same",
        "AveragePooling3D",
        {"pool_size": 2, "padding": "same"},
        (3, 3, 4, 2),
    ),
    ("global_max_pooling1d", "GlobalMaxPooling1D", {}, (5, 3)),
    ("global_max_pooling2d_keepdims", "GlobalMaxPooling2D", {"keepdims": True}, (4, 3, 2)),
    ("global_max_pooling3d_cf", "GlobalMaxPooling3D", CF, (2, 3, 2, 3)),
    ("global_average_pooling1d_cf", "GlobalAveragePooling1D", CF, (3, 5)),
    ("global_average_pooling2d", "GlobalAveragePooling2D", {}, (4, 3, 2)),
    (
        "global_average_pooling3d_keepdims",
        "GlobalAveragePooling3D",
        {"keepdims": True},
        (2, 3, 2, 3),
    ),
]


# Keras 2's names that Keras 3 keeps; their signatures are checked too.
ALIASES = {
    f"{kind}{rank}D"
    for kind in ("MaxPool", "AvgPool", "GlobalMaxPool", "GlobalAvgPool")
    for rank in (1, 2, 3)
}


def plain(value: Any) -> Any:
    """Keras's config values that are plain data (tuples as lists); `None` for the rest."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for case, class_name, arguments, shape in CASES:
        layer = getattr(keras.layers, class_name)(**arguments)
        x = rng.standard_normal((2, *shape)).astype(np.float32)
        layer.build((None, *shape))
        weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.weights]
        layer.set_weights(weights)
        y = keras.ops.convert_to_numpy(layer(x))
        config = {}
        for key, value in layer.get_config().items():
            if key in ("name", "dtype", "trainable"):
                continue
            try:
                config[key] = plain(value)
            except TypeError:
                config[key] = {"not_plain": True}
        np.savez_compressed(
            OUT / f"{case}.npz",
            layer=class_name,
            kwargs=json.dumps(arguments),
            config=json.dumps(config),
            x=x,
            y=y,
            **{f"w{i}": w for i, w in enumerate(weights)},
        )
        print(f"{case}: {class_name} {shape} -> {y.shape[1:]}")
    signatures = {}
    for class_name in sorted({case[1] for case in CASES} | ALIASES):
        parameters = inspect.signature(getattr(keras.layers, class_name).__init__).parameters
        signatures[class_name] = {
            p.name: None if p.default is p.empty else repr(p.default)
            for p in parameters.values()
            if p.name != "self" and p.kind is not p.VAR_KEYWORD
        }
    (OUT / "signatures.json").write_text(json.dumps(signatures, indent=1, sort_keys=True) + "\n")
    print(
        f"{len(CASES)} fixtures and {len(signatures)} signatures in {OUT} "
        f"(Keras {keras.__version__})"
    )


if __name__ == "__main__":
    main()
