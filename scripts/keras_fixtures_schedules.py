"""Write Keras's learning rates for its schedules at a range of steps.

Run with Keras 3 installed beside (never a lamina dependency):

    KERAS_BACKEND=torch python scripts/keras_fixtures_schedules.py

`tests/fixtures/keras/schedules.json`: per case, the class name, its arguments, the steps and
Keras's rate at each.
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"
STEPS = [0, 1, 3, 9, 10, 11, 25, 49, 50, 51, 99, 100, 170, 400]

CASES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}),
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9,
                          "staircase": True}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.2, "decay_steps": 7, "decay_rate": 1.0,
                          "staircase": True}),
    ("PiecewiseConstantDecay", {"boundaries": [10, 50], "values": [1.0, 0.5, 0.1]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 100}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 30, "power": 2.0,
                         "end_learning_rate": 0.01, "cycle": True}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 100}),
    ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 100, "alpha": 0.1,
                     "warmup_target": 0.2, "warmup_steps": 10}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 20}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 15,
                             "t_mul": 1.0, "m_mul": 0.8, "alpha": 0.05}),
]  # fmt: skip


def main() -> None:
    cases = []
    for class_name, kwargs in CASES:
        schedule = getattr(keras.optimizers.schedules, class_name)(**kwargs)
        rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in STEPS]
        cases.append({"class_name": class_name, "kwargs": kwargs, "steps": STEPS, "rates": rates})
    (OUT / "schedules.json").write_text(json.dumps(cases, indent=1))
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
