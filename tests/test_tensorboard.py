"""`callbacks.TensorBoard`: the event files hold the logs of `fit`, as TensorBoard reads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina import Input, Model, callbacks
from lamina.layers import Dense

pytest.importorskip("tensorboard")  # an optional extra; CI installs it
from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)


def _events(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    return events


def test_epoch_logs_histograms_and_graph(tmp_path: Path) -> None:
    x = Input(shape=(3,))
    model = Model(x, Dense(1, name="out")(x))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    data = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    board = callbacks.TensorBoard(tmp_path, histogram_freq=1, update_freq=2)
    history = model.fit(
        data, data[:, :1], validation_split=0.25, batch_size=4, epochs=2, verbose=0,
        callbacks=[board],
    ).history  # fmt: skip
    train, validation = _events(tmp_path / "train"), _events(tmp_path / "validation")
    for name in ("loss", "mae"):
        got = [e.value for e in train.Scalars(f"epoch_{name}")]
        np.testing.assert_allclose(got, history[name], rtol=1e-6)
        got = [e.value for e in validation.Scalars(f"epoch_{name}")]
        np.testing.assert_allclose(got, history[f"val_{name}"], rtol=1e-6)
    assert len(train.Scalars("batch_loss")) == 3  # 3 batches an epoch, every second one
    assert {"out/kernel", "out/bias"} <= set(train.Tags()["histograms"])
    assert train.Tags()["graph"]


def test_bad_update_freq_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="update_freq must be 'epoch', 'batch' or a positive"):
        callbacks.TensorBoard(tmp_path, update_freq="sometimes")
