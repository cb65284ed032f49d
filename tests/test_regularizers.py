"""Regularizers and constraints against Keras fixtures, and their place in training."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model, constraints, optimizers, regularizers
from lamina.layers import Dense, Flatten

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
REG = np.load(FIXTURES / "regularizers.npz")
TRAIN = np.load(FIXTURES / "regularization_training.npz")

PENALTIES = {
    "l1_default": regularizers.L1(),
    "l2_default": regularizers.l2(),
    "l1": regularizers.L1(0.3),
    "l2": regularizers.L2(0.2),
    "l1_l2": regularizers.l1_l2(l1=0.1, l2=0.05),
    "l1_l2_default": regularizers.L1L2(),
    "orthogonal_rows": regularizers.OrthogonalRegularizer(0.5),
    "orthogonal_columns": regularizers.orthogonal_regularizer(0.5, mode="columns"),
}
PROJECTIONS = {
    "max_norm_default": constraints.MaxNorm(),
    "max_norm": constraints.MaxNorm(1.5, axis=0),
    "max_norm_axis1": constraints.max_norm(1.0, axis=1),
    "max_norm_axes": constraints.MaxNorm(2.0, axis=[0, 1]),
    "min_max_norm": constraints.MinMaxNorm(1.0, 1.5, rate=0.5),
    "min_max_norm_default": constraints.MinMaxNorm(),
    "non_neg": constraints.NonNeg(),
    "unit_norm": constraints.UnitNorm(),
    "unit_norm_axis1": constraints.UnitNorm(axis=1),
}


@pytest.mark.parametrize("name", PENALTIES)
def test_penalty_matches_keras(name: str) -> None:
    regularizer = PENALTIES[name]
    got = regularizer(torch.from_numpy(REG["w"]))
    np.testing.assert_allclose(got.item(), REG[f"penalty_{name}"], rtol=1e-5, atol=1e-7)
    again = regularizers.deserialize(regularizers.serialize(regularizer))
    assert type(again) is type(regularizer) and again.get_config() == regularizer.get_config()


@pytest.mark.parametrize("name", PROJECTIONS)
def test_constraint_matches_keras(name: str) -> None:
    constraint = PROJECTIONS[name]
    got = constraint(torch.from_numpy(REG["w"]))
    np.testing.assert_allclose(got.numpy(), REG[f"constraint_{name}"], rtol=1e-5, atol=1e-7)
    again = constraints.get(constraints.serialize(constraint))
    assert type(again) is type(constraint) and again.get_config() == constraint.get_config()


def test_names_give_keras_defaults() -> None:
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1").get_config() == {"l1": 0.01}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get("L2").get_config() == {"l2": 0.01}
    assert isinstance(
        regularizers.get("orthogonal_regularizer"), regularizers.OrthogonalRegularizer
    )
    assert constraints.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    assert isinstance(constraints.get("unit_norm"), constraints.UnitNorm)
    assert regularizers.get(None) is None and constraints.get(None) is None
    fn = lambda w: w.sum()  # noqa: E731
    assert regularizers.get(fn) is fn and regularizers.serialize(fn) is fn
    assert regularizers.L2.from_config({"l2": 0.5}).l2 == 0.5


def test_bad_arguments_name_the_class_and_the_value() -> None:
    with pytest.raises(
        ValueError, match=r"L2: expected a non-negative float for l2, received l2=-1"
    ):
        regularizers.L2(-1)
    with pytest.raises(ValueError, match=r"L1L2: .* l1, received l1='a'"):
        regularizers.L1L2(l1="a")
    with pytest.raises(ValueError, match=r"OrthogonalRegularizer: expected mode 'rows' or"):
        regularizers.OrthogonalRegularizer(mode="diag")
    with pytest.raises(
        ValueError, match=r"OrthogonalRegularizer: expected a 2-D weight.*\(2, 3, 4\)"
    ):
        regularizers.OrthogonalRegularizer()(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"Unknown regularizer 'l3'; expected one of"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match=r"Unknown regularizer class 'L3'"):
        regularizers.deserialize({"class_name": "L3", "config": {}})
    with pytest.raises(ValueError, match=r"MaxNorm: expected max_value >= 0, received -1"):
        constraints.MaxNorm(-1)
    with pytest.raises(ValueError, match=r"MinMaxNorm: expected 0 <= min_value <= max_value"):
        constraints.MinMaxNorm(2.0, 1.0)
    with pytest.raises(ValueError, match=r"UnitNorm: expected an int or a list of ints for axis"):
        constraints.UnitNorm(axis="rows")
    with pytest.raises(ValueError, match=r"Unknown constraint 'positive'; expected one of"):
        constraints.get("positive")
    with pytest.raises(ValueError, match=r"Could not interpret constraint 3 \(int\)"):
        constraints.get(3)


def _model() -> tuple[Model, Dense]:
    x = Input((4,))
    dense = Dense(
        3,
        kernel_regularizer=regularizers.L2(0.1),
        bias_regularizer=regularizers.L1(0.2),
        activity_regularizer=regularizers.L1(0.01),
        kernel_constraint=constraints.MaxNorm(0.5),
    )
    model = Model(x, dense(x))
    dense.set_weights([TRAIN["kernel"], TRAIN["bias"]])
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    return model, dense


def test_model_losses_match_keras() -> None:
    model, _ = _model()
    model(torch.from_numpy(TRAIN["x"]))
    got = [v.item() for v in model.losses]
    np.testing.assert_allclose(got, TRAIN["model_losses"], rtol=1e-5)


def test_training_loss_includes_the_penalties_and_the_constraint_holds() -> None:
    x, y = TRAIN["x"], TRAIN["y"]
    model, dense = _model()
    assert np.isclose(model.evaluate(x, y, batch_size=8, verbose=0), TRAIN["evaluate_loss"])
    loss = model.train_on_batch(x, y)
    np.testing.assert_allclose(loss, TRAIN["train_on_batch_loss"], rtol=1e-5)
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(kernel, TRAIN["kernel_after"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, TRAIN["bias_after"], rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(kernel, axis=0).max() <= 0.5 + 1e-6  # MaxNorm(0.5) holds

    model, dense = _model()
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], TRAIN["fit_losses"], rtol=1e-5)
    np.testing.assert_allclose(dense.get_weights()[0], TRAIN["fit_kernel"], rtol=1e-5, atol=1e-6)


def test_frozen_weights_are_neither_penalized_nor_constrained() -> None:
    x = Input((2,))
    dense = Dense(2, kernel_regularizer=regularizers.L2(100.0), kernel_constraint="non_neg")
    head = Dense(2, kernel_initializer="zeros")
    model = Model(x, head(dense(x)))
    model.compile(optimizer="sgd", loss="mse")
    dense.set_weights([-np.ones((2, 2)), np.zeros(2)])
    dense.trainable = False  # after compile: the step skips it all the same
    assert model.losses == []
    assert model.train_on_batch(np.zeros((2, 2)), np.ones((2, 2))) == pytest.approx(1.0)
    assert (dense.kernel.detach() == -1).all()  # NonNeg not applied


def test_a_model_built_by_its_first_batch_is_regularized_too() -> None:
    class Net(Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = Dense(
                1, kernel_initializer="ones", kernel_regularizer=regularizers.L1(1.0)
            )

        def call(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.dense(inputs)

    model = Net()
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    loss = model.train_on_batch(np.zeros((2, 3)), np.zeros((2, 1)))
    assert loss == pytest.approx(3.0)  # mse 0 + L1 of the 3 kernel entries


def test_activity_regularizer_on_any_layer_and_in_its_config() -> None:
    layer = Flatten(activity_regularizer="l2")
    assert layer.get_config()["activity_regularizer"] == {
        "class_name": "L2",
        "config": {"l2": 0.01},
    }
    assert "activity_regularizer" not in Flatten().get_config()
    clone = Flatten.from_config(layer.get_config())
    assert isinstance(clone.activity_regularizer, regularizers.L2)
    clone(torch.full((2, 1, 3), 2.0))
    assert [v.item() for v in clone.losses] == pytest.approx([0.01 * 4 * 6 / 2])  # per sample


def test_regularized_model_saves_and_loads_in_safe_mode() -> None:
    model, _ = _model()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "reg.lamina")
        model.save(path)
        loaded = lamina.load_model(path)
    layer = loaded.layers[1]
    assert (
        isinstance(layer.kernel_regularizer, regularizers.L2) and layer.kernel_regularizer.l2 == 0.1
    )
    assert isinstance(layer.kernel_constraint, constraints.MaxNorm)
    assert layer.kernel.constraint.max_value == 0.5  # type: ignore[attr-defined]
    assert isinstance(layer.activity_regularizer, regularizers.L1)
    x = torch.from_numpy(TRAIN["x"])
    model(x)
    loaded(x)
    got = [v.item() for v in loaded.losses]
    np.testing.assert_allclose(got, TRAIN["model_losses"], rtol=1e-5)


def test_no_regularizers_means_no_work_per_step() -> None:
    from lamina.training.steps import _Runner

    x = Input((2,))
    model = Model(x, Dense(1)(x))
    model.compile(optimizer="sgd", loss="mse")
    assert (
        model._compile_state.regularized.penalized == []
        and model._compile_state.regularized.constrained == []
    )
    runner = _Runner(model)
    runner.train(torch.ones(4, 2), torch.ones(4, 1), None)
    assert runner.regularized is model._compile_state.regularized  # found by compile, not per step
    step = model._plan[-1] if hasattr(model, "_plan") else None
    if step is not None:
        assert step.direct == step.layer.call  # the activity check is off the plan's path


class _Clip(constraints.Constraint):
    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w.clamp(-0.1, 0.1)


def test_user_classes_and_functions_save_and_load() -> None:
    x = Input((3,))
    dense = Dense(
        2,
        bias_constraint=_Clip(),
        kernel_constraint=lambda w: w.clamp(-0.2, 0.2),
        activity_regularizer=lambda y: y.abs().sum(),
    )
    model = Model(x, dense(x))
    model.compile(optimizer=optimizers.SGD(0.5), loss="mse")
    model.fit(np.ones((4, 3)), np.full((4, 2), 10.0), epochs=2, verbose=0)
    assert dense.bias.abs().max().item() == pytest.approx(0.1)
    assert dense.kernel.abs().max().item() <= 0.2 + 1e-7
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "user.lamina")
        model.save(path)
        with pytest.raises(lamina.saving.LoadError, match=r"Unknown constraint class '_Clip'"):
            lamina.load_model(path)
        loaded = lamina.load_model(path, custom_objects={"_Clip": _Clip})
    layer = loaded.layers[1]
    assert isinstance(layer.bias_constraint, _Clip)
    w = torch.tensor([[0.5, -0.5]])
    assert layer.kernel_constraint(w)[0].tolist() == pytest.approx([0.2, -0.2])
    assert layer.activity_regularizer(w).item() == 1.0
