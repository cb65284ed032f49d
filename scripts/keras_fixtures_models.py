"""Write small Keras models as `.keras` files, with their predictions on fixed inputs.

Run beside Keras 3 (never a lamina dependency):

    KERAS_BACKEND=torch /work/venvs/keras/bin/python scripts/keras_fixtures_models.py

Each model NAME becomes tests/fixtures/keras/models/NAME.keras and NAME.npz (`x`, or `x0`,
`x1`, ... for several inputs, and `y`, Keras's prediction). The recurrent and attention
models are written too, for the readers still to come.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from keras import layers

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "keras" / "models"
RNG = np.random.default_rng(15)


def mlp() -> tuple[keras.Model, list[np.ndarray]]:
    inputs = keras.Input(shape=(6,), name="features")
    x = layers.Dense(8, activation="relu", name="hidden")(inputs)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(3, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mlp"), [RNG.normal(size=(4, 6))]


def slice_last(x, index):  # type: ignore[no-untyped-def]
    return x[:, :, index]


def slicing() -> tuple[keras.Model, list[np.ndarray]]:
    a = keras.Input(shape=(4, 2))
    x1 = layers.Lambda(slice_last, output_shape=(4,), arguments={"index": 0}, name="first")(a)
    x2 = layers.Lambda(slice_last, output_shape=(4,), arguments={"index": 1}, name="second")(a)
    y = layers.Add()([layers.Dense(3)(x1), layers.Dense(3)(x2)])
    return keras.Model(a, y, name="slicing"), [RNG.normal(size=(3, 4, 2))]


def lambda_bytecode() -> tuple[keras.Model, list[np.ndarray]]:
    a = keras.Input(shape=(3,))
    y = layers.Lambda(lambda t: t * 2.0 + 1.0, name="double_plus_one")(a)
    return keras.Model(a, y, name="lambda_bytecode"), [RNG.normal(size=(2, 3))]


def mnist_convnet() -> tuple[keras.Model, list[np.ndarray]]:
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            layers.Conv2D(4, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(6, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ],
        name="mnist_convnet",
    )
    return model, [RNG.normal(size=(2, 12, 12, 1))]


def resnet_block() -> tuple[keras.Model, list[np.ndarray]]:
    inputs = keras.Input(shape=(8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    y = layers.Conv2D(4, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Add()([x, y])
    y = layers.ReLU()(y)
    y = layers.GlobalAveragePooling2D()(y)
    outputs = layers.Dense(2)(y)
    model = keras.Model(inputs, outputs, name="resnet_block")
    # Moving statistics away from 0 and 1, so a load that ignored them would show.
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    RNG.uniform(0.5, 1.5, gamma.shape),
                    RNG.normal(size=beta.shape),
                    RNG.normal(size=mean.shape),
                    RNG.uniform(0.5, 2.0, var.shape),
                ]
            )
    return model, [RNG.normal(size=(2, 8, 8, 3))]


def autoencoder() -> tuple[keras.Model, list[np.ndarray]]:
    encoder_in = keras.Input(shape=(10,))
    code = layers.Dense(3, activation="tanh", name="code")(encoder_in)
    encoder = keras.Model(encoder_in, code, name="encoder")
    decoder = keras.Sequential(
        [keras.Input(shape=(3,)), layers.Dense(10, activation="sigmoid", name="reconstruction")],
        name="decoder",
    )
    inputs = keras.Input(shape=(10,))
    shared = layers.Dense(10, name="shared")
    outputs = decoder(encoder(shared(shared(inputs))))
    return keras.Model(inputs, outputs, name="autoencoder"), [RNG.normal(size=(3, 10))]


def trained() -> tuple[keras.Model, list[np.ndarray]]:
    model = keras.Sequential(
        [keras.Input(shape=(5,)), layers.Dense(8, activation="relu"), layers.Dense(3)],
        name="trained",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x = RNG.normal(size=(32, 5)).astype("float32")
    y = RNG.integers(0, 3, size=(32,))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    np.savez(OUT / "trained_data.npz", x=x, y=y)
    return model, [x[:4]]


def lstm_classifier() -> tuple[keras.Model, list[np.ndarray]]:
    model = keras.Sequential(
        [
            keras.Input(shape=(7,), dtype="int32"),
            layers.Embedding(20, 4),
            layers.LSTM(5),
            layers.Dense(2, activation="softmax"),
        ],
        name="lstm_classifier",
    )
    return model, [RNG.integers(0, 20, size=(3, 7)).astype("int32")]


def gru_tagger() -> tuple[keras.Model, list[np.ndarray]]:
    inputs = keras.Input(shape=(6,), dtype="int32")
    x = layers.Embedding(15, 4)(inputs)
    x = layers.Bidirectional(layers.GRU(3, return_sequences=True))(x)
    outputs = layers.Dense(5, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="gru_tagger")
    return model, [RNG.integers(0, 15, size=(2, 6)).astype("int32")]


def transformer_block() -> tuple[keras.Model, list[np.ndarray]]:
    inputs = keras.Input(shape=(5, 8))
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=4)(inputs, inputs)
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([inputs, attention]))
    ff = layers.Dense(8)(layers.Dense(16, activation="relu")(x))
    outputs = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, ff]))
    model = keras.Model(inputs, outputs, name="transformer_block")
    return model, [RNG.normal(size=(2, 5, 8))]


MODELS = [
    mlp,
    slicing,
    lambda_bytecode,
    mnist_convnet,
    resnet_block,
    autoencoder,
    trained,
    lstm_classifier,
    gru_tagger,
    transformer_block,
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(15)
    for make in MODELS:
        model, inputs = make()
        name = make.__name__
        model.save(OUT / f"{name}.keras")
        y = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
        arrays = {f"x{i}": v for i, v in enumerate(inputs)} if len(inputs) > 1 else {"x": inputs[0]}
        np.savez(OUT / f"{name}.npz", y=np.asarray(y), **arrays)
        if name in ("mlp", "autoencoder", "resnet_block"):  # Keras 2's whole-model .h5 too
            try:
                model.save(OUT / f"{name}_legacy.h5")
            except Exception as error:
                print(f"no legacy .h5: {error}")
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
