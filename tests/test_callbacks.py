"""Callbacks: the hooks `fit` calls, and Keras's standard callbacks."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model, callbacks
from lamina.layers import Dense
from lamina.utils import set_random_seed

RNG = np.random.default_rng(1)
X = RNG.normal(size=(32, 4)).astype(np.float32)
Y = X.sum(1, keepdims=True).astype(np.float32)


def _model(lr: float = 0.01) -> Model:
    lamina.utils.clear_session()
    set_random_seed(0)
    x = Input(shape=(4,))
    model = Model(x, Dense(1)(x))
    model.compile(optimizer=lamina.optimizers.SGD(learning_rate=lr), loss="mse")
    return model


def _scripted(values: list[float], key: str = "score") -> callbacks.Callback:
    """Puts `values[epoch]` into the epoch logs under `key`, before later callbacks see them."""
    return callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logs.update({key: values[epoch]})
    )


class Recorder(callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.weights: list[list[np.ndarray]] = []

    def on_train_begin(self, logs: Any = None) -> None:
        self.calls.append("train_begin")

    def on_train_end(self, logs: Any = None) -> None:
        self.calls.append("train_end")

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.calls.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.calls.append(f"epoch_end {epoch} {sorted(logs)}")
        self.weights.append([w.copy() for w in self.model.get_weights()])

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.calls.append(f"batch_begin {batch}")

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.calls.append(f"batch_end {batch} {sorted(logs)}")

    def on_test_begin(self, logs: Any = None) -> None:
        self.calls.append("test_begin")

    def on_test_end(self, logs: Any = None) -> None:
        self.calls.append("test_end")


def test_hook_order_and_params() -> None:
    recorder = Recorder()
    model = _model()
    history = model.fit(
        X, Y, batch_size=16, epochs=2, verbose=0, validation_split=0.5, callbacks=[recorder]
    )
    one_epoch = [
        "batch_begin 0",
        "batch_end 0 ['loss']",
        "test_begin",
        "test_end",
    ]
    assert recorder.calls == [
        "train_begin",
        "epoch_begin 0",
        *one_epoch,
        "epoch_end 0 ['loss', 'val_loss']",
        "epoch_begin 1",
        *one_epoch,
        "epoch_end 1 ['loss', 'val_loss']",
        "train_end",
    ]
    assert recorder.params == {"verbose": 0, "epochs": 2, "steps": 1}
    assert history.params == recorder.params and history.epoch == [0, 1]
    assert model.history is history


def test_batch_logs_are_running_means() -> None:
    seen: list[float] = []
    model = _model()
    history = model.fit(
        X,
        Y,
        batch_size=8,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[
            callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["loss"]))
        ],
    )
    assert len(seen) == 4 and seen[-1] == pytest.approx(history.history["loss"][0])


def test_early_stopping_stops_at_the_right_epoch_and_restores_best_weights() -> None:
    recorder = Recorder()
    stop = callbacks.EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    model = _model()
    history = model.fit(
        X,
        Y,
        epochs=10,
        verbose=0,
        callbacks=[_scripted([5.0, 3.0, 4.0, 4.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]), recorder, stop],
    )
    # Best at epoch 1; epochs 2 and 3 do not improve; patience 2 stops after epoch 3.
    assert history.epoch == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1 and stop.best == 3.0
    for restored, best in zip(model.get_weights(), recorder.weights[1]):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(recorder.weights[3][0], recorder.weights[1][0])


def test_early_stopping_min_delta_baseline_and_mode() -> None:
    stop = callbacks.EarlyStopping(monitor="score", mode="max", min_delta=0.5, patience=1)
    history = _model().fit(
        X, Y, epochs=10, verbose=0, callbacks=[_scripted([1.0, 1.4, 1.2, 3.0] + [0.0] * 6), stop]
    )
    assert history.epoch == [0, 1]  # 1.4 is not 0.5 better than 1.0
    stop = callbacks.EarlyStopping(monitor="score", baseline=0.5, patience=2)
    history = _model().fit(X, Y, epochs=10, verbose=0, callbacks=[_scripted([1.0] * 10), stop])
    assert history.epoch == [0, 1]  # never beats the baseline
    with pytest.warns(UserWarning, match="monitors 'val_loss', which is not in the logs"):
        _model().fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])


def test_reduce_lr_on_plateau() -> None:
    reduce = callbacks.ReduceLROnPlateau(monitor="score", factor=0.5, patience=2, min_lr=0.003)
    model = _model(lr=0.02)
    rates: list[float] = []
    probe = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: rates.append(
            model.optimizer.torch_optimizer.param_groups[0]["lr"]
        )
    )
    history = model.fit(X, Y, epochs=7, verbose=0, callbacks=[_scripted([1.0] * 7), probe, reduce])
    # Epoch 0 sets best; epochs 1-2 wait; reduce after epoch 2, again after 4, then min_lr.
    assert rates == pytest.approx([0.02, 0.02, 0.02, 0.01, 0.01, 0.005, 0.005])
    assert history.history["learning_rate"] == pytest.approx(
        [0.02, 0.02, 0.02, 0.01, 0.01, 0.005, 0.005]
    )
    assert model.optimizer.learning_rate == pytest.approx(0.003)
    with pytest.raises(ValueError, match="factor must be < 1"):
        callbacks.ReduceLROnPlateau(factor=2.0)


def test_learning_rate_scheduler() -> None:
    model = _model()
    rates: list[float] = []
    probe = callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: rates.append(
            model.optimizer.torch_optimizer.param_groups[0]["lr"]
        )
    )
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(X, Y, batch_size=32, epochs=3, verbose=0, callbacks=[scheduler, probe])
    assert rates == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert history.history["learning_rate"] == pytest.approx(rates)
    one_arg = callbacks.LearningRateScheduler(lambda epoch: 0.5)
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[one_arg])
    assert model.optimizer.learning_rate == 0.5
    bad = callbacks.LearningRateScheduler(lambda epoch, lr: "fast")
    with pytest.raises(ValueError, match="returned 'fast' for epoch 0"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[bad])


def test_csv_logger(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    model = _model()
    history = model.fit(
        X, Y, epochs=3, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path)]
    )
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], history.history["loss"])
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], history.history["val_loss"])
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and lines[0] == "epoch,loss,val_loss"  # no second header
    assert lines[4].startswith("0,")
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, separator=";")])
    # As Keras: without validation yet, val_ columns are kept (they read NA).
    header, row = path.read_text().splitlines()
    assert header == "epoch;loss;val_loss" and row.endswith(";NA")


def test_lambda_callback_rejects_unknown_hooks() -> None:
    with pytest.raises(ValueError, match="unknown hook 'on_epoch_finish'"):
        callbacks.LambdaCallback(on_epoch_finish=print)
    with pytest.raises(TypeError, match=r"expected lamina\.callbacks\.Callback objects"):
        _model().fit(X, Y, epochs=1, verbose=0, callbacks=[print])  # type: ignore[list-item]


def test_model_checkpoint_logic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model()
    saved: list[tuple[str, str]] = []
    monkeypatch.setattr(model, "save_weights", lambda path: saved.append(("weights", path)))
    monkeypatch.setattr(model, "save", lambda path: saved.append(("model", path)))
    best_only = callbacks.ModelCheckpoint(
        str(tmp_path / "w-{epoch:02d}-{score:.1f}.safetensors"),
        monitor="score",
        save_best_only=True,
        save_weights_only=True,
    )
    every = callbacks.ModelCheckpoint(str(tmp_path / "sub" / "m{epoch}.lamina"))
    model.fit(
        X, Y, epochs=4, verbose=0, callbacks=[_scripted([3.0, 2.0, 2.5, 1.0]), best_only, every]
    )
    weights = [Path(p).name for kind, p in saved if kind == "weights"]
    assert weights == ["w-01-3.0.safetensors", "w-02-2.0.safetensors", "w-04-1.0.safetensors"]
    assert [Path(p).name for kind, p in saved if kind == "model"] == [
        f"m{i}.lamina" for i in range(1, 5)
    ]
    assert (tmp_path / "sub").is_dir()
    missing = callbacks.ModelCheckpoint(
        str(tmp_path / "{nope}.safetensors"), save_weights_only=True
    )
    with pytest.raises(KeyError, match="names 'nope', which is not in the logs"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[missing])


def test_model_checkpoint_writes_weights(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "best.safetensors"
    checkpoint = callbacks.ModelCheckpoint(
        str(path), monitor="loss", save_best_only=True, save_weights_only=True
    )
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[checkpoint])
    assert path.exists()
    fresh = _model()
    fresh.load_weights(str(path))
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)  # the loss fell every epoch: the last is the best


def test_history_keeps_extra_keys_and_model_reference() -> None:
    model = _model()
    history = model.fit(X, Y, epochs=2, verbose=0, callbacks=[_scripted([1.0, 2.0], "extra")])
    assert history.history["extra"] == [1.0, 2.0]
    assert history.model is model
    assert all(isinstance(v, float) for v in history.history["loss"])
    assert torch.is_tensor(model.layers[1].kernel)


def test_model_checkpoint_refuses_a_file_name_of_another_format_at_once(tmp_path: Path) -> None:
    from lamina.saving import SaveError

    with pytest.raises(SaveError, match=r"ending in \.lamina, received \.h5"):
        callbacks.ModelCheckpoint(str(tmp_path / "best.h5"))
    with pytest.raises(SaveError, match=r"ending in \.safetensors, received \.h5"):
        callbacks.ModelCheckpoint(str(tmp_path / "best.weights.h5"), save_weights_only=True)


def test_a_progbar_logger_draws_the_bar_once(capsys: pytest.CaptureFixture[str]) -> None:
    model = _model()
    model.fit(X, Y, epochs=2, verbose=2)
    plain = capsys.readouterr().out
    model.fit(X, Y, epochs=2, verbose=2, callbacks=[callbacks.ProgbarLogger()])
    with_logger = capsys.readouterr().out
    assert plain.count("Epoch 2/2") == with_logger.count("Epoch 2/2") == 1
    assert with_logger.count("loss") == plain.count("loss") > 0
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.ProgbarLogger()])
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------- SwapEMAWeights
def _ema_model(**ema: Any) -> tuple[Model, np.ndarray, np.ndarray]:
    set_random_seed(1)
    x = Input(shape=(3,))
    model = Model(x, Dense(1)(Dense(6, activation="tanh")(x)))
    model.compile(
        optimizer=lamina.optimizers.SGD(learning_rate=0.1, use_ema=True, **ema), loss="mse"
    )
    data = np.random.default_rng(2).normal(size=(40, 3)).astype("float32")
    return model, data, data.sum(axis=1, keepdims=True)


def test_swap_ema_weights_validates_on_the_averages() -> None:
    model, x, y = _ema_model(ema_momentum=0.8)
    history = model.fit(
        x, y, epochs=3, batch_size=8, verbose=0, validation_data=(x[:16], y[:16]),
        callbacks=[callbacks.SwapEMAWeights()],
    )  # fmt: skip
    # fit ends with the averages in the model, the weights validation last ran with.
    val = model.evaluate(x[:16], y[:16], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val, rel=1e-6)
    plain, x, y = _ema_model(ema_momentum=0.8)
    history = plain.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_data=(x, y))
    assert history.history["val_loss"][-1] != pytest.approx(plain.evaluate(x, y, verbose=0))


def test_swap_ema_weights_on_epoch_for_the_callbacks_after_it() -> None:
    model, x, y = _ema_model(ema_momentum=0.5)
    at_end: list[list[np.ndarray]] = []
    at_begin: list[list[np.ndarray]] = []
    swap = callbacks.SwapEMAWeights(swap_on_epoch=True)
    record = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: at_end.append(model.get_weights()),
        on_epoch_begin=lambda epoch, logs: at_begin.append(model.get_weights()),
    )
    trained: list[list[np.ndarray]] = []
    before = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: trained.append(model.get_weights())
    )
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[before, swap, record])
    averages = model.optimizer._ema
    # epoch 1: `record` saw the averages, and epoch 2 began from the trained weights again
    assert not np.allclose(at_end[0][0], trained[0][0])
    np.testing.assert_array_equal(at_begin[1][0], trained[0][0])
    # after the last epoch the model keeps the averages it was given at that epoch's end
    for final, seen, average in zip(model.get_weights(), at_end[1], averages):
        np.testing.assert_array_equal(final, seen)
        np.testing.assert_array_equal(final, average.numpy())


def test_swap_ema_weights_restores_after_predict_and_evaluate() -> None:
    model, x, y = _ema_model()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.optimizer._ema = [torch.zeros_like(p) for p in model.optimizer._params]
    before = model.get_weights()
    swap = callbacks.SwapEMAWeights()
    swap.set_model(model)
    out = model.predict(x[:4], verbose=0, callbacks=[swap])
    np.testing.assert_array_equal(out, np.zeros((4, 1), "float32"))  # all-zero weights
    model.evaluate(x, y, verbose=0, callbacks=[swap])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_swap_ema_weights_needs_use_ema() -> None:
    x = Input(shape=(2,))
    model = Model(x, Dense(1)(x))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="SwapEMAWeights needs an optimizer with use_ema=True"):
        model.evaluate(np.ones((4, 2)), np.ones((4, 1)), verbose=0,
                       callbacks=[callbacks.SwapEMAWeights()])  # fmt: skip
