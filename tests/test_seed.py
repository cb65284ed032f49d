"""The seed's two examples, written as in the blog post with only the imports changed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model, layers
from lamina import ops as tf  # the post's VAE spells its tensor functions tf.*
from lamina.layers import Lambda, Reshape, merge
from lamina.utils import plot


def test_first_example_verbatim(tmp_path) -> None:
    def slice(x, index):
        return x[:, :, index]

    a = Input(shape=(4, 2))
    with pytest.warns(UserWarning, match=r"output_shape=\(4, 1\) was declared"):
        x1 = Lambda(slice, output_shape=(4, 1), arguments={"index": 0})(a)
    with pytest.warns(UserWarning, match=r"returns \(None, 4\)"):
        x2 = Lambda(slice, output_shape=(4, 1), arguments={"index": 1})(a)
    x1 = Reshape((4, 1, 1))(x1)
    x2 = Reshape((4, 1, 1))(x2)
    output = merge([x1, x2], mode="concat")
    model = Model(a, output)
    x_test = np.array([[[1, 2], [2, 3], [3, 4], [4, 5]]])
    np.testing.assert_array_equal(model.predict(x_test), [[[[1, 2]], [[2, 3]], [[3, 4]], [[4, 5]]]])
    plot(model, to_file=str(tmp_path / "lambda.png"), show_shapes=True)
    assert (tmp_path / "lambda.png").read_bytes()[:4] == b"\x89PNG"


def sampling(agrs):
    mean, logvar = agrs[0], agrs[1]
    eps = tf.random.normal(tf.shape(mean))
    return mean + eps * tf.exp(logvar * 0.5)


def test_vae_example_verbatim_trains_and_round_trips(tmp_path) -> None:
    latent_dimension = 2
    x = layers.Input(shape=(784,))
    h1 = layers.Dense(200, activation="softplus")(x)
    h2 = layers.Dense(200, activation="softplus")(h1)
    mean = layers.Dense(latent_dimension)(h2)
    log_var = layers.Dense(latent_dimension)(h2)
    z = layers.Lambda(sampling, output_shape=(latent_dimension,))([mean, log_var])
    h3 = layers.Dense(200, activation="softplus")
    h4 = layers.Dense(200, activation="softplus")
    h5 = layers.Dense(200, activation="softplus")
    end = layers.Dense(784)
    out = end(h5(h4(h3(z))))
    model = Model(x, out)
    assert z.shape == (None, 2) and model.output_shape == (None, 784)

    data = torch.rand(64, 784)
    mean_model = Model(x, mean)
    torch.manual_seed(0)
    first = model(data)
    torch.manual_seed(0)
    eps = torch.randn(64, 2)
    m, lv = mean_model(data), Model(x, log_var)(data)
    expected = end(h5(h4(h3(m + eps * torch.exp(lv * 0.5)))))
    torch.testing.assert_close(first, expected)

    model.compile(optimizer="adam", loss=lamina.losses.BinaryCrossentropy(from_logits=True))
    history = model.fit(data.numpy(), data.numpy(), batch_size=16, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save(tmp_path / "vae.lamina")
        loaded = lamina.load_model(tmp_path / "vae.lamina")  # safe mode: sampling is checked
    torch.manual_seed(3)
    a = model.predict(data.numpy(), verbose=0)
    torch.manual_seed(3)
    b = loaded.predict(data.numpy(), verbose=0)
    np.testing.assert_array_equal(a, b)
