"""Write the Keras 3 reference values the training-fidelity tests compare against.

Run with Keras installed beside (not a lamina dependency):
    KERAS_BACKEND=torch /work/venvs/keras/bin/python scripts/keras_fixtures_training.py
Writes tests/fixtures/keras/training.npz (numbers) and training.json (log key lists).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "keras"


def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = (rng.random(8) > 0.5).astype("float32")  # (N,): the shape that used to go wrong
    w = rng.random(8).astype("float32")
    kernel = rng.normal(size=(3, 1)).astype("float32")
    bias = np.array([0.1], "float32")
    return {"x": x, "y": y, "w": w, "kernel": kernel, "bias": bias}


def binary_model(d: dict[str, np.ndarray]) -> keras.Model:
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1, activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    model.set_weights([d["kernel"], d["bias"]])
    return model


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    d = data()
    arrays: dict[str, np.ndarray] = dict(d)
    keys: dict[str, list[str]] = {}
    pred = binary_model(d)(d["x"]).detach().cpu().numpy()
    arrays["pred"] = pred
    classes = {
        "binary_crossentropy": keras.losses.BinaryCrossentropy,
        "mean_squared_error": keras.losses.MeanSquaredError,
        "mean_absolute_error": keras.losses.MeanAbsoluteError,
    }
    for name, cls in classes.items():
        loss = cls()
        for tag, (yt, yp) in {
            "n_n1": (d["y"], pred),
            "n1_n": (d["y"][:, None], pred[:, 0]),
        }.items():
            arrays[f"loss_{name}_{tag}"] = np.asarray(loss(yt, yp, sample_weight=d["w"]))
            arrays[f"loss_{name}_{tag}_none"] = np.asarray(cls(reduction="none")(yt, yp))

    # evaluate with sample_weight, metrics and weighted_metrics
    model = binary_model(d)
    model.compile(
        optimizer="sgd",
        loss="binary_crossentropy",
        metrics=["mae", keras.metrics.BinaryAccuracy()],
        weighted_metrics=["mae", keras.metrics.BinaryAccuracy(name="wacc")],
    )
    logs = model.evaluate(d["x"], d["y"], sample_weight=d["w"], verbose=0, return_dict=True)
    keys["evaluate_weighted"] = list(logs)
    for k, v in logs.items():
        arrays[f"evaluate_weighted/{k}"] = np.asarray(v)

    # one SGD step with class_weight (whole batch, no shuffle): the weights it reaches
    model = binary_model(d)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    history = model.fit(
        d["x"],
        d["y"],
        batch_size=8,
        epochs=1,
        shuffle=False,
        verbose=0,
        class_weight={0: 0.2, 1: 3.0},
    )
    arrays["fit_class_weight/loss"] = np.asarray(history.history["loss"][0])
    arrays["fit_class_weight/kernel"] = model.get_weights()[0]
    arrays["fit_class_weight/bias"] = model.get_weights()[1]
    model = binary_model(d)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    history = model.fit(
        d["x"], d["y"], batch_size=8, epochs=1, shuffle=False, verbose=0, sample_weight=d["w"]
    )
    arrays["fit_sample_weight/loss"] = np.asarray(history.history["loss"][0])
    arrays["fit_sample_weight/kernel"] = model.get_weights()[0]

    # log names of a two-output model
    inputs = keras.Input((3,))
    a = keras.layers.Dense(1, name="dense_1")(inputs)
    b = keras.layers.Dense(2, name="dense_2")(inputs)
    two = keras.Model(inputs, [a, b])
    ya, yb = np.zeros((8, 1), "float32"), np.zeros((8, 2), "float32")
    specs = {
        "list_metrics": dict(loss="mse", metrics=["mse", ["mae", "mse"]]),
        "one_element": dict(loss=["mse", "mae"], metrics=[["mae"], ["mse"]]),
        "dict_loss": dict(loss={"dense_1": "mse", "dense_2": "mae"}, metrics={"dense_2": "mae"}),
        "weighted": dict(
            loss="mse", metrics=[["mae"], ["mae"]], weighted_metrics=[["mae"], ["mse"]]
        ),
        "single_list": dict(loss=["mse", "mse"], metrics=["mae"]),
    }
    for tag, spec in specs.items():
        try:
            two.compile(optimizer="sgd", **spec)
            logs = two.evaluate(x=d["x"], y=[ya, yb], verbose=0, return_dict=True)
            keys[f"two_outputs/{tag}"] = list(logs)
        except Exception as error:
            keys[f"two_outputs/{tag}"] = [f"error: {type(error).__name__}"]
    one = binary_model(d)
    one.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae", "mse"])
    keys["one_output/weighted"] = list(
        one.evaluate(d["x"], d["y"], sample_weight=d["w"], verbose=0, return_dict=True)
    )
    history = one.fit(d["x"], d["y"], validation_data=(d["x"], d["y"]), epochs=1, verbose=0)
    keys["one_output/fit_history"] = list(history.history)

    np.savez(OUT / "training.npz", **arrays)
    (OUT / "training.json").write_text(json.dumps(keys, indent=1) + "\n")
    print(json.dumps(keys, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "torch")
    main()
