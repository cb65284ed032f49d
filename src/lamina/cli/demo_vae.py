"""The seed's variational autoencoder on Fashion-MNIST, as functions for `lamina demo`
(`examples/vae.py` is the same model as one readable script).

The model is written as in the seed: a `Lambda` draws the latent sample, and the KL term is
a graph loss added with `model.add_loss`. An encoder (`Model(x, mean)`) and a decoder (the
decoder layers called again on a new `Input(shape=(2,))`) share the trained layers, for the
two pictures: the test set in the latent plane, coloured by class, and a grid of images
decoded from a sweep of that plane.

Example:
    >>> from lamina.cli import demo_vae
    >>> vae, encoder, decoder = demo_vae.build_vae()
    >>> vae.output_shape, encoder.output_shape, decoder.output_shape
    ((None, 784), (None, 2), (None, 784))
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina import Input, Model, losses, ops, optimizers
from lamina.datasets import fashion_mnist
from lamina.layers import Dense, Lambda

__all__ = [
    "build_vae",
    "load_data",
    "plot_decoded_grid",
    "plot_latent",
    "sampling",
    "train",
]

IMAGE_SIZE = 28
ORIGINAL_DIM = IMAGE_SIZE * IMAGE_SIZE


def sampling(agrs: Sequence[torch.Tensor]) -> torch.Tensor:
    """The reparameterization trick: `mean + eps * exp(logvar / 2)` with `eps ~ N(0, 1)`."""
    mean, logvar = agrs[0], agrs[1]
    eps = torch.randn_like(mean)
    return mean + eps * torch.exp(logvar * 0.5)


def build_vae(
    *, hidden: int = 200, latent_dim: int = 2, learning_rate: float = 1e-3
) -> tuple[Model, Model, Model]:
    """The seed's VAE, compiled, with an encoder and a decoder sharing its layers.

    Args:
        hidden: units of the hidden softplus layers.
        latent_dim: size of the latent space (2 for the pictures).
        learning_rate: Adam's learning rate.

    Returns:
        `(vae, encoder, decoder)`: the VAE maps images (N, 784) to logits (N, 784); the
        encoder maps images to latent means (N, latent_dim); the decoder maps latent points
        to logits.
    """
    x = Input(shape=(ORIGINAL_DIM,))
    h2 = Dense(hidden, activation="softplus")(Dense(hidden, activation="softplus")(x))
    mean, log_var = Dense(latent_dim)(h2), Dense(latent_dim)(h2)
    z = Lambda(sampling, output_shape=(latent_dim,))([mean, log_var])
    decoder_layers = [
        Dense(hidden, activation="softplus"),
        Dense(hidden, activation="softplus"),
        Dense(hidden, activation="softplus"),
        Dense(ORIGINAL_DIM),
    ]
    out = z
    for layer in decoder_layers:
        out = layer(out)
    vae = Model(x, out, name="vae")
    kl = -0.5 * ops.mean(ops.sum(1 + log_var - ops.square(mean) - ops.exp(log_var), axis=1))
    vae.add_loss(kl / ORIGINAL_DIM)
    vae.compile(
        optimizer=optimizers.Adam(learning_rate=learning_rate),
        loss=losses.BinaryCrossentropy(from_logits=True),
    )
    encoder = Model(x, mean, name="encoder")
    latent = Input(shape=(latent_dim,))
    decoded = latent
    for layer in decoder_layers:
        decoded = layer(decoded)
    decoder = Model(latent, decoded, name="decoder")
    return vae, encoder, decoder


def load_data(
    *, subset: bool = False, download: bool = False
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST as float32 rows of 784 values in [0, 1], with the labels.

    Args:
        subset: use the 2,000/500-image subset shipped with lamina.
        download: download the full set when it is not on disk (otherwise the subset is
            used instead).
    """
    if subset:
        (x_train, y_train), (x_test, y_test) = fashion_mnist.load_subset()
    else:
        (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(
            download=download, fallback_to_subset=True
        )

    def rows(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), ORIGINAL_DIM).astype(np.float32) / 255.0

    return (rows(x_train), y_train), (rows(x_test), y_test)


def train(
    vae: Model,
    x_train: np.ndarray,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    validation_split: float = 0.1,
    verbose: int | str = "auto",
    **fit_kwargs: Any,
) -> Any:
    """Fit the VAE to reconstruct `x_train` (targets are the inputs); returns the History."""
    return vae.fit(
        x_train,
        x_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=validation_split,
        verbose=verbose,
        **fit_kwargs,
    )


def plot_latent(
    encoder: Model,
    x: np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike[str],
    *,
    batch_size: int = 512,
) -> Path:
    """Save a scatter plot of the latent means of `x`, coloured by class."""
    from matplotlib.figure import Figure

    points = encoder.predict(x, batch_size=batch_size, verbose=0)
    figure = Figure(figsize=(8, 7))
    axes = figure.add_subplot()
    scatter = axes.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=4, alpha=0.8)
    colorbar = figure.colorbar(scatter, ax=axes, ticks=range(10))
    colorbar.ax.set_yticklabels(fashion_mnist.CLASS_NAMES)
    axes.set_xlabel("z[0]")
    axes.set_ylabel("z[1]")
    axes.set_title("Fashion-MNIST test set in the VAE's latent space")
    return _save(figure, path)


def plot_decoded_grid(
    decoder: Model,
    path: str | os.PathLike[str],
    *,
    n: int = 15,
    quantiles: tuple[float, float] = (0.05, 0.95),
) -> Path:
    """Save an `n` x `n` grid of images decoded from a sweep of the latent plane.

    The sweep covers the given quantiles of the standard normal prior on each axis, as in
    Keras's VAE example.
    """
    from matplotlib.figure import Figure

    normal = statistics.NormalDist()
    values = [normal.inv_cdf(q) for q in np.linspace(quantiles[0], quantiles[1], n)]
    grid_x, grid_y = np.meshgrid(values, values[::-1])
    latent = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
    logits = decoder.predict(latent, batch_size=len(latent), verbose=0)
    images = 1.0 / (1.0 + np.exp(-logits))
    canvas = (
        images.reshape(n, n, IMAGE_SIZE, IMAGE_SIZE)
        .transpose(0, 2, 1, 3)
        .reshape(n * IMAGE_SIZE, n * IMAGE_SIZE)
    )
    figure = Figure(figsize=(8, 8))
    axes = figure.add_subplot()
    axes.imshow(canvas, cmap="Greys_r")
    ticks = np.arange(IMAGE_SIZE // 2, n * IMAGE_SIZE, IMAGE_SIZE)
    axes.set_xticks(ticks, [f"{v:.1f}" for v in values])
    axes.set_yticks(ticks, [f"{v:.1f}" for v in values[::-1]])
    axes.set_xlabel("z[0]")
    axes.set_ylabel("z[1]")
    axes.set_title("Images decoded from the latent plane")
    return _save(figure, path)


def _save(figure: Any, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100, bbox_inches="tight")
    return target
