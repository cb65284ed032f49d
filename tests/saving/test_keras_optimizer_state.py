"""Keras files' optimizer state (every optimizer, EMA, gradient accumulators) and `fit` with
gradient accumulation and a loss scale factor, against Keras 3 (the fixtures written by
scripts/keras_fixtures_optimizer_files.py): a model trained a few steps in Keras, saved,
loaded into lamina and trained one more step gives Keras's weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("h5py")

from lamina import Input, Model, load_model, optimizers
from lamina.layers import Dense
from lamina.saving import load_keras

FIXTURES = Path(__file__).parent.parent / "fixtures" / "keras" / "optimizer_files"
CASES: dict[str, Any] = json.loads((FIXTURES / "cases.json").read_text())
DATA = dict(np.load(FIXTURES / "data.npz"))
EXPECTED = dict(np.load(FIXTURES / "expected.npz"))


@pytest.mark.parametrize("case", sorted(CASES["files"]))
def test_one_more_step_after_loading_matches_keras(case: str) -> None:
    model = load_keras(FIXTURES / f"{case}.keras")
    class_name, _ = CASES["files"][case]
    assert type(model.optimizer).__name__ == class_name
    assert model.optimizer.torch_optimizer.state  # restored, not started afresh
    model.train_on_batch(DATA["x"][:4], DATA["y"][:4])
    for i, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, EXPECTED[f"{case}/{i}"], rtol=1e-4, atol=2e-6)


def test_accumulators_and_iterations_come_from_the_keras_file(tmp_path: Path) -> None:
    model = load_keras(FIXTURES / "adam_accumulating.keras")
    optimizer = model.optimizer
    assert optimizer.gradient_accumulation_steps == 2
    assert (optimizer._iterations, optimizer.iterations) == (5, 2)  # 5 batches of 4 in 20
    assert any(bool(a.abs().sum()) for a in optimizer._accumulated)  # mid-accumulation
    path = tmp_path / "resumed.lamina"
    model.save(path)
    again = load_model(path)
    assert again.optimizer._iterations == 5
    for ours, saved in zip(optimizer._accumulated, again.optimizer._accumulated):
        torch.testing.assert_close(ours, saved)


def _model(optimizer: optimizers.Optimizer) -> Model:
    x = Input(shape=(3,), name="x")
    model = Model(x, Dense(1, name="out")(Dense(4, activation="tanh", name="hidden")(x)))
    model.set_weights([DATA[f"w{i}"] for i in range(4)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("case", sorted(CASES["fits"]))
def test_fit_matches_keras(case: str) -> None:
    class_name, kwargs = CASES["fits"][case]
    model = _model(getattr(optimizers, class_name)(**kwargs))
    model.fit(DATA["x"], DATA["y"], batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert model.optimizer.iterations == int(EXPECTED[f"fit_{case}/iterations"])
    for i, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, EXPECTED[f"fit_{case}/{i}"], rtol=1e-4, atol=1e-6)


class _CustomStep(Model):
    """A train_step of the user's own, scaling the loss and applying through apply()."""

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        self.zero_grad()
        loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
        self.optimizer.scale_loss(loss).backward()
        weights = self.trainable_weights
        self.optimizer.apply([w.grad for w in weights], weights)
        return {"loss": loss.detach()}


@pytest.mark.parametrize("case", ["adam_both", "sgd_momentum_accumulating"])
def test_custom_train_step_through_apply_matches_keras(case: str) -> None:
    class_name, kwargs = CASES["fits"][case]
    x = Input(shape=(3,), name="x")
    model = _CustomStep(x, Dense(1, name="out")(Dense(4, activation="tanh", name="hidden")(x)))
    model.set_weights([DATA[f"w{i}"] for i in range(4)])
    model.compile(optimizer=getattr(optimizers, class_name)(**kwargs), loss="mse")
    model.fit(DATA["x"], DATA["y"], batch_size=4, epochs=1, shuffle=False, verbose=0)
    for i, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, EXPECTED[f"fit_{case}/{i}"], rtol=1e-4, atol=1e-6)


def test_malformed_counts_are_refused() -> None:
    from lamina.saving import LoadError
    from lamina.saving.keras_optimizer import keras_optimizer_state
    from lamina.saving.values import LoadContext

    optimizer = optimizers.SGD(momentum=0.9)
    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer.build([weight])
    slots = [np.zeros(2, "float32")]
    for counts in ([np.zeros(0), np.float32(0.1)], [np.float32(-3), np.float32(0.1)]):
        with pytest.raises(LoadError, match="not two finite numbers"):
            keras_optimizer_state(optimizer, [weight], [*counts, *slots], LoadContext(), None)
    with pytest.warns(UserWarning, match="has 2 variables, not the 3 Keras's SGD keeps"):
        state = keras_optimizer_state(optimizer, [weight], [np.int64(1), np.float32(0.1)],
                                      LoadContext(), None)  # fmt: skip
    assert state is None
