"""Write the Keras reference fixtures for ConvLSTM1D/2D/3D.

Run with Keras 3 installed beside (never a lamina dependency):

    KERAS_BACKEND=torch python scripts/keras_fixtures_conv_lstm.py

Each case is one `tests/fixtures/keras/sequence/<name>.npz`, as the other sequence fixtures:
the class name and constructor arguments (JSON), the input `x`, random weights `w0, w1, ...`
in Keras's order and layout, and the inference outputs `y0, y1, ...` (then the states when
`return_state`).
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras" / "sequence"

# (file name, class name, constructor arguments, input shape)
CASES: list[tuple[str, str, dict, tuple[int, ...]]] = [
    ("conv_lstm2d_same_seq", "ConvLSTM2D", {"filters": 3, "kernel_size": 3, "padding": "same",
     "return_sequences": True}, (2, 3, 5, 5, 2)),
    ("conv_lstm2d_strided_state", "ConvLSTM2D", {"filters": 2, "kernel_size": (2, 3),
     "strides": 2, "padding": "same", "return_state": True}, (2, 3, 6, 7, 1)),
    ("conv_lstm2d_valid_backwards", "ConvLSTM2D", {"filters": 2, "kernel_size": 2,
     "go_backwards": True, "activation": "relu"}, (2, 4, 4, 4, 3)),
    ("conv_lstm1d_dilated", "ConvLSTM1D", {"filters": 3, "kernel_size": 2, "dilation_rate": 2,
     "return_sequences": True}, (2, 3, 7, 2)),
    ("conv_lstm3d", "ConvLSTM3D", {"filters": 2, "kernel_size": 2, "padding": "same",
     "use_bias": False}, (1, 2, 3, 3, 3, 1)),
]  # fmt: skip


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    for name, class_name, kwargs, shape in CASES:
        x = rng.normal(size=shape).astype("float32")
        layer = getattr(keras.layers, class_name)(**kwargs)
        layer.build(x.shape)
        weights = [rng.normal(scale=0.4, size=w.shape).astype("float32") for w in layer.weights]
        layer.set_weights(weights)
        out = layer(x)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        arrays = {"x": x}
        arrays.update({f"y{i}": keras.ops.convert_to_numpy(y) for i, y in enumerate(outs)})
        arrays.update({f"w{i}": w for i, w in enumerate(weights)})
        np.savez(OUT / f"{name}.npz", layer=class_name, kwargs=json.dumps(kwargs), **arrays)
        print(name, [a.shape for a in outs])


if __name__ == "__main__":
    main()
