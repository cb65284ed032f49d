"""The seed's VAE (lamina.cli.demo_vae, examples/vae.py) on the shipped Fashion-MNIST subset."""

from __future__ import annotations

import doctest
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lamina
from lamina.cli import demo_vae

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (x_train, _), (x_test, y_test) = demo_vae.load_data(subset=True)
    return x_train, x_test, y_test


def test_doctests() -> None:
    assert doctest.testmod(demo_vae, raise_on_error=False).failed == 0


def test_loss_decreases_on_the_subset(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    x_train, x_test, _ = data
    assert x_train.shape == (2000, 784) and x_train.min() >= 0.0 and x_train.max() <= 1.0
    lamina.utils.set_random_seed(0)
    vae, encoder, _ = demo_vae.build_vae()
    lamina.utils.set_random_seed(1)
    before = vae.evaluate(x_test, x_test, batch_size=500, verbose=0)
    history = demo_vae.train(vae, x_train, epochs=2, steps_per_epoch=6, verbose=0)
    lamina.utils.set_random_seed(1)
    after = vae.evaluate(x_test, x_test, batch_size=500, verbose=0)
    losses = history.history["loss"]
    assert losses[1] < losses[0] and after < before
    # At initialization the decoder outputs logits near 0: the loss is about log(2) per pixel.
    assert before == pytest.approx(np.log(2), abs=0.1)
    assert np.isfinite(encoder.predict(x_test[:3], verbose=0)).all()


def test_vae_loss_matches_the_formula(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """The compiled objective is BCE(logits) + KL / 784, with the sampling noise fixed."""
    _, x_test, _ = data
    vae, encoder, decoder = demo_vae.build_vae()
    x = x_test[:50]
    lamina.utils.set_random_seed(3)
    got = vae.test_on_batch(x, x)
    lamina.utils.set_random_seed(3)
    tensor = torch.from_numpy(x)
    with torch.no_grad():
        layers = {layer.name: layer for layer in vae.layers}
        dense = [layer for layer in layers.values() if isinstance(layer, lamina.layers.Dense)]
        h = tensor
        for layer in dense[:2]:
            h = layer(h)
        mean, log_var = dense[2](h), dense[3](h)
        z = mean + torch.randn_like(mean) * torch.exp(log_var * 0.5)
        logits = decoder(z)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, tensor)
        kl = -0.5 * torch.mean(torch.sum(1 + log_var - mean**2 - torch.exp(log_var), dim=1))
    assert got == pytest.approx(float(bce + kl / 784), rel=1e-5)
    np.testing.assert_allclose(encoder.predict(x, verbose=0), mean.numpy(), rtol=1e-5, atol=1e-6)


def test_pictures(tmp_path: Path, data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    from matplotlib.image import imread

    _, x_test, y_test = data
    _, encoder, decoder = demo_vae.build_vae()
    latent = demo_vae.plot_latent(encoder, x_test, y_test, tmp_path / "latent.png")
    grid = demo_vae.plot_decoded_grid(decoder, tmp_path / "sub" / "grid.png", n=5)
    for path in (latent, grid):
        image = imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.std() > 0


def test_example_script_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        sys,
        "argv",
        ["vae.py", "--epochs", "1", "--subset", "--out", str(tmp_path), "--verbose", "0"],
    )
    runpy.run_path(str(ROOT / "examples" / "vae.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Training the VAE on 2000 Fashion-MNIST images" in out
    assert "Test loss (reconstruction + KL, per pixel): 0." in out
    assert (tmp_path / "vae_latent.png").exists() and (tmp_path / "vae_decoded_grid.png").exists()
