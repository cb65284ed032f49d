"""Custom train_step / test_step / predict_step, as the keras.io "customizing fit" guide
writes them for the torch backend, and the Keras-variable API of weights."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import lamina
from lamina import layers, metrics
from lamina.utils import pack_x_y_sample_weight, unpack_x_y_sample_weight

rng = np.random.default_rng(0)
X = rng.normal(size=(16, 4)).astype("float32")
Y = rng.normal(size=(16, 1)).astype("float32")


def dense_model(cls: type = lamina.Model) -> lamina.Model:
    inputs = lamina.Input((4,))
    return cls(inputs, layers.Dense(1)(inputs))


class GuideModel(lamina.Model):
    """The guide's first pattern: compute_loss, optimizer.apply, self.metrics."""

    calls = 0

    def train_step(self, data):
        x, y = data
        type(self).calls += 1
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = list(self.trainable_weights)
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_fit_runs_the_models_train_step() -> None:
    model = dense_model(GuideModel)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    before = model.evaluate(X, Y, verbose=0)
    history = model.fit(X, Y, batch_size=4, epochs=2, verbose=0)
    assert GuideModel.calls == 8
    assert sorted(history.history) == ["loss", "mae"]  # the compile_metrics dict, flattened
    assert history.history["loss"][1] < before[0]


def test_own_trackers_and_apply_gradients() -> None:
    class Tracked(lamina.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = metrics.Mean(name="loss")
            self.mae_metric = metrics.MeanAbsoluteError(name="mae")

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = torch.mean((y - y_pred) ** 2)
            loss.backward()
            weights = self.trainable_weights
            self.optimizer.apply_gradients(zip([w.grad for w in weights], weights))
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            self.mae_metric.update_state(y, y_pred)
            return {"mae": self.mae_metric.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    inputs = lamina.Input((4,))
    model = Tracked(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer="adam")  # no loss: the step computes it
    history = model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    assert sorted(history.history) == ["loss", "mae"]
    # Trackers reset each epoch: epoch 2's mean is over epoch 2's two batches only.
    assert model.loss_tracker.count == 2
    logs = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert list(logs) == ["mae"]
    assert model.train_on_batch(X, Y, return_dict=True).keys() == {"loss", "mae"}


def test_super_steps_match_the_default_path() -> None:
    class Passthrough(lamina.Model):
        def train_step(self, data):
            return super().train_step(data)

        def test_step(self, data):
            return super().test_step(data)

    torch.manual_seed(0)
    plain = dense_model()
    custom = dense_model(Passthrough)
    custom.set_weights(plain.get_weights())
    w = rng.random(16).astype("float32")
    results = []
    for model in (plain, custom):
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae"])
        history = model.fit(X, Y, sample_weight=w, batch_size=4, epochs=1, shuffle=False, verbose=0)
        logs = model.evaluate(X, Y, sample_weight=w, verbose=0, return_dict=True)
        results.append((history.history, logs, model.get_weights()[0]))
    (h1, e1, k1), (h2, e2, k2) = results
    assert h1.keys() == h2.keys() and e1.keys() == e2.keys()
    for key in h1:
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-5)
    for key in e1:
        np.testing.assert_allclose(e1[key], e2[key], rtol=1e-5)
    np.testing.assert_allclose(k1, k2, rtol=1e-5)


def test_gan_like_step_with_two_optimizers() -> None:
    class GAN(lamina.Model):
        def __init__(self, discriminator, generator):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.d_loss_tracker = metrics.Mean(name="d_loss")
            self.g_loss_tracker = metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def call(self, x):
            return self.generator(x)

        def train_step(self, real):
            if isinstance(real, tuple):
                real = real[0]
            bce = torch.nn.functional.binary_cross_entropy_with_logits
            noise = torch.randn(real.shape[0], 2)
            fake = self.generator(noise)
            both = torch.cat([fake.detach(), real])
            labels = torch.cat([torch.ones(real.shape[0], 1), torch.zeros(real.shape[0], 1)])
            self.zero_grad()
            d_loss = bce(self.discriminator(both), labels)
            d_loss.backward()
            d_weights = self.discriminator.trainable_weights
            self.d_optimizer.apply([w.grad for w in d_weights], d_weights)
            self.zero_grad()
            g_loss = bce(self.discriminator(self.generator(noise)), torch.zeros(real.shape[0], 1))
            g_loss.backward()
            g_weights = self.generator.trainable_weights
            self.g_optimizer.apply([w.grad for w in g_weights], g_weights)
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    discriminator = lamina.Sequential([lamina.Input((4,)), layers.Dense(1)])
    generator = lamina.Sequential([lamina.Input((2,)), layers.Dense(4)])
    gan = GAN(discriminator, generator)
    gan.compile(lamina.optimizers.Adam(1e-3), lamina.optimizers.Adam(1e-3))
    d_before = discriminator.get_weights()[0].copy()
    g_before = generator.get_weights()[0].copy()
    history = gan.fit(X, batch_size=8, epochs=1, verbose=0)
    assert sorted(history.history) == ["d_loss", "g_loss"]
    assert not np.allclose(discriminator.get_weights()[0], d_before)
    assert not np.allclose(generator.get_weights()[0], g_before)


def test_predict_step_override() -> None:
    class Doubled(lamina.Model):
        def predict_step(self, data):
            x, _, _ = unpack_x_y_sample_weight(data)
            return self(x, training=False) * 2

    model = dense_model(Doubled)
    out = model.predict(X, verbose=0)
    np.testing.assert_allclose(out, 2 * model(torch.as_tensor(X)).detach().numpy(), rtol=1e-6)


def test_a_step_returning_no_dict_says_so() -> None:
    class Bad(lamina.Model):
        def train_step(self, data):
            return 1.0

    model = dense_model(Bad)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="must return a dict"):
        model.fit(X, Y, verbose=0)


def test_pack_and_unpack() -> None:
    x, y, w = np.zeros(2), np.ones(2), np.ones(2)
    assert unpack_x_y_sample_weight(pack_x_y_sample_weight(x))[0] is x
    assert unpack_x_y_sample_weight(pack_x_y_sample_weight(x, y))[1] is y
    assert unpack_x_y_sample_weight(pack_x_y_sample_weight(x, y, w))[2] is w
    packed = pack_x_y_sample_weight([x, y])  # a list x is one element, not (x, y)
    assert isinstance(packed, tuple) and len(packed) == 1
    assert unpack_x_y_sample_weight([x, y])[2] is None


# ---------------------------------------------------------------------------- variables
def test_weights_answer_as_keras_variables() -> None:
    dense = layers.Dense(2, name="dense")
    dense.build((None, 3))
    kernel = dense.kernel
    assert isinstance(kernel, torch.nn.Parameter)
    assert (kernel.path, kernel.name, kernel.trainable) == ("dense/kernel", "kernel", True)
    assert kernel.value is kernel
    kernel.assign(np.ones((3, 2), "float32"))
    kernel.assign_add(torch.ones(3, 2))
    kernel.assign_sub(0.5)
    np.testing.assert_array_equal(kernel.numpy(), np.full((3, 2), 1.5, "float32"))
    assert kernel.requires_grad and kernel.grad is None  # assign stays outside autograd
    kernel.trainable = False
    assert not kernel.requires_grad
    assert all(w is not kernel for w in dense.trainable_weights)


def test_variables_survive_what_torch_does_to_parameters(tmp_path) -> None:
    model = dense_model()
    copied = copy.deepcopy(model)
    assert copied.layers[1].kernel.path == model.layers[1].kernel.path
    model.to(torch.float64)
    assert model.layers[1].kernel.path.endswith("/kernel")
    model.to(torch.float32)
    model.load_state_dict(copied.state_dict())
    torch.save(model, tmp_path / "m.pt")
    again = torch.load(tmp_path / "m.pt", weights_only=False)
    assert again.layers[1].kernel.name == "kernel"
    model.save(tmp_path / "m.lamina")
    loaded = lamina.models.load_model(tmp_path / "m.lamina")
    assert loaded.layers[1].kernel.name == "kernel"
    compiled = torch.compile(model, backend="eager")  # dynamo traces; no C++ build
    np.testing.assert_allclose(
        compiled(torch.as_tensor(X)).detach().numpy(), model.predict(X, verbose=0), rtol=1e-5
    )


def test_super_train_step_keeps_graph_losses() -> None:
    class Passthrough(lamina.Model):
        def train_step(self, data):
            return super().train_step(data)

    histories = []
    for cls in (lamina.Model, Passthrough):
        torch.manual_seed(0)
        inputs = lamina.Input((4,))
        hidden = layers.Dense(1)(inputs)
        model = cls(inputs, hidden)
        model.add_loss(lamina.ops.mean(hidden**2))
        model.compile(optimizer="sgd", loss="mse")
        histories.append(model.fit(X, Y, batch_size=8, shuffle=False, verbose=0).history)
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-5)
