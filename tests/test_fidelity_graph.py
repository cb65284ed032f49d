"""Issue 10, the graph and layer half: lamina against what Keras 3 did
(tests/fixtures/keras/graph.json, written by scripts/keras_fixtures_graph.py)."""

from __future__ import annotations

import collections
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model, Sequential, ops
from lamina.layers import (
    Concatenate,
    Dense,
    Dropout,
    InputLayer,
    InputSpec,
    Lambda,
    Layer,
    RepeatVector,
    Reshape,
    Subtract,
)

KERAS = json.loads((Path(__file__).parent / "fixtures/keras/graph.json").read_text("utf-8"))
X = np.array(KERAS["x"])  # float64, as Keras was given it


def dense(**kwargs: Any) -> Dense:
    layer = Dense(2, **kwargs)
    layer.build((None, 3))
    layer.set_weights([np.array(KERAS["kernel"]), np.array(KERAS["bias"])])
    return layer


def shape_list(shape: Any) -> list[Any]:
    return list(shape)


# ------------------------------------------------------------------ numpy inputs
def test_numpy_into_a_layer_and_a_float32_model_is_cast() -> None:
    eager = dense()(X)
    assert str(eager.dtype).removeprefix("torch.") == KERAS["eager_numpy"]["dtype"]
    np.testing.assert_allclose(eager.detach().numpy(), KERAS["eager_numpy"]["value"], rtol=1e-6)
    x = Input((3,))
    out = Model(x, dense()(x))(X)
    assert str(out.dtype).removeprefix("torch.") == KERAS["model_numpy"]["dtype"]
    np.testing.assert_allclose(out.detach().numpy(), KERAS["model_numpy"]["value"], rtol=1e-6)


# ------------------------------------------------------------------ dtypes and policies
@pytest.mark.parametrize("policy", sorted(KERAS["policies"]))
def test_dtype_policies(policy: str) -> None:
    want = KERAS["policies"][policy]
    layer = dense(dtype=policy)
    assert layer.compute_dtype == want["compute_dtype"]
    assert layer.variable_dtype == want["variable_dtype"]
    assert layer.dtype == want["dtype"]
    assert layer.dtype_policy.name == want["policy_name"]
    out = layer(torch.as_tensor(X, dtype=torch.float32))
    assert str(out.dtype).removeprefix("torch.") == want["output_dtype"]
    weights = layer.get_weights()
    # numpy has no bfloat16: lamina returns exact float32 copies where Keras returns
    # ml_dtypes' bfloat16 arrays (README).
    expected_dtype = "float32" if want["weights_dtype"] == "bfloat16" else want["weights_dtype"]
    assert str(weights[0].dtype) == expected_dtype
    for got, expected in zip(weights, want["weights"]):
        np.testing.assert_array_equal(got.astype("float32"), np.array(expected, "float32"))
    assert Dense.from_config(layer.get_config()).dtype_policy.name == policy


@pytest.mark.parametrize("policy", ["float16", "mixed_bfloat16"])
def test_a_layer_with_a_policy_in_a_model_computes_in_its_dtype(policy: str) -> None:
    compute = getattr(torch, KERAS["policies"][policy]["compute_dtype"])
    x = Input((3,))
    y = dense(dtype=policy)(x)
    assert y.dtype == compute
    assert Model(x, y)(X).dtype == compute


def test_a_subclassed_model_takes_numpy() -> None:
    out = _Sub()(X)
    assert out.dtype == torch.float32 and out.shape == (1, 2)


# ------------------------------------------------------------------ structures
def test_tuple_into_a_merging_layer_and_dict_inputs_by_key() -> None:
    a, b = Input((3,), name="a"), Input((3,), name="b")
    model = Model({"x": a, "y": b}, Subtract()((a, b)))
    out = model({"y": np.zeros((1, 3)), "x": np.ones((1, 3))})
    np.testing.assert_array_equal(out.numpy(), KERAS["dict_by_key"])


def test_tuple_and_namedtuple_outputs_come_back_as_such() -> None:
    a, b = Input((3,)), Input((3,))
    pair = Model([a, b], (a, b))([torch.ones(1, 3), torch.ones(1, 3)])
    assert type(pair).__name__ == KERAS["tuple_output_type"]
    point = collections.namedtuple("Point", "u v")
    result = Model(a, point(Dense(2)(a), Dense(3)(a)))(torch.ones(1, 3))
    assert [type(result).__name__, list(result._fields)] == KERAS["namedtuple_output"]


def test_a_model_from_an_intermediate_tensor_starts_with_an_input_layer() -> None:
    x = Input((3,))
    h = Dense(4, name="h")(x)
    model = Model(h, Dense(2, name="o")(h))
    assert [type(layer).__name__ for layer in model.layers] == KERAS["intermediate_layers"]
    assert len(model.weights) == KERAS["intermediate_weights"]


# ------------------------------------------------------------------ configs and Sequential
class _Sub(Model):
    def __init__(self, units: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.d = Dense(units)

    def call(self, x: Any) -> Any:
        return self.d(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


def test_a_subclass_get_config_may_call_super() -> None:
    config = _Sub(name="sub").get_config()
    # Keras always writes 'dtype'; lamina only when it is not the default.
    assert set(config) | {"dtype"} == set(KERAS["subclass_config_keys"])
    assert _Sub.from_config(config).units == 2


@lamina.saving.register_serializable(package="fidelity_graph")
class _Scale(Layer):
    def __init__(self, k: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.k = k

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.k

    def get_config(self) -> dict[str, Any]:
        return {"k": self.k}  # no 'name': Keras allows it


def test_a_config_without_name_loads(tmp_path: Path) -> None:
    x = Input((3,))
    model = Model(x, _Scale(3.0)(x))
    model.save(tmp_path / "m.lamina")
    loaded = lamina.saving.load_model(tmp_path / "m.lamina")
    assert torch.equal(loaded(torch.ones(1, 3)), torch.full((1, 3), 3.0))


def test_sequential_config_round_trip_built_and_unique_names() -> None:
    model = Sequential([Input((3,)), Dense(2)])
    again = Sequential.from_config(model.get_config())
    assert again(torch.ones(1, 3)).shape == (1, 2)
    built = [model.built, Sequential([Dense(2)]).built]
    assert built == KERAS["sequential_built"]
    assert Sequential([Dense(2, input_shape=(3,))]).built
    stack = Sequential()
    stack.add(Dense(2, name="d"))
    keras_sentence = KERAS["sequential_duplicate"][1].split(".")[0]
    with pytest.raises(ValueError, match="(?i)" + keras_sentence):
        stack.add(Dense(2, name="d"))


# ------------------------------------------------------------------ building
def test_build_by_hand_keeps_set_weights() -> None:
    layer = Dense(2)
    layer.build((None, 3))
    assert layer.built == KERAS["build_by_hand_built"]
    layer.set_weights([np.ones((3, 2)), np.zeros(2)])
    assert torch.equal(layer(torch.ones(1, 3)), torch.full((1, 2), 3.0))


def test_a_subclass_built_by_predict_can_load_weights(tmp_path: Path) -> None:
    model = _Sub()
    model.predict(np.ones((2, 3)), verbose=0)
    assert not model.d.kernel.is_inference()
    model.set_weights(model.get_weights())
    model.save_weights(tmp_path / "w.safetensors")
    model.load_weights(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="has not been built"):
        _Sub().save_weights(tmp_path / "empty.safetensors")


# ------------------------------------------------------------------ shapes
def test_reshape_lambda_input_and_compute_output_shape() -> None:
    assert shape_list(Reshape((3, 5))(Input((None, 5))).shape) == KERAS["reshape_unknown"]
    fixed = Input((4,), batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = Lambda(lambda t: t * 2, output_shape=lambda s: s)(fixed)
    assert shape_list(out.shape) == KERAS["lambda_fixed_batch"]
    assert shape_list(Input(batch_shape=(4, 3)).shape) == KERAS["input_batch_shape"]
    assert shape_list(Input(shape=(np.int64(3),)).shape) == KERAS["input_numpy_int"]
    want = KERAS["compute_output_shape"]
    assert shape_list(Dense(4).compute_output_shape((None, 3))) == want["dense"]
    concat = Concatenate().compute_output_shape([(None, 2), (None, 3)])
    assert shape_list(concat) == want["concatenate"]
    x = Input((3,))
    model = Model(x, [Dense(2)(x), Dense(5)(x)])
    assert [shape_list(s) for s in model.compute_output_shape((None, 3))] == want["model"]


def test_optional_input_takes_none() -> None:
    a, b = Input((3,)), Input((3,), optional=True)
    model = Model([a, b], Lambda(lambda t: t[0] if t[1] is None else t[0] + t[1])([a, b]))
    assert torch.equal(model([torch.ones(1, 3), None]), torch.ones(1, 3))


# ------------------------------------------------------------------ argument checks
@pytest.mark.parametrize(
    ("key", "make"),
    [
        ("repeat_vector_float", lambda: RepeatVector(3.5)),  # type: ignore[arg-type]
        ("repeat_vector_zero", lambda: RepeatVector(0)),
        ("repeat_vector_negative", lambda: RepeatVector(-1)),
        ("input_layer_both", lambda: InputLayer(shape=(3,), batch_shape=(None, 3))),
        ("dropout_noise_shape", lambda: Dropout(0.5, noise_shape=3)),  # type: ignore[arg-type]
    ],
)
def test_argument_checks_raise_as_keras(key: str, make: Any) -> None:
    kind = {"TypeError": TypeError, "ValueError": ValueError}[KERAS["errors"][key][0]]
    with pytest.raises(kind):
        make()


class _Checked(Layer):
    def __init__(self) -> None:
        super().__init__(name="checked")
        self.input_spec = InputSpec(ndim=2, axes={-1: 3})

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.mark.parametrize(("key", "shape"), [("axis", (1, 4)), ("ndim", (1, 4, 3))])
def test_input_spec_errors_are_keras_s(key: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError) as caught:
        _Checked()(np.ones(shape))
    assert str(caught.value) == KERAS["input_spec"][key][1]
    x = Input(shape[1:])
    with pytest.raises(ValueError, match="is incompatible with the layer"):
        _Checked()(x)


# ------------------------------------------------------------------ weights files
def test_load_weights_casts_and_skips_mismatches(tmp_path: Path) -> None:
    x = Input((3,))
    source = Model(x, Dense(2, name="a")(Dense(4, name="b")(x)))
    source.save_weights(tmp_path / "w.safetensors")
    x64 = Input((3,), dtype="float64")
    wide = Model(x64, Dense(2, name="a", dtype="float64")(Dense(4, name="b", dtype="float64")(x64)))
    wide.load_weights(tmp_path / "w.safetensors")
    assert torch.equal(wide.get_layer("a").kernel.float(), source.get_layer("a").kernel)
    x = Input((3,))
    other = Model(x, Dense(2, name="a")(Dense(5, name="b")(x)))
    before = other.get_layer("b").kernel.detach().clone()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        other.load_weights(tmp_path / "w.safetensors", skip_mismatch=True)
    assert [str(w.message).split(":")[1] for w in caught] == [
        " skipping layer 'b' weight 'kernel'",
        " skipping layer 'b' weight 'bias'",
        " skipping layer 'a' weight 'kernel'",
    ]
    assert torch.equal(other.get_layer("b").kernel, before)


# ------------------------------------------------------------------ random on symbolic shapes
def test_random_normal_on_a_symbolic_shape_records_an_operation(tmp_path: Path) -> None:
    # Keras 3 on torch raises here (the fixture records its TypeError); lamina records a draw.
    assert KERAS["random_on_symbolic_shape"][0] == "TypeError"
    x = Input((3,))
    mean = Dense(2)(x)
    model = Model(x, mean + ops.random.normal(ops.shape(mean)))
    assert model(torch.zeros(4, 3)).shape == (4, 2)
    model.save(tmp_path / "m.lamina")
    assert lamina.saving.load_model(tmp_path / "m.lamina")(torch.zeros(5, 3)).shape == (5, 2)
