"""Write tests/fixtures/keras/graph.json: what Keras 3 does for the graph and layer half of
issue 10 (numpy inputs, dtype policies, structures, configs, building, argument checks,
compute_output_shape, InputSpec, random ops on symbolic shapes).

Run with Keras beside lamina, never as a dependency:
    KERAS_BACKEND=torch /work/venvs/keras/bin/python scripts/keras_fixtures_graph.py
"""

from __future__ import annotations

import collections
import json
import os
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
warnings.simplefilter("ignore")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "keras" / "graph.json"
KERNEL = np.arange(6, dtype="float32").reshape(3, 2) / 10
BIAS = np.array([0.5, -0.5], dtype="float32")
X = np.array([[1.0, 2.0, 3.0]], dtype="float64")


def dtype_name(value: Any) -> str:
    return str(value).removeprefix("torch.")


def error_of(make: Any) -> list[str]:
    try:
        make()
    except Exception as error:  # what Keras raises, recorded
        return [type(error).__name__, str(error)]
    return ["", ""]


def dense(**kwargs: Any) -> Any:
    layer = layers.Dense(2, **kwargs)
    layer.build((None, 3))
    layer.set_weights([KERNEL, BIAS])
    return layer


def main() -> None:
    facts: dict[str, Any] = {"kernel": KERNEL.tolist(), "bias": BIAS.tolist(), "x": X.tolist()}

    # numpy inputs: an eager layer, and a model whose Input is float32
    facts["eager_numpy"] = {"dtype": dtype_name(dense()(X).dtype), "value": dense()(X).tolist()}
    inputs = keras.Input((3,))
    model = keras.Model(inputs, dense()(inputs))
    out = model(X)
    facts["model_numpy"] = {"dtype": dtype_name(out.dtype), "value": out.tolist()}

    # dtypes and policies
    policies = {}
    for name in ("float16", "bfloat16", "float64", "mixed_float16", "mixed_bfloat16"):
        layer = dense(dtype=name)
        policies[name] = {
            "compute_dtype": layer.compute_dtype,
            "variable_dtype": layer.variable_dtype,
            "dtype": layer.dtype,
            "policy_name": layer.dtype_policy.name,
            "output_dtype": dtype_name(layer(X.astype("float32")).dtype),
            "weights_dtype": str(layer.get_weights()[0].dtype),
            "weights": [w.astype("float32").tolist() for w in layer.get_weights()],
        }
    facts["policies"] = policies

    # structures
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    by_key = keras.Model({"x": a, "y": b}, layers.Subtract()((a, b)))
    facts["dict_by_key"] = by_key({"y": np.zeros((1, 3)), "x": np.ones((1, 3))}).tolist()
    pair = keras.Model([a, b], (a, b))
    facts["tuple_output_type"] = type(pair([np.ones((1, 3)), np.ones((1, 3))])).__name__
    point = collections.namedtuple("Point", "u v")
    named = keras.Model(a, point(layers.Dense(2)(a), layers.Dense(3)(a)))
    result = named(np.ones((1, 3)))
    facts["namedtuple_output"] = [type(result).__name__, list(result._fields)]
    x = keras.Input((3,))
    h = layers.Dense(4, name="h")(x)
    partial = keras.Model(h, layers.Dense(2, name="o")(h))
    facts["intermediate_layers"] = [type(layer).__name__ for layer in partial.layers]
    facts["intermediate_weights"] = len(partial.weights)

    # configs and Sequential
    class Sub(keras.Model):
        def __init__(self, units: int = 2, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.d = layers.Dense(units)

        def call(self, x: Any) -> Any:
            return self.d(x)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "units": self.units}

    facts["subclass_config_keys"] = sorted(Sub(name="sub").get_config())
    facts["sequential_built"] = [
        keras.Sequential([keras.Input((3,)), layers.Dense(2)]).built,
        keras.Sequential([layers.Dense(2)]).built,
    ]

    def duplicate() -> None:
        model = keras.Sequential()
        model.add(layers.Dense(2, name="d"))
        model.add(layers.Dense(2, name="d"))

    facts["sequential_duplicate"] = error_of(duplicate)

    # building by hand
    layer = layers.Dense(2)
    layer.build((None, 3))
    facts["build_by_hand_built"] = layer.built

    # shapes
    facts["reshape_unknown"] = list(layers.Reshape((3, 5))(keras.Input((None, 5))).shape)
    fixed = keras.Input((4,), batch_size=2)
    lam = layers.Lambda(lambda t: t * 2, output_shape=lambda s: s)(fixed)
    facts["lambda_fixed_batch"] = list(lam.shape)
    facts["input_batch_shape"] = list(keras.Input(batch_shape=(4, 3)).shape)
    facts["input_numpy_int"] = list(keras.Input(shape=(np.int64(3),)).shape)
    facts["compute_output_shape"] = {
        "dense": list(layers.Dense(4).compute_output_shape((None, 3))),
        "concatenate": list(layers.Concatenate().compute_output_shape([(None, 2), (None, 3)])),
        "model": [
            list(s)
            for s in keras.Model(x, [layers.Dense(2)(x), layers.Dense(5)(x)]).compute_output_shape(
                (None, 3)
            )
        ],
    }
    # Keras 3 on torch cannot draw on a symbolic shape (lamina can: see the README)
    mean = layers.Dense(2)(x)
    facts["random_on_symbolic_shape"] = error_of(
        lambda: mean + keras.random.normal(ops.shape(mean))
    )

    # argument checks
    facts["errors"] = {
        "repeat_vector_float": error_of(lambda: layers.RepeatVector(3.5)),
        "repeat_vector_zero": error_of(lambda: layers.RepeatVector(0)),
        "repeat_vector_negative": error_of(lambda: layers.RepeatVector(-1)),
        "input_layer_both": error_of(lambda: layers.InputLayer(shape=(3,), batch_shape=(None, 3))),
        "dropout_noise_shape": error_of(lambda: layers.Dropout(0.5, noise_shape=3)),
    }

    # InputSpec
    class Checked(layers.Layer):
        def __init__(self) -> None:
            super().__init__(name="checked")
            self.input_spec = layers.InputSpec(ndim=2, axes={-1: 3})

        def call(self, x: Any) -> Any:
            return x

    facts["input_spec"] = {
        "axis": error_of(lambda: Checked()(np.ones((1, 4)))),
        "ndim": error_of(lambda: Checked()(np.ones((1, 4, 3)))),
    }

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
