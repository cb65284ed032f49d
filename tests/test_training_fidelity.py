"""Training against Keras 3's own numbers and log keys (tests/fixtures/keras/training.*,
written by scripts/keras_fixtures_training.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import lamina
from lamina import layers, losses, metrics

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
REF = dict(np.load(FIXTURES / "training.npz"))
KEYS = json.loads((FIXTURES / "training.json").read_text())


def binary_model() -> lamina.Model:
    inputs = lamina.Input((3,))
    outputs = layers.Dense(1, activation="sigmoid")(inputs)
    model = lamina.Model(inputs, outputs)
    model.set_weights([REF["kernel"], REF["bias"]])
    return model


@pytest.mark.parametrize(
    "name, cls",
    [
        ("binary_crossentropy", losses.BinaryCrossentropy),
        ("mean_squared_error", losses.MeanSquaredError),
        ("mean_absolute_error", losses.MeanAbsoluteError),
    ],
)
@pytest.mark.parametrize("tag", ["n_n1", "n1_n"])
def test_losses_are_per_sample_whatever_the_rank(name: str, cls: type, tag: str) -> None:
    y, pred = REF["y"], REF["pred"]
    yt, yp = (y, pred) if tag == "n_n1" else (y[:, None], pred[:, 0])
    yt, yp = torch.as_tensor(yt), torch.as_tensor(yp)
    weighted = cls()(yt, yp, sample_weight=torch.as_tensor(REF["w"]))
    np.testing.assert_allclose(weighted.numpy(), REF[f"loss_{name}_{tag}"], rtol=1e-5)
    values = cls(reduction="none")(yt, yp)
    np.testing.assert_allclose(values.numpy(), REF[f"loss_{name}_{tag}_none"], rtol=1e-5)


def test_evaluate_with_sample_weight_and_weighted_metrics() -> None:
    model = binary_model()
    model.compile(
        optimizer="sgd",
        loss="binary_crossentropy",
        metrics=["mae", metrics.BinaryAccuracy()],
        weighted_metrics=["mae", metrics.BinaryAccuracy(name="wacc")],
    )
    logs = model.evaluate(REF["x"], REF["y"], sample_weight=REF["w"], verbose=0, return_dict=True)
    assert sorted(logs) == sorted(KEYS["evaluate_weighted"])
    for key, value in logs.items():
        np.testing.assert_allclose(value, REF[f"evaluate_weighted/{key}"], rtol=1e-5)


@pytest.mark.parametrize(
    "tag, kwargs",
    [
        ("fit_class_weight", {"class_weight": {0: 0.2, 1: 3.0}}),
        ("fit_sample_weight", {"sample_weight": REF["w"]}),
    ],
)
def test_fit_weights_each_sample(tag: str, kwargs: dict) -> None:
    model = binary_model()
    model.compile(optimizer=lamina.optimizers.SGD(0.5), loss="binary_crossentropy")
    history = model.fit(
        REF["x"], REF["y"], batch_size=8, epochs=1, shuffle=False, verbose=0, **kwargs
    )
    np.testing.assert_allclose(history.history["loss"][0], REF[f"{tag}/loss"], rtol=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], REF[f"{tag}/kernel"], rtol=1e-4)


TWO_OUTPUT_SPECS = {
    "list_metrics": {"loss": "mse", "metrics": ["mse", ["mae", "mse"]]},
    "one_element": {"loss": ["mse", "mae"], "metrics": [["mae"], ["mse"]]},
    "dict_loss": {"loss": {"dense_1": "mse", "dense_2": "mae"}, "metrics": {"dense_2": "mae"}},
    "weighted": {
        "loss": "mse",
        "metrics": [["mae"], ["mae"]],
        "weighted_metrics": [["mae"], ["mse"]],
    },
}


@pytest.mark.parametrize("tag", sorted(TWO_OUTPUT_SPECS))
def test_two_output_log_names_are_keras_names(tag: str) -> None:
    inputs = lamina.Input((3,))
    a = layers.Dense(1, name="dense_1")(inputs)
    b = layers.Dense(2, name="dense_2")(inputs)
    model = lamina.Model(inputs, [a, b])
    model.compile(optimizer="sgd", **TWO_OUTPUT_SPECS[tag])
    y = [np.zeros((8, 1), "float32"), np.zeros((8, 2), "float32")]
    logs = model.evaluate(REF["x"], y, verbose=0, return_dict=True)
    assert sorted(logs) == sorted(KEYS[f"two_outputs/{tag}"])


def test_one_output_weighted_names_in_fit_history() -> None:
    model = binary_model()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae", "mse"])
    logs = model.evaluate(REF["x"], REF["y"], sample_weight=REF["w"], verbose=0, return_dict=True)
    assert sorted(logs) == sorted(KEYS["one_output/weighted"])
    history = model.fit(
        REF["x"], REF["y"], validation_data=(REF["x"], REF["y"]), epochs=1, verbose=0
    )
    assert sorted(history.history) == sorted(KEYS["one_output/fit_history"])


def test_single_output_nested_metric_list() -> None:
    model = binary_model()
    model.compile(optimizer="sgd", loss=["mse"], metrics=[["mae"]])
    logs = model.evaluate(REF["x"], REF["y"], verbose=0, return_dict=True)
    assert sorted(logs) == ["loss", "mae"]


# ---------------------------------------------------------------------------- callbacks
def test_model_checkpoint_counts_batches_from_one(tmp_path: Path) -> None:
    model = binary_model()
    model.compile(optimizer="sgd", loss="mse")
    path = str(tmp_path / "m-{epoch}-{batch}.weights.safetensors")
    checkpoint = lamina.callbacks.ModelCheckpoint(path, save_weights_only=True, save_freq=2)
    model.fit(REF["x"], REF["y"], batch_size=2, epochs=1, verbose=0, callbacks=[checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m-1-2.weights.safetensors",
        "m-1-4.weights.safetensors",
    ]


def test_csv_logger_keeps_validation_that_starts_later(tmp_path: Path) -> None:
    model = binary_model()
    model.compile(optimizer="sgd", loss="mse")
    logger = lamina.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    model.fit(
        REF["x"],
        REF["y"],
        validation_data=(REF["x"], REF["y"]),
        validation_freq=2,
        epochs=2,
        verbose=0,
        callbacks=[logger],
    )
    header, first, second = (tmp_path / "log.csv").read_text().splitlines()
    assert header == "epoch,loss,val_loss"
    assert first.endswith(",NA") and not second.endswith(",NA")


def test_terminate_on_nan_can_raise() -> None:
    model = binary_model()
    model.compile(optimizer="sgd", loss="mse")
    x = REF["x"].copy()
    x[0, 0] = np.nan
    callback = lamina.callbacks.TerminateOnNaN(raise_error=True)
    with pytest.raises(RuntimeError, match="TerminateOnNaN"):
        model.fit(x, REF["y"], batch_size=4, verbose=0, callbacks=[callback])


@pytest.mark.parametrize("x", [None, [None]])
def test_fit_without_inputs_says_so(x: object) -> None:
    model = binary_model()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="expected the input data"):
        model.fit(x, REF["y"], verbose=0)
