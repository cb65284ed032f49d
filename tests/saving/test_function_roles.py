"""The user's losses, metrics, activations, regularizers, initializers and constraints are
traced into op graphs on what lamina calls them with, and load in safe mode."""

from __future__ import annotations

import json
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from helpers import save_then_load_in_fresh_processes
from lamina import Input, Model, load_model
from lamina.layers import Dense
from lamina.saving.functions import UnsafeFunctionError

SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, torch
    import lamina
    from lamina import Input, Model, load_model, ops
    from lamina.layers import Activation, Dense

    def scaled_error(y_true, y_pred, scale=1.0):
        return scale * torch.mean(torch.square(y_true - y_pred), dim=-1)

    def worst_error(y_true, y_pred):
        return (y_true - y_pred).abs().amax(dim=-1)

    def soft_clip(x, limit=2.0):
        assert isinstance(x, torch.Tensor), f"got {type(x)}"
        return limit * torch.tanh(x / limit)

    def l1_and_l2(w, eps=torch.finfo(torch.float32).eps):
        return 1e-3 * w.abs().sum() + 1e-3 * torch.sum(w * w) + eps

    def unit_rows(w):
        return w / (w.norm(dim=-1, keepdim=True) + 1e-7)

    def scaled_normal(shape, dtype=None):
        return torch.randn(shape, dtype=dtype) * float(np.sqrt(1.0 / shape[0]))

    def build():
        torch.manual_seed(0)
        x = Input(shape=(4,))
        h = Dense(
            8,
            activation=soft_clip,
            kernel_initializer=scaled_normal,
            kernel_regularizer=l1_and_l2,
            bias_regularizer=l1_and_l2,
            kernel_constraint=unit_rows,
            activity_regularizer=lambda y: 1e-4 * y.square().sum(),
            name="hidden",
        )(x)
        out = Dense(2, name="out")(Activation(lambda v: torch.nn.functional.gelu(v))(h))
        model = Model(x, out)
        model.compile(
            optimizer="adam",
            loss=lamina.losses.LossFunctionWrapper(scaled_error, scale=3.0),
            metrics=[worst_error],
        )
        return model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    w = rng.random(32).astype("float32")
    if sys.argv[1] == "save":
        import warnings
        warnings.simplefilter("error")
        model = build()
        model.fit(x, y, sample_weight=w, epochs=2, batch_size=8, shuffle=False, verbose=0)
        model.save(sys.argv[2])
        torch.manual_seed(1)
        model.fit(x, y, sample_weight=w, epochs=1, batch_size=8, shuffle=False, verbose=0)
        logs = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
        np.savez(sys.argv[3], predictions=model.predict(x, verbose=0), **logs)
    else:
        loaded = load_model(sys.argv[2], safe_mode=True)
        torch.manual_seed(1)
        loaded.fit(x, y, sample_weight=w, epochs=1, batch_size=8, shuffle=False, verbose=0)
        logs = loaded.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
        expected = np.load(sys.argv[3])
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected["predictions"])
        assert sorted(logs) == ["loss", "worst_error"], logs
        for key, value in logs.items():
            assert value == expected[key], (key, value, expected[key])
        hidden = loaded.get_layer("hidden")
        assert hidden.kernel_initializer((4, 8), torch.float32).shape == (4, 8)
        print("ok", sorted(m for m in sys.modules if m.startswith("lamina.saving._")))
    """
)


def test_user_functions_of_every_role_load_safely_in_a_fresh_process(tmp_path: Path) -> None:
    path, stdout = save_then_load_in_fresh_processes(SCRIPT, tmp_path)
    assert "ok []" in stdout
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    kinds = [m.group(1) for m in _KIND.finditer(json.dumps(config))]
    # soft_clip, scaled_normal, l1_and_l2 (twice), unit_rows, the lambdas, the loss, the metric
    assert kinds == ["graph"] * 9, kinds


_KIND = __import__("re").compile(r'"kind": "(\w+)"')


def reads_values(x: Any) -> Any:
    return x * float(x.abs().max().item() > 0)


def loss_reading_values(y_true: Any, y_pred: Any) -> Any:
    return (y_true - y_pred).square().mean(dim=-1) * float(y_pred.sum().item() != 0)


def test_untraceable_activations_and_losses_warn_at_save_and_need_trust(tmp_path: Path) -> None:
    x = Input(shape=(3,))
    model = Model(x, Dense(2, activation=reads_values, name="d")(x))
    model.compile(optimizer="sgd", loss=loss_reading_values)
    with pytest.warns(UserWarning) as caught:
        model.save(tmp_path / "m.lamina")
    messages = "\n".join(str(w.message) for w in caught)
    for name in ("reads_values", "loss_reading_values"):
        assert f"function {name!r} (" in messages
    assert "test_function_roles.py:" in messages and "item" in messages
    with pytest.raises(UnsafeFunctionError, match=r"reads_values.*trusted_modules"):
        load_model(tmp_path / "m.lamina")
    trusted = load_model(tmp_path / "m.lamina", safe_mode=False)
    data = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(trusted.predict(data, verbose=0), model.predict(data, verbose=0))
    target = np.ones((4, 2), np.float32)
    assert trusted.evaluate(data, target, verbose=0) == model.evaluate(data, target, verbose=0)


def test_an_initializer_graph_refuses_another_shape(tmp_path: Path) -> None:
    def halves(shape: Any, dtype: Any = None) -> Any:
        return torch.full(shape, 0.5, dtype=dtype)

    x = Input(shape=(3,))
    model = Model(x, Dense(2, kernel_initializer=halves, name="d")(x))
    model.save(tmp_path / "m.lamina")
    init = load_model(tmp_path / "m.lamina").get_layer("d").kernel_initializer
    assert torch.equal(init((3, 2), torch.float32), torch.full((3, 2), 0.5))
    assert torch.equal(init((3, 2)), torch.full((3, 2), 0.5))
    with pytest.raises(TypeError, match=r"traced with arguments.*shape=\(5, 2\)"):
        init((5, 2), torch.float32)


def sparse_crossentropy(y_true: Any, y_pred: Any) -> Any:
    return torch.nn.functional.cross_entropy(y_pred, y_true.long().reshape(-1), reduction="none")


def hits(y_true: Any, y_pred: Any) -> Any:
    return (y_pred.argmax(-1) == y_true.reshape(-1)).float()


def gap(y_true: Any, y_pred: Any) -> Any:
    return (y_true - y_pred).abs().mean(dim=-1)


def test_losses_are_traced_on_the_targets_of_training_and_per_output(tmp_path: Path) -> None:
    x = Input(shape=(4,))
    model = Model(x, {"label": Dense(3)(x), "value": Dense(2)(x)})
    model.compile(
        optimizer="adam",
        loss={"label": sparse_crossentropy, "value": "mse"},
        metrics={"label": [hits], "value": [gap]},
    )
    rng = np.random.default_rng(0)
    data = rng.normal(size=(16, 4)).astype(np.float32)
    y = {"label": rng.integers(0, 3, (16, 1)), "value": rng.normal(size=(16, 2))}
    model.fit(data, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.lamina")  # warnings are errors: every function is a graph
    loaded = load_model(tmp_path / "m.lamina")
    got = loaded.evaluate(data, y, verbose=0, return_dict=True)
    assert got == model.evaluate(data, y, verbose=0, return_dict=True)
    expected = torch.nn.functional.cross_entropy(
        torch.from_numpy(model.predict(data, verbose=0)["label"]),
        torch.from_numpy(y["label"]).reshape(-1),
    )
    assert got["label_loss"] == pytest.approx(float(expected), rel=1e-6)


def focal_error(y_true: Any, y_pred: Any, gamma: float = 1.0) -> Any:
    error = (y_true - y_pred).abs()
    return (error**gamma * error).mean(dim=-1)


def test_a_partial_loss_is_traced_with_its_bound_keywords(tmp_path: Path) -> None:
    import functools

    x = Input(shape=(3,))
    model = Model(x, Dense(2)(x))
    model.compile(optimizer="sgd", loss=functools.partial(focal_error, gamma=2.0))
    model.save(tmp_path / "m.lamina")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.lamina").read("config.json"))
    assert [m.group(1) for m in _KIND.finditer(json.dumps(config))] == ["partial", "graph"]
    data = np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32)
    target = np.zeros((8, 2), np.float32)
    loaded = load_model(tmp_path / "m.lamina")
    assert loaded.evaluate(data, target, verbose=0) == model.evaluate(data, target, verbose=0)


@pytest.mark.parametrize(
    "positional",
    [["y_true"], ["y_true", "y_pred", "extra"], ["y_true", "y_true"], ["os.system", "y"], "ab"],
)
def test_graphs_with_bad_positional_names_are_refused(positional: Any) -> None:
    from lamina.saving.functions import (
        FunctionDeserializationError,
        Trace,
        deserialize_function,
        serialize_function,
    )

    x = Input(shape=(3,))
    config = serialize_function(gap, trace=Trace([x, x], {}, positional=("y_true", "y_pred")))
    assert config["positional"] == ["y_true", "y_pred"]
    with pytest.raises(FunctionDeserializationError, match="'positional' must name"):
        deserialize_function({**config, "positional": positional})


def scaled_tanh(x: Any) -> Any:
    return torch.tanh(x) * 1.5


def small_squares(w: Any) -> Any:
    return 0.01 * w.square().sum()


def clip_one(w: Any) -> Any:
    return w.clamp(-1.0, 1.0)


def small_normal(shape: Any, dtype: Any = None) -> Any:
    return torch.randn(shape, dtype=dtype) * 0.1


def _recurrent(kind: str) -> Any:
    from lamina.layers import LSTM, Bidirectional, TimeDistributed

    settings = {
        "activation": scaled_tanh,
        "recurrent_activation": scaled_tanh,
        "recurrent_initializer": small_normal,
        "recurrent_regularizer": small_squares,
        "kernel_constraint": clip_one,
    }
    if kind == "lstm":
        return LSTM(4, **settings)
    if kind == "bidirectional":
        return Bidirectional(LSTM(4, return_sequences=True, **settings))
    return TimeDistributed(Dense(2, activation=scaled_tanh, kernel_regularizer=small_squares))


@pytest.mark.parametrize("kind", ["lstm", "bidirectional", "time_distributed"])
def test_settings_of_cells_and_wrapped_layers_are_traced(kind: str, tmp_path: Path) -> None:
    x = Input(shape=(5, 3))
    model = Model(x, _recurrent(kind)(x))
    model.save(tmp_path / "m.lamina")  # warnings are errors: every function is a graph
    config = zipfile.ZipFile(tmp_path / "m.lamina").read("config.json").decode()
    assert {m.group(1) for m in _KIND.finditer(config)} == {"graph"}
    data = np.random.default_rng(2).normal(size=(4, 5, 3)).astype(np.float32)
    loaded = load_model(tmp_path / "m.lamina")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def twice_squared(y_true: Any, y_pred: Any) -> Any:
    return (y_true - y_pred).square().mean(dim=-1) * 2.0


@__import__("lamina").saving.register_serializable(package="test_function_roles")
class _Subclassed(Model):
    def __init__(self, units: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.dense = Dense(units)

    def call(self, x: Any) -> Any:
        return self.dense(x)


def test_a_subclassed_models_loss_is_traced_on_what_training_saw(tmp_path: Path) -> None:
    model = _Subclassed()
    model.compile(optimizer="sgd", loss=twice_squared)
    rng = np.random.default_rng(3)
    data, target = rng.random((8, 3), np.float32), rng.random((8, 2), np.float32)
    model.fit(data, target, epochs=1, verbose=0)
    model.save(tmp_path / "m.lamina")  # warnings are errors: the loss is a graph
    loaded = load_model(tmp_path / "m.lamina")
    assert loaded.evaluate(data, target, verbose=0) == model.evaluate(data, target, verbose=0)


def _scaled_by_width(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x) * x.shape[1]  # reads a size: the graph holds the traced one


def test_an_activation_is_traced_on_what_its_layer_calls_it_with(tmp_path: Path) -> None:
    # An LSTM applies its activation to one step (batch, units), not to the (batch, 5, units)
    # sequence it returns; traced on the latter, this graph would multiply by 5, not 4.
    from lamina.layers import LSTM, Bidirectional

    torch.manual_seed(0)
    x = Input(shape=(5, 3))
    h = LSTM(4, activation=_scaled_by_width, return_sequences=True)(x)
    h = Bidirectional(LSTM(3, activation=_scaled_by_width, return_sequences=True))(h)
    model = Model(x, Dense(6, activation=_scaled_by_width)(h))
    model.save(tmp_path / "m.lamina")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.lamina").read("config.json"))
    assert '"kind": "graph"' in json.dumps(config) and '"kind": "source"' not in json.dumps(config)
    data = np.random.default_rng(0).random((2, 5, 3), dtype=np.float32)
    loaded = load_model(tmp_path / "m.lamina")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
