"""The seed's variational autoencoder, written as in the seed, trained on Fashion-MNIST.

    python examples/vae.py --epochs 10 --out vae_output

It trains on the full Fashion-MNIST when found on disk (Debian's `dataset-fashion-mnist`,
`$LAMINA_DATA`, the user cache), else on the 2,000-image subset shipped with lamina (`--subset`
forces it), prints the test loss, and saves two pictures: the test set in the 2-D latent plane
coloured by class, and a grid of images decoded from a sweep of that plane. `lamina demo` runs
the same model (`lamina.cli.demo_vae`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import lamina
from lamina import Input, Model, ops
from lamina.datasets import fashion_mnist
from lamina.layers import Dense, Lambda
from lamina.utils import plot_image_grid, plot_latent_space, set_random_seed

parser = argparse.ArgumentParser(description="Train the seed's VAE on Fashion-MNIST.")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--out", default="vae_output", help="folder for the two pictures")
parser.add_argument("--subset", action="store_true", help="use the subset shipped with lamina")
parser.add_argument("--verbose", default="auto", help="0, 1, 2 or auto")
args = parser.parse_args()
set_random_seed(0)

# The data: images as rows of 784 values in [0, 1].
if args.subset:
    (x_train, _), (x_test, y_test) = fashion_mnist.load_subset()
else:
    (x_train, _), (x_test, y_test) = fashion_mnist.load_data(fallback_to_subset=True)
x_train = x_train.reshape(-1, 784).astype("float32") / 255
x_test = x_test.reshape(-1, 784).astype("float32") / 255

# The model, as in the seed: the encoder's two heads, a sampling Lambda, the decoder.
original_dim, intermediate_dim, latent_dim = 784, 200, 2


def sampling(agrs):
    mean, logvar = agrs[0], agrs[1]
    eps = torch.randn_like(mean)
    return mean + eps * torch.exp(logvar * 0.5)


x = Input(shape=(original_dim,))
h1 = Dense(intermediate_dim, activation="softplus")(x)
h2 = Dense(intermediate_dim, activation="softplus")(h1)
mean = Dense(latent_dim)(h2)
log_var = Dense(latent_dim)(h2)
z = Lambda(sampling, output_shape=(latent_dim,))([mean, log_var])
decoder_layers = [
    Dense(intermediate_dim, activation="softplus"),
    Dense(intermediate_dim, activation="softplus"),
    Dense(intermediate_dim, activation="softplus"),
    Dense(original_dim),
]
out = z
for layer in decoder_layers:
    out = layer(out)
vae = Model(x, out)

# The loss: reconstruction (binary crossentropy on logits) plus the KL term, per pixel.
kl = -0.5 * ops.mean(ops.sum(1 + log_var - ops.square(mean) - ops.exp(log_var), axis=1))
vae.add_loss(kl / original_dim)
vae.compile(
    optimizer=lamina.optimizers.Adam(learning_rate=1e-3),
    loss=lamina.losses.BinaryCrossentropy(from_logits=True),
)

print(f"Training the VAE on {len(x_train)} Fashion-MNIST images for {args.epochs} epoch(s).")
verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
vae.fit(x_train, x_train, batch_size=128, epochs=args.epochs, verbose=verbose)
test_loss = vae.evaluate(x_test, x_test, batch_size=128, verbose=0)
print(f"Test loss (reconstruction + KL, per pixel): {test_loss:.4f}")

# The pictures: an encoder and a decoder that share the trained layers.
encoder = Model(x, mean)
latent = Input(shape=(latent_dim,))
decoded = latent
for layer in decoder_layers:
    decoded = layer(decoded)
decoder = Model(latent, decoded)

out_dir = Path(args.out)
out_dir.mkdir(parents=True, exist_ok=True)
plot_latent_space(
    encoder.predict(x_test, verbose=0),
    y_test,
    out_dir / "vae_latent.png",
    class_names=fashion_mnist.CLASS_NAMES,
)
sweep = np.linspace(-2, 2, 15, dtype="float32")
grid = np.stack(np.meshgrid(sweep, sweep[::-1]), axis=-1).reshape(-1, 2)
images = 1 / (1 + np.exp(-decoder.predict(grid, verbose=0)))  # logits -> pixels
plot_image_grid(images, out_dir / "vae_decoded_grid.png", columns=15)
print(f"Saved {out_dir / 'vae_latent.png'} and {out_dir / 'vae_decoded_grid.png'}")
