"""Plain torch modules as layers: `TorchModuleWrapper`, in Sequential and functional models,
and wrapped by themselves when called on symbolic tensors (core/module_calls.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lamina
from lamina import Input, Model, Sequential
from lamina.layers import Dense, TorchModuleWrapper


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


def test_load_model_puts_weights_on_the_given_device(tmp_path):
    model = Sequential([Input(shape=(2,)), nn.Linear(2, 1)])
    model.save(tmp_path / "m.lamina")
    for keyword in ("device", "map_location"):
        loaded = lamina.models.load_model(tmp_path / "m.lamina", **{keyword: torch.device("cpu")})
        assert {w.device.type for w in loaded.weights} == {"cpu"}
        out = loaded.predict(np.ones((3, 2), np.float32), verbose=0)
        assert isinstance(out, np.ndarray)


# ------------------------------------------------------------------ wrapped when called
class Block(nn.Module):
    """A user module whose forward calls its submodules, with a tensor and a constant keyword."""

    def __init__(self, features: int, hidden: int = 8) -> None:
        super().__init__()
        self.features, self.hidden = features, hidden
        self.inner = nn.Linear(features, hidden)
        self.outer = nn.Linear(hidden, features)

    def forward(self, x, mask=None, scale=1.0):
        y = self.outer(torch.relu(self.inner(x))) * scale
        return y if mask is None else y * mask


def _fit_once(model, x, y):
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, batch_size=len(x), verbose=0)


def test_a_torch_module_called_on_a_symbolic_tensor_is_a_trained_layer():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3)
    inputs = Input(shape=(3, 8, 8))
    outputs = conv(inputs)
    assert outputs.shape == (None, 4, 6, 6)
    layer = outputs.node.layer
    assert isinstance(layer, TorchModuleWrapper) and layer.module is conv
    model = Model(inputs, Dense(2)(nn.Flatten()(outputs)))
    assert not conv.weight.is_meta and type(conv.weight) is nn.Parameter
    x = np.random.rand(4, 3, 8, 8).astype("float32")
    reference = conv(torch.from_numpy(x)).detach()
    np.testing.assert_allclose(
        model.layers[1](torch.from_numpy(x)).detach(), reference, rtol=1e-6, atol=1e-6
    )
    before = conv.weight.detach().clone()
    _fit_once(model, x, np.random.rand(4, 2).astype("float32"))
    assert not torch.equal(before, conv.weight)


def test_a_module_called_twice_is_one_shared_layer():
    linear = nn.Linear(4, 4)
    a, b = Input(shape=(4,)), Input(shape=(4,))
    ya, yb = linear(a), linear(b)
    assert ya.node.layer is yb.node.layer
    model = Model([a, b], [ya, yb])
    assert sum(isinstance(layer, TorchModuleWrapper) for layer in model.layers) == 1
    assert model.count_params() == 20
    sequential = Sequential([Input(shape=(4,)), linear])
    assert sequential.layers[0] is ya.node.layer


def test_lstm_outputs_keep_their_structure():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, batch_first=True)
    inputs = Input(shape=(5, 3))
    output, (h, c) = lstm(inputs)
    assert (output.shape, h.shape, c.shape) == ((None, 5, 4), (1, None, 4), (1, None, 4))
    model = Model(inputs, Dense(1)(output[:, -1]))
    x = np.random.rand(2, 5, 3).astype("float32")
    expected, _ = lstm(torch.from_numpy(x))
    head = model.layers[-1]
    np.testing.assert_allclose(
        model.predict(x, verbose=0),
        head(expected[:, -1]).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_several_inputs_and_keyword_arguments_are_recorded():
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(4, 2, batch_first=True)
    q, k = Input(shape=(5, 4)), Input(shape=(6, 4))
    out, weights = attention(q, k, k, need_weights=True)
    assert (out.shape, weights.shape) == ((None, 5, 4), (None, 5, 6))
    block = Block(4)
    mask = Input(shape=(5, 4))
    y = block(out, mask=mask, scale=2.0)
    assert y.node.kwargs == {"unpack": True, "keywords": ["mask"], "scale": 2.0}
    model = Model([q, k, mask], [y, weights])
    xq, xk = torch.rand(2, 5, 4), torch.rand(2, 6, 4)
    xm = (torch.rand(2, 5, 4) > 0.5).float()
    got_y, got_w = model.predict([xq.numpy(), xk.numpy(), xm.numpy()], verbose=0)
    ref_out, ref_w = attention(xq, xk, xk, need_weights=True)
    np.testing.assert_allclose(got_w, ref_w.detach(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        got_y, block(ref_out, mask=xm, scale=2.0).detach(), rtol=1e-5, atol=1e-6
    )
    names = {n for n, _ in model.named_parameters()}
    assert any("inner.weight" in n for n in names) and any("in_proj_weight" in n for n in names)


def test_a_constant_positional_argument_is_recorded_by_name():
    lstm = nn.LSTM(3, 4)
    output, _ = lstm(Input(shape=(5, 3)), None)
    assert output.node.kwargs == {"hx": None}


def test_parameters_stay_real_when_the_module_fails():
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 4)

        def forward(self, x):
            return self.linear(x).reshape(3, 7)  # never valid

    broken = Broken()
    with pytest.raises(Exception, match=r"TorchModuleWrapper 'broken(_\d+)?'"):
        broken(Input(shape=(4,)))
    assert not broken.linear.weight.is_meta and type(broken.linear.weight) is nn.Parameter

    class FailsThirdTime(nn.Module):  # shape inference runs it twice, then forward runs
        def __init__(self) -> None:
            super().__init__()
            self.linear, self.calls = nn.Linear(4, 4), 0

        def forward(self, x):
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("third call")
            return self.linear(x)

    module = FailsThirdTime()
    with pytest.raises(RuntimeError, match="third call"):
        module(Input(shape=(4,)))
    assert not module.linear.weight.is_meta and type(module.linear.weight) is nn.Parameter
    assert not module.linear.bias.is_meta
    from lamina.core import module_calls

    assert module_calls._stack.items == []


def test_a_module_that_runs_only_on_real_tensors_is_wrapped_without_drawing_numbers():
    class DataDependent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 4)

        def forward(self, x):
            y = self.linear(x)
            return y if bool(y.sum() > -1e9) else -y  # a data-dependent branch: no meta

    module = DataDependent()
    state = torch.random.get_rng_state()
    y = module(Input(shape=(4,)))
    assert y.shape == (None, 4) and y.node.layer.ran_on_meta is False
    assert torch.equal(state, torch.random.get_rng_state())
    assert not module.linear.weight.is_meta


def test_the_hooks_are_installed_only_while_a_model_is_defined():
    from lamina.core import calls, module_calls

    x = Input(shape=(4,))
    assert module_calls.installed() == 2
    assert not calls.global_hooks_active()  # lamina's layers keep their fast path
    y = Dense(2)(x)
    Model(x, y)
    assert module_calls.installed() == 0
    h = Dense(2)(y)  # a layer call on older tensors installs them again
    assert module_calls.installed() == 2
    nn.Linear(2, 2)(h)
    model = Model(x, h)
    model.compile(optimizer="sgd", loss="mse")
    assert module_calls.installed() == 0


def test_a_module_on_a_tensor_older_than_the_last_model_says_how_to_wrap():
    x = Input(shape=(4,))
    Model(x, x * 2)
    with pytest.raises(TypeError, match="TorchModuleWrapper"):
        nn.Linear(4, 2)(x)
    assert TorchModuleWrapper(nn.Linear(4, 2))(x).shape == (None, 2)


def test_torch_functions_on_symbolic_tensors_say_to_use_lambda():
    with pytest.raises(TypeError, match="Lambda"):
        torch.relu(Input(shape=(3,)))


def test_the_module_mode_follows_fit_and_predict():
    torch.manual_seed(0)
    norm = nn.BatchNorm1d(4)
    inputs = Input(shape=(4,))
    model = Model(inputs, Dense(1)(nn.Dropout(0.5)(norm(inputs))))
    x = np.random.rand(32, 4).astype("float32") * 5 + 3
    before = norm.running_mean.clone()
    _fit_once(model, x, np.random.rand(32, 1).astype("float32"))
    assert not torch.equal(before, norm.running_mean)  # fit ran it in train mode
    after = norm.running_mean.clone()
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))
    model(torch.from_numpy(x))  # like lamina's layers: inference unless told otherwise
    assert torch.equal(after, norm.running_mean) and not norm.training


def test_a_symbolic_tensor_given_only_by_keyword_is_recorded():
    block = Block(4)
    inputs = Input(shape=(4,))
    y = block(x=inputs, scale=0.5)
    assert y.node.kwargs == {"unpack": True, "keywords": ["x"], "scale": 0.5}
    model = Model(inputs, y)
    x = torch.rand(2, 4)
    np.testing.assert_allclose(
        model.predict(x.numpy(), verbose=0), block(x, scale=0.5).detach(), rtol=1e-6
    )
