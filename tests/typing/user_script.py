"""A user's program, type-checked by mypy --strict in tests/test_typing.py. It is wrapped in a
function so that collecting it (doctests) runs nothing."""

from __future__ import annotations

import numpy as np

import lamina
from lamina import Input, Model, Sequential
from lamina.layers import Dense, Lambda


def program(path: str) -> float:
    x = Input(shape=(4,))
    model = Model(x, Dense(2, activation="relu")(Lambda(lambda t: t * 2)(x)))
    model.compile(optimizer=lamina.optimizers.Adam(learning_rate=1e-3), loss="mse")
    history = model.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=1, verbose=0,
                        callbacks=[lamina.callbacks.EarlyStopping(patience=2)])  # fmt: skip
    model.save(path)
    loaded: Model = lamina.load_model(path)
    again = lamina.models.load_model(path, compile=False)
    stacked = Sequential([Input(shape=(2,)), Dense(1)])
    predictions = stacked.predict(loaded.predict(np.ones((3, 4)), verbose=0), verbose=0)
    lamina.utils.set_random_seed(0)
    loss = lamina.losses.MeanSquaredError()
    (x_train, _), _ = lamina.datasets.fashion_mnist.load_data(fallback_to_subset=True)
    return (
        float(np.sum(predictions))
        + len(history.history["loss"])
        + len(again.layers)
        + (0.0 if loss is None else float(len(x_train)))
    )
