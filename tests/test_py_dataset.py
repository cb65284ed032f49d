"""`lamina.utils.PyDataset` in fit/evaluate/predict, and `register_keras_serializable`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lamina
from lamina import Input, Model
from lamina.layers import Dense, Layer
from lamina.utils import PyDataset

X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
Y = X.sum(axis=1, keepdims=True)


class Batches(PyDataset):
    def __init__(self, batch_size: int = 8, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.batch_size = batch_size
        self.order = np.arange(len(X))
        self.epochs_ended = 0
        self.seen: list[int] = []

    def __len__(self) -> int:
        return -(-len(X) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        self.seen.append(index)
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return X[rows], Y[rows]

    def on_epoch_end(self) -> None:
        self.epochs_ended += 1
        self.order = np.random.default_rng(self.epochs_ended).permutation(len(X))


def _model() -> Model:
    lamina.utils.set_random_seed(0)
    x = Input(shape=(3,))
    model = Model(x, Dense(1)(x))
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("workers", [1, 3])
def test_fit_evaluate_predict_take_a_py_dataset(workers: int) -> None:
    data = Batches(workers=workers, max_queue_size=2)
    model = _model()
    history = model.fit(data, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3 and data.epochs_ended == 3
    assert sorted(data.seen) == sorted([0, 1, 2] * 3)
    # The same batches as arrays give the same training (the order is data's own).
    reference = _model()
    for epoch in range(3):
        order = np.arange(len(X)) if epoch == 0 else np.random.default_rng(epoch).permutation(20)
        for start in range(0, 20, 8):
            rows = order[start : start + 8]
            reference.train_on_batch(X[rows], Y[rows])
    np.testing.assert_allclose(model.get_weights()[0], reference.get_weights()[0], rtol=1e-5)
    assert model.evaluate(Batches(), verbose=0) == pytest.approx(
        reference.evaluate(X, Y, verbose=0), rel=1e-5
    )
    np.testing.assert_allclose(
        model.predict(Batches(), verbose=0), reference.predict(X, verbose=0), rtol=1e-5
    )


def test_py_dataset_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"PyDataset: workers must be an int >= 1, received 0"):
        Batches(workers=0)
    with pytest.warns(UserWarning, match=r"prepares batches in 2 thread\(s\) in lamina"):
        Batches(workers=2, use_multiprocessing=True)


def test_register_keras_serializable_is_keras_s_name(tmp_path: Path) -> None:
    @lamina.saving.register_keras_serializable(package="ported")
    class Scale(Layer):
        def __init__(self, factor: float = 2.0, **kwargs: object) -> None:
            super().__init__(**kwargs)  # type: ignore[arg-type]
            self.factor = factor

        def call(self, inputs: object) -> object:
            return inputs * self.factor  # type: ignore[operator]

        def get_config(self) -> dict[str, object]:
            return {**super().get_config(), "factor": self.factor}

    assert lamina.utils.register_keras_serializable is lamina.saving.register_serializable
    x = Input(shape=(2,))
    Model(x, Scale(3.0)(x)).save(tmp_path / "m.lamina")
    loaded = lamina.load_model(tmp_path / "m.lamina")
    np.testing.assert_allclose(loaded.predict(np.ones((1, 2)), verbose=0), [[3.0, 3.0]])
