"""Write Keras's weights after a few optimizer steps on fixed weights and gradients.

Run with Keras 3 installed beside (never a lamina dependency):

    KERAS_BACKEND=torch python scripts/keras_fixtures_optimizers.py

`tests/fixtures/keras/optimizers.json`: per case, the class name, its arguments and Keras's
full config (defaults included); `tests/fixtures/keras/optimizers.npz`: the starting weights
(`init/<i>`), the gradients of each step (`grad/<step>/<i>`, the same for every case) and,
per case, the weights after each step (`<case>/<step>/<i>`), `optimizer.iterations` after each
step (`<case>/iterations/<step>`) and, with `use_ema`, the moving
averages after the last step (`<case>/ema/<i>`).
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"
SHAPES = [(3, 4), (4,), (2, 3, 5), (1,)]  # 2-D and 3-D take Adafactor's factored path
STEPS = 6

CASES = [
    ("Adafactor", {}),
    ("Adafactor", {"learning_rate": 0.05, "beta_2_decay": -0.5, "epsilon_2": 1e-2,
                   "clip_threshold": 0.5, "weight_decay": 0.01}),
    ("Adafactor", {"learning_rate": 2.0, "relative_step": False, "clipnorm": 0.5}),
    ("Lion", {}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.95, "weight_decay": 0.1}),
    ("Lamb", {}),
    ("Lamb", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 1e-3,
              "global_clipnorm": 1.0}),
    ("Ftrl", {}),
    ("Ftrl", {"learning_rate": 0.1, "learning_rate_power": -0.7, "initial_accumulator_value": 0.5,
              "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
              "l2_shrinkage_regularization_strength": 0.03, "beta": 0.2}),
    ("Ftrl", {"learning_rate": 0.05, "beta": 0.1, "clipvalue": 0.3, "weight_decay": 0.05}),
    # EMA: SGD's update is the same in both, so only the averaging is compared.
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "use_ema": True, "ema_momentum": 0.8}),
    ("SGD", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.7,
             "ema_overwrite_frequency": 4}),
    ("Lion", {"learning_rate": 0.01, "use_ema": True, "ema_overwrite_frequency": 2}),
    ("Ftrl", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.5}),
    # gradient accumulation (an update every N-th step, with the mean gradient) and
    # loss_scale_factor (the gradients divided by it before the update)
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "gradient_accumulation_steps": 2}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "nesterov": True,
             "gradient_accumulation_steps": 3}),
    ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "loss_scale_factor": 128.0}),
    ("AdamW", {"learning_rate": 0.01, "gradient_accumulation_steps": 2, "loss_scale_factor": 4.0,
               "global_clipnorm": 1.0}),
    # (a tiny epsilon: Keras adds it inside the square root, torch outside)
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "epsilon": 1e-12,
                 "gradient_accumulation_steps": 4}),
    ("Lion", {"learning_rate": 0.01, "gradient_accumulation_steps": 2, "loss_scale_factor": 0.5}),
    ("SGD", {"learning_rate": 0.1, "gradient_accumulation_steps": 2, "use_ema": True,
             "ema_momentum": 0.8}),
]  # fmt: skip


def main() -> None:
    rng = np.random.default_rng(10)
    arrays: dict[str, np.ndarray] = {}
    init = [rng.normal(size=s).astype("float32") for s in SHAPES]
    grads = [[rng.normal(size=s).astype("float32") for s in SHAPES] for _ in range(STEPS)]
    grads[2][1][:] = 0.0  # a zero gradient: Lamb's ratio and Adafactor's eps_1 edge
    for i, value in enumerate(init):
        arrays[f"init/{i}"] = value
    for step, step_grads in enumerate(grads):
        for i, value in enumerate(step_grads):
            arrays[f"grad/{step}/{i}"] = value
    cases = []
    for n, (class_name, kwargs) in enumerate(CASES):
        opt = getattr(keras.optimizers, class_name)(**kwargs)
        variables = [keras.Variable(v) for v in init]
        opt.build(variables)
        for step in range(STEPS):
            opt.apply([keras.ops.convert_to_tensor(g) for g in grads[step]], variables)
            arrays[f"{n}/iterations/{step}"] = keras.ops.convert_to_numpy(opt.iterations)
            for i, var in enumerate(variables):
                arrays[f"{n}/{step}/{i}"] = keras.ops.convert_to_numpy(var)
        if kwargs.get("use_ema"):
            for i, avg in enumerate(opt._model_variables_moving_average):
                arrays[f"{n}/ema/{i}"] = keras.ops.convert_to_numpy(avg)
        config = {k: v for k, v in opt.get_config().items() if k != "name"}
        cases.append({"class_name": class_name, "kwargs": kwargs, "config": config})
    (OUT / "optimizers.json").write_text(json.dumps(cases, indent=1))
    np.savez_compressed(OUT / "optimizers.npz", **arrays)
    print(f"{len(cases)} cases, {len(arrays)} arrays")


if __name__ == "__main__":
    main()
