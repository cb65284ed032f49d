"""The seed's variational autoencoder, trained on Fashion-MNIST.

Run it as ``python examples/vae.py --epochs 10 --out vae_output``. It trains on the full
Fashion-MNIST when found on disk (``/usr/share/datasets/fashion-mnist``, ``$LAMINA_DATA``, the
user cache, or with ``--download``), else on the 2,000-image subset shipped with lamina
(``--subset`` forces it), prints the test loss, and saves two pictures: the test set in the
2-D latent space coloured by class, and a grid of images decoded from the latent plane.

The model, as in the seed (see ``lamina.cli.demo_vae.build_vae``)::

    def sampling(agrs):
        mean, logvar = agrs[0], agrs[1]
        eps = torch.randn_like(mean)
        return mean + eps * torch.exp(logvar * 0.5)

    x = Input(shape=(784,))
    h2 = Dense(200, activation='softplus')(Dense(200, activation='softplus')(x))
    mean, log_var = Dense(2)(h2), Dense(2)(h2)
    z = Lambda(sampling, output_shape=(2,))([mean, log_var])
    out = Dense(784)(Dense(200, activation='softplus')(
        Dense(200, activation='softplus')(Dense(200, activation='softplus')(z))))
    model = Model(x, out)
    model.add_loss(-0.5 * ops.mean(ops.sum(1 + log_var - ops.square(mean)
                                           - ops.exp(log_var), axis=1)) / 784)
    model.compile(optimizer=lamina.optimizers.Adam(learning_rate=1e-3),
                  loss=lamina.losses.BinaryCrossentropy(from_logits=True))
"""

from __future__ import annotations

from lamina.cli.demo_vae import main

if __name__ == "__main__":
    main()
