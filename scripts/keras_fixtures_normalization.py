"""Write the Keras reference fixtures for the normalization, embedding and reshaping layers.

Run with Keras 3 installed beside (never a lamina dependency):

    KERAS_BACKEND=torch python scripts/keras_fixtures_normalization.py

Each case is one `tests/fixtures/keras/normalization/<name>.npz` holding the layer's class name and
constructor arguments (JSON), the input `x`, the weights `w0, w1, ...` in Keras's order and
layout (random, so that every weight matters), the inference output `y`, and where it applies
the mask (`mask`: Embedding's output mask, or the mask given to BatchNormalization's training
call), the training-mode output (`y_train`) and the moving statistics after that
training call (`moving_mean`, `moving_variance`).
"""

from __future__ import annotations

import json
import os
import pathlib
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras" / "normalization"

# (file name, class name, constructor arguments, input shape with batch)
CASES: list[tuple[str, str, dict, tuple[int, ...]]] = [
    ("batch_norm_2d", "BatchNormalization", {}, (4, 3)),
    ("batch_norm_4d", "BatchNormalization", {}, (2, 3, 3, 4)),
    ("batch_norm_axis1", "BatchNormalization", {"axis": 1}, (2, 4, 3, 3)),
    ("batch_norm_3d_no_center", "BatchNormalization", {"center": False}, (2, 5, 3)),
    (
        "batch_norm_4d_no_scale",
        "BatchNormalization",
        {"scale": False, "momentum": 0.9, "epsilon": 1e-5},
        (2, 3, 4, 3),
    ),
    ("batch_norm_axis2", "BatchNormalization", {"axis": 2}, (2, 3, 4, 2)),
    # A mask of the input's shape without its last axis (padded time steps).
    ("batch_norm_masked", "BatchNormalization", {"momentum": 0.5}, (3, 4, 2)),
    ("layer_norm", "LayerNormalization", {}, (2, 3, 4)),
    ("layer_norm_axes", "LayerNormalization", {"axis": [1, 2]}, (2, 3, 4)),
    # Axes that do not end the shape (axis=1 of a 3-D input) fail in Keras 3.15 on the torch
    # backend (it hands them to F.layer_norm), so the tests check them against NumPy instead.
    ("layer_norm_eps", "LayerNormalization", {"axis": -1, "epsilon": 1e-5}, (2, 3, 4)),
    ("layer_norm_plain", "LayerNormalization", {"center": False, "scale": False}, (2, 5)),
    ("layer_norm_rms", "LayerNormalization", {"rms_scaling": True}, (2, 3, 4)),
    ("group_norm", "GroupNormalization", {"groups": 2}, (2, 3, 4)),
    ("group_norm_default", "GroupNormalization", {}, (2, 2, 32)),
    ("group_norm_axis1", "GroupNormalization", {"groups": 3, "axis": 1}, (2, 6, 2, 2)),
    ("group_norm_instance", "GroupNormalization", {"groups": -1, "center": False}, (2, 3, 4)),
    ("group_norm_4d", "GroupNormalization", {"groups": 4, "epsilon": 1e-5}, (2, 2, 3, 8)),
    ("unit_norm", "UnitNormalization", {}, (2, 3, 4)),
    ("unit_norm_axes", "UnitNormalization", {"axis": [1, 2]}, (2, 3, 4)),
    ("embedding", "Embedding", {"input_dim": 6, "output_dim": 3}, (2, 4)),
    ("embedding_mask", "Embedding", {"input_dim": 5, "output_dim": 2, "mask_zero": True}, (3, 2)),
    ("zero_padding1d", "ZeroPadding1D", {"padding": 2}, (2, 3, 2)),
    ("zero_padding1d_pair", "ZeroPadding1D", {"padding": [1, 2]}, (2, 3, 2)),
    ("zero_padding2d", "ZeroPadding2D", {}, (2, 2, 3, 2)),
    ("zero_padding2d_pairs", "ZeroPadding2D", {"padding": [[1, 0], [2, 1]]}, (2, 2, 3, 2)),
    (
        "zero_padding2d_first",
        "ZeroPadding2D",
        {"padding": [1, 2], "data_format": "channels_first"},
        (2, 2, 3, 2),
    ),
    ("zero_padding3d", "ZeroPadding3D", {"padding": 1}, (2, 2, 1, 2, 1)),
    (
        "zero_padding3d_first",
        "ZeroPadding3D",
        {"padding": [[1, 0], [0, 1], [1, 1]], "data_format": "channels_first"},
        (2, 1, 2, 1, 2),
    ),
    ("cropping1d", "Cropping1D", {}, (2, 5, 2)),
    ("cropping1d_pair", "Cropping1D", {"cropping": [2, 0]}, (2, 5, 2)),
    ("cropping2d", "Cropping2D", {"cropping": [[1, 0], [0, 2]]}, (2, 4, 5, 2)),
    (
        "cropping2d_first",
        "Cropping2D",
        {"cropping": 1, "data_format": "channels_first"},
        (2, 2, 4, 5),
    ),
    ("cropping3d", "Cropping3D", {}, (2, 3, 4, 3, 1)),
    (
        "cropping3d_first",
        "Cropping3D",
        {"cropping": [[1, 0], [0, 2], [1, 1]], "data_format": "channels_first"},
        (2, 1, 3, 4, 3),
    ),
    ("up_sampling1d", "UpSampling1D", {"size": 3}, (2, 3, 2)),
    ("up_sampling2d", "UpSampling2D", {}, (2, 2, 3, 2)),
    (
        "up_sampling2d_bilinear",
        "UpSampling2D",
        {"size": [2, 3], "interpolation": "bilinear"},
        (2, 3, 2, 2),
    ),
    (
        "up_sampling2d_bilinear_first",
        "UpSampling2D",
        {"size": 2, "data_format": "channels_first", "interpolation": "bilinear"},
        (2, 2, 3, 3),
    ),
    ("up_sampling3d", "UpSampling3D", {"size": [1, 2, 3]}, (2, 2, 2, 1, 2)),
    (
        "up_sampling3d_first",
        "UpSampling3D",
        {"size": 2, "data_format": "channels_first"},
        (2, 1, 2, 1, 2),
    ),
    ("identity", "Identity", {}, (2, 3)),
]


def random_weights(layer: keras.layers.Layer, rng: np.random.Generator) -> list[np.ndarray]:
    weights = []
    for variable in layer.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.path:
            weights.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            weights.append(rng.normal(size=shape).astype("float32"))
    return weights


def write(name: str, class_name: str, kwargs: dict, shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    layer = getattr(keras.layers, class_name)(**kwargs)
    if class_name == "Embedding":
        x = rng.integers(0, kwargs["input_dim"], shape).astype("int64")
        x.flat[0] = 0  # one padding index, so that the mask has a False
    else:
        x = rng.normal(size=shape).astype("float32")
    layer.build(shape)
    weights = random_weights(layer, rng)
    layer.set_weights(weights)
    arrays: dict[str, np.ndarray] = {
        "layer": np.array(class_name),
        "kwargs": np.array(json.dumps(kwargs)),
        "x": x,
        "y": keras.ops.convert_to_numpy(layer(x)),
    }
    for i, weight in enumerate(weights):
        arrays[f"w{i}"] = weight
    if class_name == "Embedding" and kwargs.get("mask_zero"):
        arrays["mask"] = keras.ops.convert_to_numpy(layer.compute_mask(x))
    if class_name == "BatchNormalization":
        mask = None
        if name.endswith("_masked"):
            mask = rng.uniform(size=shape[:-1]) > 0.3
            arrays["mask"] = mask
        arrays["y_train"] = keras.ops.convert_to_numpy(layer(x, training=True, mask=mask))
        arrays["moving_mean"] = keras.ops.convert_to_numpy(layer.moving_mean)
        arrays["moving_variance"] = keras.ops.convert_to_numpy(layer.moving_variance)
    np.savez(OUT / f"{name}.npz", **arrays)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")  # rms_scaling's deprecation notice
    for seed, (name, class_name, kwargs, shape) in enumerate(CASES):
        write(name, class_name, kwargs, shape, seed)
    print(f"wrote {len(CASES)} fixtures to {OUT}")


if __name__ == "__main__":
    main()
