"""Compare a lamina layer with the output Keras produced (`tests/fixtures/keras/<folder>/`).

The fixtures are written by `scripts/keras_fixtures_<folder>.py` with Keras installed beside;
each holds the layer's class name and constructor arguments, the input `x`, the weights `w0, w1,
...` in Keras's order and layout, and the output `y`.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import torch

import lamina.layers
from lamina import Input
from lamina.core.layer import Layer

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "keras"


def fixture_names(folder: str, *classes: str) -> list[str]:
    """The fixtures in `folder` of the given layer classes, as `folder/name`."""
    names = []
    for path in sorted((FIXTURES / folder).glob("*.npz")):
        with np.load(path) as data:
            if str(data["layer"]) in classes:
                names.append(f"{folder}/{path.stem}")
    return names


def load_fixture(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}.npz") as data:
        return dict(data)


def check_against_keras(name: str, atol: float = 1e-5) -> tuple[Layer, dict[str, np.ndarray]]:
    """Build the fixture's layer on `Input`s, load Keras's weights, and check that the output
    and its shape (symbolic, real and from `compute_output_shape`) match Keras's."""
    data = load_fixture(name)
    layer = getattr(lamina.layers, str(data["layer"]))(**json.loads(str(data["kwargs"])))
    x = torch.from_numpy(data["x"])
    symbolic = layer(Input(shape=tuple(x.shape[1:]), dtype=x.dtype))
    count = sum(1 for key in data if key[0] == "w" and key[1:].isdigit())
    layer.set_weights([data[f"w{i}"] for i in range(count)])
    y = layer(x)
    np.testing.assert_allclose(y.detach().numpy(), data["y"], atol=atol, rtol=1e-5)
    assert symbolic.shape == (None, *data["y"].shape[1:])
    assert tuple(layer.compute_output_shape((None, *x.shape[1:]))) == symbolic.shape
    return layer, data
