"""Write Keras's results for the confusion, F-score, R2, IoU and hinge metrics.

Run with Keras 3 installed beside (never a lamina dependency):

    KERAS_BACKEND=torch python scripts/keras_fixtures_metrics.py

`tests/fixtures/keras/metrics.json` lists cases: the class name and constructor arguments, two
batches of `(y_true, y_pred, sample_weight or None)` given to `update_state`, and `result()`.
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras" / "metrics.json"

rng = np.random.default_rng(7)
BINARY = (rng.integers(0, 2, (6, 3)).astype(float), rng.random((6, 3)))
BINARY2 = (rng.integers(0, 2, (5, 3)).astype(float), rng.random((5, 3)))
WEIGHTS = rng.random(5)
ONEHOT = (np.eye(4)[rng.integers(0, 4, 6)], rng.random((6, 4)))
ONEHOT2 = (np.eye(4)[rng.integers(0, 4, 5)], rng.random((5, 4)))
REG = (rng.normal(size=(6, 2)), rng.normal(size=(6, 2)))
REG2 = (rng.normal(size=(5, 2)), rng.normal(size=(5, 2)))
REG1 = (rng.normal(size=(6, 1)), rng.normal(size=(6, 1)))
REG12 = (rng.normal(size=(5, 1)), rng.normal(size=(5, 1)))
IOU = (rng.integers(0, 3, 8), rng.integers(0, 3, 8))
IOU2 = (rng.integers(0, 3, 5), rng.integers(0, 3, 5))

CASES = [
    ("TruePositives", {}, BINARY, BINARY2),
    ("FalsePositives", {"thresholds": [0.3, 0.7]}, BINARY, BINARY2),
    ("TrueNegatives", {}, BINARY, BINARY2),
    ("FalseNegatives", {"thresholds": 0.6}, BINARY, BINARY2),
    ("Precision", {}, BINARY, BINARY2),
    ("Precision", {"thresholds": [0.2, 0.5, 0.8]}, BINARY, BINARY2),
    ("Precision", {"top_k": 1}, BINARY, BINARY2),
    ("Precision", {"class_id": 1}, BINARY, BINARY2),
    ("Recall", {}, BINARY, BINARY2),
    ("Recall", {"top_k": 2, "class_id": 0}, BINARY, BINARY2),
    ("PrecisionAtRecall", {"recall": 0.6}, BINARY, BINARY2),
    ("PrecisionAtRecall", {"recall": 0.3, "num_thresholds": 7, "class_id": 2}, BINARY, BINARY2),
    ("RecallAtPrecision", {"precision": 0.5}, BINARY, BINARY2),
    ("RecallAtPrecision", {"precision": 0.8, "num_thresholds": 11}, BINARY, BINARY2),
    ("F1Score", {}, ONEHOT, ONEHOT2),
    ("F1Score", {"average": "macro", "threshold": 0.5}, BINARY, BINARY2),
    ("FBetaScore", {"average": "micro", "beta": 2.0, "threshold": 0.4}, BINARY, BINARY2),
    ("FBetaScore", {"average": "weighted", "beta": 0.5}, ONEHOT, ONEHOT2),
    ("R2Score", {}, REG, REG2),
    ("R2Score", {"class_aggregation": None}, REG, REG2),
    ("R2Score", {"class_aggregation": "variance_weighted_average"}, REG, REG2),
    # One output: Keras's adjusted R2 counts elements, not samples, with several outputs.
    ("R2Score", {"num_regressors": 2}, REG1, REG12),
    ("MeanIoU", {"num_classes": 3}, IOU, IOU2),
    ("Hinge", {}, BINARY, BINARY2),
    ("SquaredHinge", {}, BINARY, BINARY2),
    ("CategoricalHinge", {}, ONEHOT, ONEHOT2),
    ("LogCoshError", {}, REG, REG2),
]


def main() -> None:
    cases = []
    for class_name, kwargs, first, second in CASES:
        for weighted in (False, True):
            metric = getattr(keras.metrics, class_name)(**kwargs)
            batches = [
                (first[0], first[1], None),
                (second[0], second[1], WEIGHTS if weighted else None),
            ]
            for y_true, y_pred, weight in batches:
                metric.update_state(y_true, y_pred, sample_weight=weight)
            result = keras.ops.convert_to_numpy(metric.result())
            cases.append({
                "class_name": class_name,
                "kwargs": kwargs,
                "batches": [
                    [np.asarray(t).tolist(), np.asarray(p).tolist(), None if w is None else list(w)]
                    for t, p, w in batches
                ],
                "result": np.asarray(result, dtype=float).tolist(),
            })  # fmt: skip
    OUT.write_text(json.dumps(cases))
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
