"""Plain torch modules as layers: `TorchModuleWrapper`, in Sequential and functional models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lamina
from lamina import Input, Model, Sequential
from lamina.layers import Dense, Lambda, TorchModuleWrapper


def test_sequential_wraps_torch_modules_and_trains_them(tmp_path):
    torch.manual_seed(0)
    model = Sequential(
        [Input(shape=(3, 8, 8)), nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), Dense(2)]
    )
    conv = model.layers[0]
    assert isinstance(conv, TorchModuleWrapper)
    assert model.output_shape == (None, 2)
    assert any(p is conv.module.weight for p in model.trainable_weights)
    before = conv.module.weight.detach().clone()
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.random.rand(8, 3, 8, 8).astype("float32"), np.random.rand(8, 2).astype("float32")
    model.fit(x, y, epochs=1, verbose=0)
    assert not torch.equal(before, conv.module.weight)
    path = tmp_path / "conv.lamina"
    model.save(path)
    loaded = lamina.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_wrapped_lstm_saves_and_loads(tmp_path):
    inputs = Input(shape=(5, 3))
    outputs, _ = TorchModuleWrapper(nn.LSTM(3, 4, batch_first=True))(inputs)
    model = Model(inputs, Dense(1)(outputs[:, -1]))
    x = np.random.rand(2, 5, 3).astype("float32")
    model.save(tmp_path / "lstm.lamina")
    loaded = lamina.models.load_model(tmp_path / "lstm.lamina")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_user_module_class_is_refused_at_save_unless_registered(tmp_path):
    class Twice(nn.Module):
        def forward(self, x):
            return 2 * x

    model = Sequential([Input(shape=(2,)), Twice()])
    assert "Twice" in repr(model.layers[0])
    with pytest.raises(Exception, match="register_serializable"):
        model.save(tmp_path / "twice.lamina")


def test_torch_module_called_on_symbolic_tensor_says_how_to_wrap():
    with pytest.raises(Exception, match="TorchModuleWrapper"):
        nn.Linear(4, 2)(Input(shape=(4,)))


def test_lambda_tracks_a_module_passed_through_arguments():
    linear = nn.Linear(2, 2)
    layer = Lambda(lambda x, m: m(x), arguments={"m": linear})
    assert any(p is linear.weight for p in layer.parameters())


def test_lstm_called_on_symbolic_tensor_says_how_to_wrap():
    with pytest.raises(TypeError, match="TorchModuleWrapper"):
        nn.LSTM(3, 4)(Input(shape=(5, 3)))


def test_load_model_puts_weights_on_the_given_device(tmp_path):
    model = Sequential([Input(shape=(2,)), nn.Linear(2, 1)])
    model.save(tmp_path / "m.lamina")
    for keyword in ("device", "map_location"):
        loaded = lamina.models.load_model(tmp_path / "m.lamina", **{keyword: torch.device("cpu")})
        assert {w.device.type for w in loaded.weights} == {"cpu"}
        out = loaded.predict(np.ones((3, 2), np.float32), verbose=0)
        assert isinstance(out, np.ndarray)
