"""`compile(jit_compile=...)`: steps through torch.compile, and the fallback to eager."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lamina import Input, Model, ops
from lamina.layers import Dense, Lambda
from lamina.training import compiled


def _model() -> Model:
    torch.manual_seed(0)
    inputs = Input(shape=(4,))
    hidden = Dense(8, activation="relu")(inputs)
    model = Model(inputs, Dense(1)(hidden))
    model.add_loss(ops.mean(ops.square(hidden)) * 0.01)
    return model


def test_jit_compile_matches_eager_training():
    x = np.random.default_rng(0).random((16, 4), dtype=np.float32)
    y = x.sum(axis=1, keepdims=True)
    results = []
    for jit in (False, {"backend": "aot_eager"}):
        model = _model()
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"], jit_compile=jit)
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        results.append((history.history, model.predict(x, verbose=0)))
    assert isinstance(model._compile_state.forward, compiled.CompiledForward)
    assert not model._compile_state.forward.failed
    (h_eager, p_eager), (h_jit, p_jit) = results
    np.testing.assert_allclose(h_eager["loss"], h_jit["loss"], rtol=1e-5)
    np.testing.assert_allclose(h_eager["mae"], h_jit["mae"], rtol=1e-5)
    np.testing.assert_allclose(p_eager, p_jit, rtol=1e-5, atol=1e-6)


def test_auto_is_eager_on_cpu_and_bad_values_are_refused():
    model = _model()
    assert compiled.resolve(model, "auto") is None
    assert compiled.resolve(model, True) == {}
    with pytest.raises(ValueError, match="jit_compile"):
        model.compile(loss="mse", jit_compile="yes")


def test_compile_failure_falls_back_with_a_warning():
    inputs = Input(shape=(2,))
    model = Model(inputs, Lambda(lambda t: t * 2)(inputs))
    model.compile(loss="mse", jit_compile={"backend": "no_such_backend"})
    with pytest.warns(Warning, match="running eagerly"):
        out = model.predict(np.ones((2, 2), np.float32), verbose=0)
    np.testing.assert_allclose(out, 2.0)
