"""lamina on a CUDA device, against the same model on the CPU.

These run only where torch sees a GPU (CI's machine has none; they were run on an H100 when
this file was written); everywhere else they are skipped, not faked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model, Sequential, ops
from lamina.layers import Dense, Lambda

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")


def sampling(args: Any) -> Any:
    mean, log_var = args
    eps = ops.random.normal(ops.shape(mean))
    return mean + eps * ops.exp(log_var * 0.5)


def seed_vae() -> Model:
    x = Input(shape=(8,))
    h = Dense(16, activation="relu")(x)
    mean, log_var = Dense(2)(h), Dense(2)(h)
    z = Lambda(sampling)([mean, log_var])
    model = Model(x, Dense(8)(Dense(16, activation="relu")(z)))
    model.add_loss(ops.mean(ops.sum(ops.square(mean), axis=1)) * 1e-3)
    return model


def on(model: Any) -> set[str]:
    return {p.device.type for p in model.parameters()} | {b.device.type for b in model.buffers()}


def test_a_model_moved_to_the_gpu_computes_what_it_did_on_the_cpu() -> None:
    x = Input(shape=(6,))
    y = Lambda(lambda t, scale: t * scale, arguments={"scale": np.arange(4.0)})(Dense(4)(x))
    model = Model(x, y)
    data = torch.randn(5, 6)
    expected = model(data).detach()
    model.to(CUDA)
    assert on(model) == {"cuda"}  # the Lambda's array argument is a buffer: it moved too
    # GPU and CPU kernels round differently (2.7e-7 seen on an H100): compare as float32 allows.
    torch.testing.assert_close(model(data.to(CUDA)).cpu(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        model.predict(data.numpy(), verbose=0), expected.numpy(), rtol=1e-5, atol=1e-5
    )


def test_a_lazy_sequential_builds_its_weights_on_the_first_batchs_device() -> None:
    model = Sequential([Dense(3), Dense(2)])
    out = model(torch.randn(4, 5, device=CUDA))
    assert out.device.type == "cuda" and on(model) == {"cuda"}


def test_random_ops_in_a_lambda_draw_on_the_inputs_device() -> None:
    model = seed_vae().to(CUDA)
    model.train()
    out = model(torch.randn(3, 8, device=CUDA))
    assert out.device.type == "cuda"


def test_fit_on_the_gpu_trains_and_matches_the_cpu_step_for_step() -> None:
    data = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    histories = {}
    for device in ("cpu", "cuda"):
        lamina.utils.set_random_seed(0)
        x = Input(shape=(8,))
        model = Model(x, Dense(8)(Dense(16, activation="relu")(x))).to(device)
        model.compile(optimizer="adam", loss="mse")
        history = model.fit(data, data, batch_size=16, epochs=3, shuffle=False, verbose=0)
        histories[device] = history.history["loss"]
        assert on(model) == {device}
    assert histories["cuda"][-1] < histories["cuda"][0]
    np.testing.assert_allclose(histories["cuda"], histories["cpu"], rtol=1e-4)


def test_the_seed_vae_trains_on_the_gpu_with_its_graph_loss() -> None:
    lamina.utils.set_random_seed(0)
    model = seed_vae().to(CUDA)
    model.compile(optimizer="adam", loss="mse")
    data = np.random.default_rng(1).normal(size=(128, 8)).astype(np.float32)
    history = model.fit(data, data, batch_size=32, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert on(model) == {"cuda"}


def test_saving_a_gpu_model_and_loading_it_back(tmp_path: Path) -> None:
    lamina.utils.set_random_seed(0)
    model = seed_vae().to(CUDA)
    model.compile(optimizer="adam", loss="mse")
    data = np.random.default_rng(2).normal(size=(32, 8)).astype(np.float32)
    model.fit(data, data, batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "vae.lamina")
    loaded = lamina.load_model(tmp_path / "vae.lamina")
    assert on(loaded) == {"cpu"}  # files hold CPU tensors; .to() moves them, as torch.load's
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a.cpu(), b), name
    loaded.to(CUDA)
    loaded.fit(data, data, batch_size=16, epochs=1, verbose=0)  # the optimizer state moved too
    fresh = seed_vae().to(CUDA)
    fresh.load_weights(tmp_path / "vae.lamina")
    assert on(fresh) == {"cuda"}
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
