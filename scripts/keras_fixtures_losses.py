"""Write Keras's per-sample values and reduced results for its focal, hinge, Dice and
Tversky losses.

Run with Keras 3 installed beside (never a lamina dependency):

    KERAS_BACKEND=torch python scripts/keras_fixtures_losses.py

`tests/fixtures/keras/losses_extra.json` lists cases: the class name, its constructor
arguments, `y_true`, `y_pred`, a sample weight, and Keras's loss with and without it.
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"

rng = np.random.default_rng(11)
BINARY = (rng.integers(0, 2, (4, 3)).astype(float), rng.uniform(0.05, 0.95, (4, 3)))
LOGITS = (BINARY[0], rng.normal(size=(4, 3)))
ONEHOT = (np.eye(3)[rng.integers(0, 3, 4)], rng.dirichlet(np.ones(3), 4))
MASKS = (rng.integers(0, 2, (4, 3, 3)).astype(float), rng.uniform(0, 1, (4, 3, 3)))
WEIGHTS = rng.uniform(0.5, 1.5, 4)

CASES = [
    ("CategoricalHinge", {}, ONEHOT),
    ("BinaryFocalCrossentropy", {}, BINARY),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5},
     BINARY),
    ("BinaryFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, LOGITS),
    ("CategoricalFocalCrossentropy", {}, ONEHOT),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "gamma": 1.0, "alpha": 0.5},
     (ONEHOT[0], LOGITS[1])),
    ("Dice", {}, MASKS),
    ("Tversky", {}, MASKS),
    ("Tversky", {"alpha": 0.7, "beta": 0.3}, MASKS),
]  # fmt: skip


def main() -> None:
    cases = []
    for class_name, kwargs, (y_true, y_pred) in CASES:
        loss = getattr(keras.losses, class_name)(**kwargs)
        plain = float(keras.ops.convert_to_numpy(loss(y_true, y_pred)))
        weighted = float(keras.ops.convert_to_numpy(loss(y_true, y_pred, sample_weight=WEIGHTS)))
        cases.append({
            "class_name": class_name, "kwargs": kwargs, "y_true": y_true.tolist(),
            "y_pred": y_pred.tolist(), "sample_weight": WEIGHTS.tolist(),
            "loss": plain, "weighted_loss": weighted,
        })  # fmt: skip
    (OUT / "losses_extra.json").write_text(json.dumps(cases))
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
