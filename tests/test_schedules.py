"""Learning-rate schedules against Keras's rates (tests/fixtures/keras/schedules.json), in
training, and saved with a compiled model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lamina
from lamina import Input, Model
from lamina.layers import Dense
from lamina.optimizers import schedules

CASES = json.loads((Path(__file__).parent / "fixtures" / "keras" / "schedules.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[f"{c['class_name']}-{i}" for i, c in enumerate(CASES)])
def test_schedule_matches_keras(case: dict[str, Any]) -> None:
    schedule = getattr(schedules, case["class_name"])(**case["kwargs"])
    got = [schedule(step) for step in case["steps"]]
    np.testing.assert_allclose(got, case["rates"], rtol=1e-5, atol=1e-7)
    again = schedules.deserialize(schedules.serialize(schedule))
    assert [again(s) for s in case["steps"]] == got


def test_fit_follows_the_schedule_and_a_saved_model_keeps_it(tmp_path: Path) -> None:
    schedule = schedules.PiecewiseConstantDecay([2, 5], [0.1, 0.01, 0.001])
    x = Input(shape=(2,))
    model = Model(x, Dense(1)(x))
    model.compile(optimizer=lamina.optimizers.SGD(learning_rate=schedule), loss="mse")
    data = np.ones((8, 2), np.float32)
    seen: list[float] = []
    record = lamina.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs=None: seen.append(model.optimizer.learning_rate)
    )
    model.fit(data, np.zeros((8, 1)), batch_size=2, epochs=2, verbose=0, callbacks=[record])
    assert seen == [schedule(step) for step in range(8)]
    model.save(tmp_path / "m.lamina")
    loaded = lamina.load_model(tmp_path / "m.lamina")
    assert loaded.optimizer.iterations == 8
    assert loaded.optimizer.learning_rate == pytest.approx(0.001)
    assert isinstance(loaded.optimizer._schedule, schedules.PiecewiseConstantDecay)


def test_bad_schedule_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="values must have one more element than boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1])
    with pytest.raises(ValueError, match="CosineDecay: decay_steps must be a positive number"):
        schedules.CosineDecay(0.1, decay_steps=0)
