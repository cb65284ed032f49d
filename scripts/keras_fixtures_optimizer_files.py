"""Write Keras 3 models trained a few steps with each optimizer, saved with their optimizer
state, and the weights after one more step; and `fit` runs with gradient accumulation and a
loss scale factor.

Run with Keras 3 installed beside (never a lamina dependency):

    KERAS_BACKEND=torch python scripts/keras_fixtures_optimizer_files.py

`tests/fixtures/keras/optimizer_files/`: `<case>.keras` (a small MLP after `fit` of 5 steps),
`data.npz` (the inputs, targets and starting weights), `expected.npz` (per case, the weights
after one more `train_on_batch` on the first batch: `<case>/<i>`; and, per `fit` case, the
weights after `fit` and `iterations`: `fit_<case>/<i>`, `fit_<case>/iterations`), and
`cases.json` (each case's class name and arguments).
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = (
    pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras" / "optimizer_files"
)

# (epsilon=1e-12 where torch adds epsilon elsewhere than Keras: see the README's "Smaller
# differences")
FILES = {
    "sgd": ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.05, "momentum": 0.5, "nesterov": True}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "epsilon": 1e-12}),
    "rmsprop_centered": ("RMSprop", {"learning_rate": 0.01, "centered": True, "epsilon": 1e-12}),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}),
    "adamw": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.01}),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    "nadam": ("Nadam", {"learning_rate": 0.01, "epsilon": 1e-12}),
    "adamax": ("Adamax", {"learning_rate": 0.01}),
    "adadelta": ("Adadelta", {"learning_rate": 1.0}),
    "lion": ("Lion", {"learning_rate": 0.01}),
    "lamb": ("Lamb", {"learning_rate": 0.01}),
    "adafactor": ("Adafactor", {"learning_rate": 0.01}),
    "ftrl": ("Ftrl", {"learning_rate": 0.1}),
    "adam_accumulating": (
        "Adam",
        {"learning_rate": 0.01, "epsilon": 1e-12, "gradient_accumulation_steps": 2},
    ),
    "sgd_ema": ("SGD", {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.8}),
    # with a schedule Keras saves no learning-rate variable
    "sgd_schedule": ("SGD", {"learning_rate": {"class_name": "ExponentialDecay", "config": {
        "initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5}}, "momentum": 0.9}),
}  # fmt: skip
FITS = {
    "sgd_momentum_accumulating": ("SGD", {"learning_rate": 0.1, "momentum": 0.9,
                                          "gradient_accumulation_steps": 2}),
    "adam_accumulating": ("Adam", {"learning_rate": 0.01, "epsilon": 1e-12,
                                   "gradient_accumulation_steps": 2}),
    "sgd_loss_scale": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "loss_scale_factor": 64.0}),
    "adam_both": ("Adam", {"learning_rate": 0.01, "epsilon": 1e-12,
                           "gradient_accumulation_steps": 3, "loss_scale_factor": 8.0}),
}  # fmt: skip


def model(data: dict[str, np.ndarray], optimizer: keras.optimizers.Optimizer) -> keras.Model:
    inputs = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(1, name="out")(hidden)
    net = keras.Model(inputs, outputs, name="mlp")
    net.set_weights([data[f"w{i}"] for i in range(4)])
    net.compile(optimizer=optimizer, loss="mse")
    return net


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    data = {
        "x": rng.normal(size=(20, 3)).astype("float32"),
        "y": rng.normal(size=(20, 1)).astype("float32"),
        "w0": rng.normal(size=(3, 4)).astype("float32") * 0.5,
        "w1": rng.normal(size=(4,)).astype("float32") * 0.1,
        "w2": rng.normal(size=(4, 1)).astype("float32") * 0.5,
        "w3": np.zeros((1,), "float32"),
    }
    expected: dict[str, np.ndarray] = {}
    for case, (class_name, kwargs) in FILES.items():
        rate = kwargs.get("learning_rate")
        if isinstance(rate, dict):
            kwargs = {**kwargs, "learning_rate": keras.optimizers.schedules.deserialize(rate)}
        net = model(data, getattr(keras.optimizers, class_name)(**kwargs))
        net.fit(data["x"], data["y"], batch_size=4, epochs=1, shuffle=False, verbose=0)
        net.save(OUT / f"{case}.keras")
        net.train_on_batch(data["x"][:4], data["y"][:4])
        for i, weight in enumerate(net.get_weights()):
            expected[f"{case}/{i}"] = weight
    for case, (class_name, kwargs) in FITS.items():
        net = model(data, getattr(keras.optimizers, class_name)(**kwargs))
        net.fit(data["x"], data["y"], batch_size=4, epochs=1, shuffle=False, verbose=0)
        for i, weight in enumerate(net.get_weights()):
            expected[f"fit_{case}/{i}"] = weight
        expected[f"fit_{case}/iterations"] = np.asarray(int(net.optimizer.iterations))
    np.savez_compressed(OUT / "data.npz", **data)
    np.savez_compressed(OUT / "expected.npz", **expected)
    cases = {"files": FILES, "fits": FITS}
    (OUT / "cases.json").write_text(json.dumps(cases, indent=1) + "\n")
    print(f"{len(FILES)} files, {len(FITS)} fits")


if __name__ == "__main__":
    main()
