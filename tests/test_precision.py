"""Mixed precision: the global policy, autocast in the steps, loss scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lamina import Input, Model, mixed_precision
from lamina.layers import Dense
from lamina.optimizers import SGD, LossScaleOptimizer


@pytest.fixture
def bfloat16_policy():
    mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    mixed_precision.set_global_policy("float32")


def _model() -> Model:
    torch.manual_seed(0)
    inputs = Input(shape=(4,))
    return Model(inputs, Dense(1)(Dense(8, activation="relu")(inputs)))


def test_policy_names():
    policy = mixed_precision.Policy("mixed_float16")
    assert (policy.compute_dtype, policy.variable_dtype) == ("float16", "float32")
    assert mixed_precision.global_policy().name == "float32"
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        mixed_precision.set_global_policy("mixed_int8")


def test_mixed_bfloat16_fit_keeps_float32_weights_and_matches_float32(bfloat16_policy):
    x = np.random.default_rng(0).random((32, 4), dtype=np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    seen = []
    model.layers[-1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert seen[0] == torch.bfloat16
    assert all(w.dtype == torch.float32 for w in model.weights)
    mixed_precision.set_global_policy("float32")
    reference = _model()
    reference.compile(optimizer="sgd", loss="mse")
    expected = reference.fit(x, y, batch_size=8, epochs=2, verbose=0)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=0.05)


def test_mixed_float16_is_refused_on_cpu():
    mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _model()
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(RuntimeError, match="mixed_bfloat16"):
            model.fit(np.ones((4, 4), np.float32), np.ones((4, 1), np.float32), verbose=0)
    finally:
        mixed_precision.set_global_policy("float32")


def test_loss_scale_optimizer_skips_non_finite_steps_and_grows():
    w = torch.nn.Parameter(torch.ones(2))
    opt = LossScaleOptimizer(SGD(learning_rate=0.1), initial_scale=8.0, dynamic_growth_steps=2)
    opt.build([w])
    opt.scale_loss((w * float("inf")).sum()).backward()
    opt.step()
    assert opt.scale == 4.0 and torch.equal(w.detach(), torch.ones(2))
    for _ in range(2):
        opt.zero_grad()
        opt.scale_loss(w.sum()).backward()
        opt.step()
    assert opt.scale == 8.0
    torch.testing.assert_close(w.detach(), torch.full((2,), 0.8))
