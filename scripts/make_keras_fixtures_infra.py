"""Writes the Keras fixtures for regularizers, constraints, initializers and utils.

Run with Keras 3 installed beside (never a lamina dependency):

    KERAS_BACKEND=torch python scripts/make_keras_fixtures_infra.py

It writes small `.npz` files under tests/fixtures/keras/: the inputs, and what Keras computed
from them. The tests read these files without Keras.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "keras"


def regularizers_and_constraints() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 4)).astype("float32")
    r, c = keras.regularizers, keras.constraints
    out: dict[str, np.ndarray] = {"w": w}
    penalties = {
        "l1_default": r.L1(),
        "l2_default": r.L2(),
        "l1": r.L1(0.3),
        "l2": r.L2(0.2),
        "l1_l2": r.L1L2(l1=0.1, l2=0.05),
        "l1_l2_default": r.L1L2(),
        "orthogonal_rows": r.OrthogonalRegularizer(0.5),
        "orthogonal_columns": r.OrthogonalRegularizer(0.5, mode="columns"),
    }
    for name, regularizer in penalties.items():
        value = regularizer(keras.ops.convert_to_tensor(w))
        out[f"penalty_{name}"] = np.asarray(keras.ops.convert_to_numpy(value))
    projections = {
        "max_norm_default": c.MaxNorm(),
        "max_norm": c.MaxNorm(1.5, axis=0),
        "max_norm_axis1": c.MaxNorm(1.0, axis=1),
        "max_norm_axes": c.MaxNorm(2.0, axis=[0, 1]),
        "min_max_norm": c.MinMaxNorm(1.0, 1.5, rate=0.5),
        "min_max_norm_default": c.MinMaxNorm(),
        "non_neg": c.NonNeg(),
        "unit_norm": c.UnitNorm(),
        "unit_norm_axis1": c.UnitNorm(axis=1),
    }
    for name, constraint in projections.items():
        value = constraint(keras.ops.convert_to_tensor(w))
        out[f"constraint_{name}"] = keras.ops.convert_to_numpy(value)
    return out


def training() -> dict[str, np.ndarray]:
    """One model with weight and activity regularizers and a kernel constraint: its
    `losses`, the losses `train_on_batch`, `evaluate` and `fit` report, and its weights
    after one SGD step."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 3)).astype("float32")
    kernel = rng.normal(size=(4, 3)).astype("float32")
    bias = rng.normal(size=(3,)).astype("float32")

    def model() -> keras.Model:
        inputs = keras.Input((4,))
        dense = keras.layers.Dense(
            3,
            kernel_regularizer=keras.regularizers.L2(0.1),
            bias_regularizer=keras.regularizers.L1(0.2),
            activity_regularizer=keras.regularizers.L1(0.01),
            kernel_constraint=keras.constraints.MaxNorm(0.5),
        )
        m = keras.Model(inputs, dense(inputs))
        dense.set_weights([kernel, bias])
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        return m

    m = model()
    m(x)
    losses = [float(keras.ops.convert_to_numpy(v)) for v in m.losses]
    evaluated = m.evaluate(x, y, batch_size=8, verbose=0)
    trained = m.train_on_batch(x, y)
    kernel_after, bias_after = m.layers[1].get_weights()
    m = model()
    history = m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    return {
        "x": x,
        "y": y,
        "kernel": kernel,
        "bias": bias,
        "model_losses": np.asarray(losses, "float32"),
        "evaluate_loss": np.asarray(evaluated, "float32"),
        "train_on_batch_loss": np.asarray(trained, "float32"),
        "kernel_after": kernel_after,
        "bias_after": bias_after,
        "fit_losses": np.asarray(history.history["loss"], "float32"),
        "fit_kernel": m.layers[1].get_weights()[0],
    }


INITIALIZERS = {
    "glorot_uniform": lambda: keras.initializers.GlorotUniform(seed=1),
    "glorot_normal": lambda: keras.initializers.GlorotNormal(seed=1),
    "he_normal": lambda: keras.initializers.HeNormal(seed=1),
    "he_uniform": lambda: keras.initializers.HeUniform(seed=1),
    "lecun_normal": lambda: keras.initializers.LecunNormal(seed=1),
    "lecun_uniform": lambda: keras.initializers.LecunUniform(seed=1),
    "random_normal": lambda: keras.initializers.RandomNormal(mean=0.5, stddev=2.0, seed=1),
    "random_uniform": lambda: keras.initializers.RandomUniform(-3.0, 1.0, seed=1),
    "truncated_normal": lambda: keras.initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=1),
    "variance_scaling_fan_out_uniform": lambda: keras.initializers.VarianceScaling(
        2.0, mode="fan_out", distribution="uniform", seed=1
    ),
    "variance_scaling_fan_avg_untruncated": lambda: keras.initializers.VarianceScaling(
        3.0, mode="fan_avg", distribution="untruncated_normal", seed=1
    ),
    "variance_scaling_default": lambda: keras.initializers.VarianceScaling(seed=1),
    "orthogonal": lambda: keras.initializers.Orthogonal(gain=2.0, seed=1),
    "constant": lambda: keras.initializers.Constant(0.25),
    "zeros": lambda: keras.initializers.Zeros(),
    "ones": lambda: keras.initializers.Ones(),
    "identity": lambda: keras.initializers.Identity(gain=3.0),
}
SHAPE = (3, 3, 40, 60)  # a convolution kernel: fans 360 and 540


def initializers() -> dict[str, np.ndarray]:
    """Each initializer's mean, standard deviation, min and max over a large draw, its
    config, and whether a seeded instance repeats its values."""
    out: dict[str, np.ndarray] = {}
    for name, make in INITIALIZERS.items():
        init = make()
        shape = (60, 60) if name == "identity" else SHAPE
        if name == "orthogonal":
            shape = (30, 80)
        a = keras.ops.convert_to_numpy(init(shape, "float32"))
        b = keras.ops.convert_to_numpy(init(shape, "float32"))
        out[f"{name}_stats"] = np.array([a.mean(), a.std(), a.min(), a.max()], "float64")
        out[f"{name}_repeats"] = np.array(bool(np.array_equal(a, b)))
        out[f"{name}_config"] = np.array(repr(sorted(init.get_config().items())))
        if name in ("orthogonal", "identity"):
            out[f"{name}_values"] = a
    return out


def utils() -> dict[str, np.ndarray]:
    labels = np.array([0, 2, 1, 2, 0])
    matrix = np.array([[1, 0], [2, 1], [0, 0]])
    x = np.random.default_rng(2).normal(size=(3, 4, 5)).astype("float32")
    return {
        "labels": labels,
        "categorical": keras.utils.to_categorical(labels),
        "categorical_5": keras.utils.to_categorical(labels, num_classes=5),
        "matrix": matrix,
        "categorical_matrix": keras.utils.to_categorical(matrix, num_classes=3),
        "column": np.array([[1], [0], [3]]),
        "categorical_column": keras.utils.to_categorical(np.array([[1], [0], [3]])),
        "x": x,
        "normalize": keras.ops.convert_to_numpy(keras.utils.normalize(x)),
        "normalize_axis1_order1": keras.ops.convert_to_numpy(
            keras.utils.normalize(x, axis=1, order=1)
        ),
        # A tensor: Keras's numpy branch reads axis=0 as -1 (`axis or -1`).
        "normalize_axis0_order3": keras.ops.convert_to_numpy(
            keras.utils.normalize(keras.ops.convert_to_tensor(x), axis=0, order=3)
        ),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    np.savez(OUT / "regularizers.npz", **regularizers_and_constraints())
    np.savez(OUT / "regularization_training.npz", **training())
    np.savez(OUT / "initializers.npz", **initializers())
    np.savez(OUT / "utils.npz", **utils())
    print("keras", keras.__version__, "->", OUT)


if __name__ == "__main__":
    main()
