"""Adafactor, Lion, Lamb, Ftrl and the EMA, gradient accumulation and loss scale options
against Keras 3's fixtures (`scripts/keras_fixtures_optimizers.py`), their configs, names, and
save/load resumption."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model, optimizers
from lamina.layers import Dense

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "keras"
CASES: list[dict[str, Any]] = json.loads((FIXTURES / "optimizers.json").read_text())
DATA = dict(np.load(FIXTURES / "optimizers.npz"))
N_WEIGHTS = sum(k.startswith("init/") for k in DATA)
N_STEPS = sum(k.startswith("grad/") and k.endswith("/0") for k in DATA)


# torch's Adam and RMSprop add epsilon where Keras's formulas do not (after the bias
# correction, inside the square root), a difference of ~1e-5 here; a wrong accumulation or
# scale is off by the size of a step (~1e-2).
LOOSER = {"Adam", "AdamW", "RMSprop"}


def _case_id(case: dict[str, Any]) -> str:
    return case["class_name"] + "-" + "-".join(f"{k}={v}" for k, v in case["kwargs"].items())


@pytest.mark.parametrize("n", range(len(CASES)), ids=[_case_id(c) for c in CASES])
def test_steps_match_keras(n: int) -> None:
    case = CASES[n]
    opt = getattr(optimizers, case["class_name"])(**case["kwargs"])
    weights = [torch.nn.Parameter(torch.tensor(DATA[f"init/{i}"])) for i in range(N_WEIGHTS)]
    opt.build(weights)
    tolerance = (2e-4, 1e-4) if case["class_name"] in LOOSER else (1e-5, 1e-6)
    for step in range(N_STEPS):
        for i, weight in enumerate(weights):
            weight.grad = torch.tensor(DATA[f"grad/{step}/{i}"])
        opt.step()
        for i, weight in enumerate(weights):
            expected = torch.tensor(DATA[f"{n}/{step}/{i}"])
            rtol, atol = tolerance
            torch.testing.assert_close(weight.detach(), expected, rtol=rtol, atol=atol)
        assert opt.iterations == int(DATA[f"{n}/iterations/{step}"])
    if case["kwargs"].get("use_ema"):
        for i, average in enumerate(opt._ema):
            torch.testing.assert_close(average, torch.tensor(DATA[f"{n}/ema/{i}"]))


@pytest.mark.parametrize("n", range(len(CASES)), ids=[_case_id(c) for c in CASES])
def test_config_matches_keras_and_round_trips(n: int) -> None:
    case = CASES[n]
    opt = getattr(optimizers, case["class_name"])(**case["kwargs"])
    config = opt.get_config()
    for key, value in case["config"].items():
        expected = pytest.approx(value, rel=1e-6) if isinstance(value, float) else value
        assert config[key] == expected, key  # Keras stores float32
    back = optimizers.deserialize(json.loads(json.dumps(optimizers.serialize(opt))))
    assert type(back) is type(opt) and back.get_config() == config


def test_by_name_with_keras_defaults() -> None:
    for name, cls in [
        ("adafactor", optimizers.Adafactor),
        ("Lion", optimizers.Lion),
        ("lamb", optimizers.Lamb),
        ("ftrl", optimizers.Ftrl),
    ]:
        opt = optimizers.get(name)
        assert type(opt) is cls and opt.learning_rate == 0.001 and not opt.use_ema
    assert optimizers.get("lion").beta_2 == 0.99
    assert optimizers.get("ftrl").initial_accumulator_value == 0.1
    adafactor = optimizers.get("adafactor")
    assert (adafactor.epsilon_1, adafactor.epsilon_2, adafactor.beta_2_decay) == (1e-30, 1e-3, -0.8)


def test_bad_arguments_say_what_was_received() -> None:
    with pytest.raises(ValueError, match=r"beta_1 must be in \(0, 1\].*received 0.0"):
        optimizers.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="l1_regularization_strength must be >= 0, received -1"):
        optimizers.Ftrl(l1_regularization_strength=-1.0)
    with pytest.raises(ValueError, match=r"learning_rate_power must be <= 0, received 0\.5"):
        optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match=r"ema_momentum must be in \[0, 1\], received 1.5"):
        optimizers.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="ema_overwrite_frequency must be an int >= 1"):
        optimizers.SGD(use_ema=True, ema_overwrite_frequency=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gradient_accumulation_steps must be an int >= 2"):
        optimizers.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match=r"loss_scale_factor must be > 0 or None, received -2"):
        optimizers.Lion(loss_scale_factor=-2)


def test_accumulation_counts_updates_and_scale_loss_scales() -> None:
    weight = torch.nn.Parameter(torch.zeros(2))
    opt = optimizers.SGD(learning_rate=1.0, gradient_accumulation_steps=2, loss_scale_factor=4.0)
    opt.build([weight])
    assert float(opt.scale_loss(torch.tensor(1.5))) == 6.0
    for step, grad in enumerate([[4.0, 8.0], [12.0, 0.0], [4.0, 4.0]]):
        weight.grad = torch.tensor(grad)
        opt.step()
        expected = [[0.0, 0.0], [-2.0, -1.0], [-2.0, -1.0]][step]
        torch.testing.assert_close(weight.detach(), torch.tensor(expected))
    assert (opt.iterations, opt._iterations) == (1, 3)
    assert opt.get_config()["gradient_accumulation_steps"] == 2


def test_adafactor_keeps_factored_moments() -> None:
    weights = [torch.nn.Parameter(torch.ones(shape)) for shape in [(4, 6), (2, 4, 6), (6,)]]
    opt = optimizers.Adafactor()
    opt.build(weights)
    for weight in weights:
        weight.grad = torch.ones_like(weight)
    opt.step()
    shapes = {name: tuple(v.shape) for w in weights for name, v in opt.state[w].items()}
    assert opt.state[weights[0]]["row"].shape == (4, 1)
    assert opt.state[weights[1]]["col"].shape == (2, 1, 6)
    assert shapes["velocity"] == (6,)  # rank 1: a full second moment


def _model(optimizer: optimizers.Optimizer) -> Model:
    torch.manual_seed(0)
    x = Input(shape=(4,))
    model = Model(x, Dense(1)(Dense(8, activation="tanh")(x)))
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5], [0.0]])).astype("float32")


@pytest.mark.parametrize(
    "optimizer",
    [
        optimizers.Adafactor(learning_rate=0.05),
        optimizers.Lion(learning_rate=0.01, use_ema=True, ema_overwrite_frequency=5),
        optimizers.Lamb(learning_rate=0.01, weight_decay=0.01),
        optimizers.Ftrl(learning_rate=0.1, l1_regularization_strength=0.001),
        optimizers.Adam(use_ema=True, ema_momentum=0.9),
        # 8 steps: saved two steps into an accumulation of three
        optimizers.SGD(learning_rate=0.05, momentum=0.9, gradient_accumulation_steps=3),
        optimizers.Adam(gradient_accumulation_steps=3, loss_scale_factor=16.0),
    ],
    ids=lambda o: type(o).__name__ + ("-accumulating" if o.gradient_accumulation_steps else ""),
)
def test_save_load_resumes_training(
    optimizer: optimizers.Optimizer, tmp_path: pathlib.Path
) -> None:
    x, y = _data()
    model = _model(optimizer)
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    model.save(tmp_path / "m.lamina")
    loaded = lamina.load_model(tmp_path / "m.lamina")
    assert type(loaded.optimizer) is type(optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    if optimizer.gradient_accumulation_steps:  # saved mid-accumulation
        assert any(bool(a.abs().sum()) for a in loaded.optimizer._accumulated)
        for a, b in zip(model.optimizer._accumulated, loaded.optimizer._accumulated):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    for m in (model, loaded):
        m.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    if optimizer.use_ema:
        for a, b in zip(model.optimizer._ema, loaded.optimizer._ema):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    if optimizer.gradient_accumulation_steps:
        assert loaded.optimizer.iterations == model.optimizer.iterations == 4  # 12 steps // 3


def test_loaded_state_of_the_wrong_shape_is_refused() -> None:
    weights = [torch.nn.Parameter(torch.ones(3, 2))]
    opt = optimizers.Adafactor(use_ema=True)
    opt.build(weights)
    weights[0].grad = torch.ones(3, 2)
    opt.step()
    state = opt.state_dict()
    bad = dict(state, ema=[torch.zeros(2, 3)])
    with pytest.raises(ValueError, match=r"moving average 0 is \(\(2, 3\).*its weight is \(3, 2\)"):
        opt.load_state_dict(bad)
    accumulating = optimizers.SGD(gradient_accumulation_steps=2)
    accumulating.build(weights)
    with pytest.raises(ValueError, match=r"accumulated gradient 0 is \(\(3,\).*weight is \(3, 2\)"):
        accumulating.load_state_dict({"accumulated_gradients": [torch.zeros(3)]})
    state["state"][0]["row"] = torch.zeros(4, 1)
    with pytest.raises(ValueError, match="state 'row' of parameter 0 is"):
        opt.load_state_dict(state)


def test_fit_ends_with_the_moving_averages() -> None:
    x, y = _data()
    model = _model(optimizers.SGD(learning_rate=0.05, use_ema=True, ema_momentum=0.5))
    seen: list[list[np.ndarray]] = []
    record = lamina.callbacks.LambdaCallback(
        on_train_end=lambda logs: seen.append(model.get_weights())
    )
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[record])
    for weight, average in zip(seen[0], model.optimizer._ema):
        np.testing.assert_array_equal(weight, average.numpy())


@pytest.mark.parametrize("n", range(len(CASES)), ids=[_case_id(c) for c in CASES])
def test_keras_compile_config_is_accepted(n: int) -> None:
    # What a .keras file's compile_config holds: Keras's full optimizer config.
    from lamina.saving.keras_compile import compile_from_keras
    from lamina.saving.values import LoadContext

    case = CASES[n]
    model = _model(optimizers.SGD())
    keras_config = {"class_name": case["class_name"], "config": {"name": "x", **case["config"]}}
    compile_from_keras(model, {"optimizer": keras_config, "loss": "mse"}, None, LoadContext())
    assert type(model.optimizer) is getattr(optimizers, case["class_name"])
    assert model.optimizer.use_ema == case["config"]["use_ema"]
