"""Write the Keras 3 fixtures for activations and the activation, regularization and
preprocessing layers under tests/fixtures/keras/.

Run with Keras 3 installed beside lamina (never a lamina dependency):

    KERAS_BACKEND=torch python scripts/keras_fixtures_activation.py

Each `.npz` holds `cases` (one JSON string per case: the function or layer, its arguments and
call arguments) and, per case `i`, `input_i`, `output_i` and any `weight_i_*`; `config_i`
holds the Keras layer's `get_config()` as JSON (its keys are Keras's config keys).
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "keras"
rng = np.random.default_rng(0)


def values(*shape: int) -> np.ndarray:
    """Normal values scaled to [-4, 4] with the points where activations bend (-1, 0, 1)."""
    x = (rng.standard_normal(shape) * 2).astype("float32")
    flat = x.reshape(-1)
    flat[:5] = [-1.0, 0.0, 1.0, 0.5, -0.5][: flat.size]
    return x


def numpy(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


class Writer:
    adapt_data: np.ndarray | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.cases: list[str] = []
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, case: dict[str, Any], inputs: np.ndarray, output: Any, **extra: Any) -> None:
        i = len(self.cases)
        self.cases.append(json.dumps(jsonable(case), sort_keys=True))
        self.arrays[f"input_{i}"] = inputs
        self.arrays[f"output_{i}"] = numpy(output)
        for key, value in extra.items():
            if isinstance(value, str):
                self.arrays[f"{key}_{i}"] = np.array(value)
            else:
                self.arrays[f"{key}_{i}"] = np.asarray(value)

    def layer(
        self,
        cls: str,
        args: dict[str, Any],
        inputs: np.ndarray,
        call: dict[str, Any] | None = None,
        weights: list[np.ndarray] | None = None,
        setup: Any = None,
    ) -> None:
        layer = getattr(keras.layers, cls)(**args)
        layer.build(inputs.shape)
        if weights is not None:
            layer.set_weights(weights)
        if setup is not None:
            setup(layer)
        call = dict(call or {})
        keras_call = {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in call.items()}
        output = layer(inputs, **keras_call)
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype")}
        extra: dict[str, Any] = {"config": json.dumps(jsonable(config), default=str)}
        for j, w in enumerate(weights or []):
            extra[f"weight{j}"] = w
        if cls == "Normalization" and setup is not None:
            extra["adapt"] = self.adapt_data
        if cls == "ActivityRegularization":
            extra["loss"] = float(numpy(sum(layer.losses)))
        self.add({"layer": cls, "args": args, "call": call}, inputs, output, **extra)

    def save(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(OUT / f"{self.name}.npz", cases=np.array(self.cases), **self.arrays)
        print(f"{self.name}.npz: {len(self.cases)} cases")


def activations() -> None:
    w = Writer("activations")
    x = values(4, 8)
    defaults = [
        name
        for name in dir(keras.activations)
        if not name.startswith("_")
        and name not in ("get", "serialize", "deserialize", "threshold")
        and callable(getattr(keras.activations, name))
    ]
    cases: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in sorted(defaults)]
    cases += [
        ("relu", {"negative_slope": 0.1}),
        ("relu", {"max_value": 6.0}),
        ("relu", {"max_value": 1.5}),
        ("relu", {"threshold": 1.0}),
        ("relu", {"threshold": -1.0}),
        ("relu", {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5}),
        ("relu", {"negative_slope": 0.2, "threshold": -0.5}),
        ("relu", {"max_value": 1.5, "threshold": -0.5}),
        ("elu", {"alpha": 0.5}),
        ("celu", {"alpha": 2.0}),
        ("leaky_relu", {"negative_slope": 0.05}),
        ("gelu", {"approximate": True}),
        ("glu", {"axis": 0}),
        ("softmax", {"axis": 0}),
        ("log_softmax", {"axis": 0}),
        ("sparsemax", {"axis": 0}),
        ("hard_shrink", {"threshold": 1.0}),
        ("soft_shrink", {"threshold": 1.0}),
        ("squareplus", {"b": 1.0}),
        ("threshold", {"threshold": 0.5, "default_value": -1.0}),
        ("threshold", {"threshold": -1.0, "default_value": 0.0}),
    ]
    for name, kwargs in cases:
        fn = keras.activations.get(name)
        w.add(
            {"function": name, "args": kwargs, "serialized": keras.activations.serialize(fn)},
            x,
            fn(x, **kwargs),
        )
    w.save()


def activation_layers() -> None:
    w = Writer("activation_layers")
    x = values(3, 4, 5)
    for args in (
        {},
        {"max_value": 6.0},
        {"negative_slope": 0.1, "threshold": 0.5},
        {"max_value": 2.0, "negative_slope": 0.2, "threshold": 0.25},
    ):
        w.layer("ReLU", args, x)
    w.layer("LeakyReLU", {}, x)
    w.layer("LeakyReLU", {"negative_slope": 0.05}, x)
    w.layer("ELU", {}, x)
    w.layer("ELU", {"alpha": 0.5}, x)
    w.layer("PReLU", {}, x, weights=[rng.uniform(0, 0.5, (4, 5)).astype("float32")])
    w.layer(
        "PReLU", {"shared_axes": [1]}, x, weights=[rng.uniform(0, 0.5, (1, 5)).astype("float32")]
    )
    w.layer("Softmax", {}, x)
    w.layer("Softmax", {"axis": 1}, x)
    w.layer("Softmax", {"axis": [1, 2]}, x)
    mask = rng.uniform(size=(3, 4, 5)) > 0.4
    mask[0, 0, :] = False  # a fully masked row
    w.layer("Softmax", {}, x, call={"mask": mask.tolist()})
    w.save()


def regularization() -> None:
    w = Writer("regularization")
    x = values(2, 3, 4)
    images = values(2, 3, 3, 2)
    volumes = values(2, 2, 2, 2, 3)
    for cls, args, inputs in (
        ("SpatialDropout1D", {"rate": 0.5}, x),
        ("SpatialDropout2D", {"rate": 0.5}, images),
        ("SpatialDropout2D", {"rate": 0.5, "data_format": "channels_first"}, images),
        ("SpatialDropout3D", {"rate": 0.5}, volumes),
        ("GaussianNoise", {"stddev": 0.5}, x),
        ("GaussianDropout", {"rate": 0.3}, x),
        ("AlphaDropout", {"rate": 0.3}, x),
        ("AlphaDropout", {"rate": 0.3, "noise_shape": [None, 1, 4]}, x),
    ):
        w.layer(cls, args, inputs, call={"training": False})
    for args in ({"l1": 0.1}, {"l2": 0.2}, {"l1": 0.01, "l2": 0.03}, {}):
        w.layer("ActivityRegularization", args, x)
    w.save()


def adapted_normalization(args: dict[str, Any], data: np.ndarray) -> Any:
    Writer.adapt_data = data

    def setup(layer: Any) -> None:
        layer.adapt(data)

    return setup


def preprocessing() -> None:
    w = Writer("preprocessing")
    pixels = rng.integers(0, 256, (2, 5, 6, 3)).astype("float32")
    w.layer("Rescaling", {"scale": 1 / 255}, pixels)
    w.layer("Rescaling", {"scale": 1 / 127.5, "offset": -1.0}, pixels)
    w.layer("Rescaling", {"scale": [0.5, 1.0, 2.0], "offset": [0.0, 1.0, -1.0]}, pixels)

    data = (rng.standard_normal((10, 3, 4)) * 3 + 2).astype("float32")
    x = values(2, 3, 4)
    for args in ({}, {"axis": 1}, {"axis": [1, 2]}, {"axis": None}, {"invert": True}):
        w.layer("Normalization", args, x, setup=adapted_normalization(args, data))
    w.layer("Normalization", {"mean": 2.0, "variance": 4.0}, x)
    w.layer("Normalization", {"mean": [1.0, 2.0, 3.0, 4.0], "variance": [1, 4, 9, 16]}, x)
    w.layer("Normalization", {"mean": 1.0, "variance": 4.0, "invert": True}, x)

    image = values(2, 5, 6, 3)
    single = values(5, 6, 3)
    for args in (
        {"height": 3, "width": 4},
        {"height": 7, "width": 9},
        {"height": 3, "width": 4, "interpolation": "nearest"},
        {"height": 7, "width": 9, "interpolation": "nearest"},
        {"height": 3, "width": 4, "interpolation": "bicubic"},
        {"height": 3, "width": 3, "crop_to_aspect_ratio": True},
        {"height": 4, "width": 2, "crop_to_aspect_ratio": True},
        {"height": 3, "width": 3, "pad_to_aspect_ratio": True},
        {"height": 4, "width": 2, "pad_to_aspect_ratio": True, "fill_value": 0.5},
    ):
        w.layer("Resizing", args, image)
    w.layer("Resizing", {"height": 3, "width": 4}, single)
    for args in (
        {"height": 3, "width": 4},
        {"height": 2, "width": 3},
        {"height": 5, "width": 6},
        {"height": 6, "width": 4},
        {"height": 7, "width": 8},
    ):
        w.layer("CenterCrop", args, image)
    w.layer("CenterCrop", {"height": 3, "width": 3}, single)

    gray = values(2, 5, 6, 1)
    for cls, args in (
        ("RandomFlip", {}),
        ("RandomRotation", {"factor": 0.2}),
        ("RandomZoom", {"height_factor": 0.2}),
        ("RandomTranslation", {"height_factor": 0.2, "width_factor": 0.2}),
        ("RandomContrast", {"factor": 0.3}),
    ):
        w.layer(cls, args, image, call={"training": False})
    for args in ({"height": 3, "width": 4}, {"height": 6, "width": 4}, {"height": 5, "width": 6}):
        w.layer("RandomCrop", args, image, call={"training": False})
    w.layer("RandomCrop", {"height": 3, "width": 4}, single, call={"training": False})

    # Random layers with their range shrunk to one value: the transform is deterministic.
    for fill in ("reflect", "wrap", "constant", "nearest"):
        w.layer(
            "RandomRotation",
            {"factor": (0.25, 0.25), "fill_mode": fill},
            gray,
            call={"training": True},
        )
        w.layer(
            "RandomRotation",
            {"factor": (0.1, 0.1), "fill_mode": fill, "fill_value": 0.5},
            gray,
            call={"training": True},
        )
        w.layer(
            "RandomZoom",
            {"height_factor": (0.4, 0.4), "fill_mode": fill},
            gray,
            call={"training": True},
        )
        w.layer(
            "RandomTranslation",
            {"height_factor": (0.2, 0.2), "width_factor": (-0.3, -0.3), "fill_mode": fill},
            gray,
            call={"training": True},
        )
    w.layer(
        "RandomRotation",
        {"factor": (-0.1, -0.1), "interpolation": "nearest"},
        gray,
        call={"training": True},
    )
    w.layer(
        "RandomZoom",
        {"height_factor": (-0.3, -0.3), "width_factor": (0.2, 0.2)},
        gray,
        call={"training": True},
    )
    w.layer(
        "RandomZoom",
        {"height_factor": (-0.3, -0.3), "interpolation": "nearest"},
        gray,
        call={"training": True},
    )
    w.layer(
        "RandomTranslation",
        {
            "height_factor": (-0.1, -0.1),
            "width_factor": (0.25, 0.25),
            "fill_mode": "constant",
            "fill_value": 2.0,
        },
        gray,
        call={"training": True},
    )
    w.layer("RandomRotation", {"factor": (0.1, 0.1)}, values(5, 6, 2), call={"training": True})
    w.save()


LAYERS = [
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "Rescaling", "Normalization", "Resizing", "CenterCrop",
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomCrop",
    "RandomContrast",
]  # fmt: skip


def signatures() -> None:
    """Parameter names and defaults (as `repr`) of the layers' constructors and activations."""

    def describe(fn: Any) -> dict[str, Any]:
        params = inspect.signature(fn).parameters.values()
        return {
            p.name: None if p.default is p.empty else repr(p.default)
            for p in params
            if p.name != "self" and p.kind is not p.VAR_KEYWORD
        }

    cases = [{"layer": n, "params": describe(getattr(keras.layers, n).__init__)} for n in LAYERS]
    for name in sorted(dir(keras.activations)):
        fn = getattr(keras.activations, name)
        if not name.startswith("_") and callable(fn) and inspect.isfunction(fn):
            cases.append({"function": name, "params": describe(fn)})
    cases_json = np.array([json.dumps(c, sort_keys=True) for c in cases])
    np.savez_compressed(OUT / "signatures.npz", cases=cases_json)
    print(f"signatures.npz: {len(cases)} cases")


def main() -> None:
    keras.utils.set_random_seed(0)
    activations()
    activation_layers()
    regularization()
    preprocessing()
    signatures()


if __name__ == "__main__":
    main()
