from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

import lamina
from keras_cases import case_id, keras_cases
from lamina import Input, Model, activations
from lamina.layers import Activation

CASES = keras_cases("activations")


def sparsemax_reference(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Martins & Astudillo (2016), Algorithm 1, one slice at a time."""
    moved = np.moveaxis(x, axis, -1)
    out = np.empty_like(moved)
    for index in np.ndindex(moved.shape[:-1]):
        z = np.sort(moved[index])[::-1]
        k = np.arange(1, z.size + 1)
        support = k[1 + k * z > np.cumsum(z)].max()
        tau = (z[:support].sum() - 1) / support
        out[index] = np.maximum(moved[index] - tau, 0)
    return np.moveaxis(out, -1, axis)


def expected(case) -> np.ndarray:
    # Keras 3.15's sparsemax sums every cumulative sum in the support instead of taking the
    # k-th, so its outputs do not sum to 1 (keras-team/keras#23425, fixed by #23469 after
    # 3.15.1): lamina follows the definition, checked against NumPy here.
    if case.spec["function"] == "sparsemax":
        return sparsemax_reference(case.input, **case.args)
    return case.output


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_keras(case) -> None:
    fn = activations.get(case.spec["function"])
    got = fn(torch.from_numpy(case.input), **case.args)
    np.testing.assert_allclose(got.numpy(), expected(case), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_symbolic_matches_keras(case) -> None:
    inputs = Input(shape=case.input.shape[1:], batch_size=case.input.shape[0])
    outputs = activations.get(case.spec["function"])(inputs, **case.args)
    model = Model(inputs, outputs)
    got = model(torch.from_numpy(case.input))
    np.testing.assert_allclose(got.detach().numpy(), expected(case), atol=1e-5, rtol=1e-5)


def test_every_keras_activation_is_known_by_name() -> None:
    keras_names = {c.spec["function"] for c in CASES}
    assert keras_names <= set(activations.BY_NAME)


@pytest.mark.parametrize("name", sorted(activations.BY_NAME))
def test_get_serialize_round_trip_with_keras_names(name: str) -> None:
    fn = activations.get(name)
    keras_name = {c.spec["function"]: c.spec["serialized"] for c in CASES}.get(name, name)
    assert activations.serialize(fn) == keras_name
    assert activations.get(activations.serialize(fn)) is fn
    config = {"module": "keras.activations", "class_name": "function", "config": name}
    assert activations.get(config) is fn


def test_aliases_serialize_as_keras_does() -> None:
    assert activations.swish is activations.silu
    assert activations.hard_swish is activations.hard_silu
    assert activations.serialize(activations.get("swish")) == "silu"
    assert activations.serialize(activations.get("hard_swish")) == "hard_silu"


def test_symbolic_activations_save_and_load_with_their_arguments() -> None:
    inputs = Input(shape=(6,))
    x = activations.relu(inputs, negative_slope=0.1, max_value=2.0, threshold=0.5)
    x = activations.sparsemax(activations.squareplus(x, b=1.0))
    model = Model(inputs, activations.glu(x))
    names = [layer.name.rsplit("_", 1)[0] for layer in model.layers]
    assert names[1:] == ["relu", "squareplus", "sparsemax", "glu"]
    data = torch.randn(3, 6)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.lamina")
        model.save(path)
        loaded = lamina.load_model(path)
    torch.testing.assert_close(loaded(data), model(data))


def test_sparsemax_is_a_sparse_distribution() -> None:
    x = torch.tensor([[3.0, 1.0, -2.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    y = activations.sparsemax(x)
    torch.testing.assert_close(y.sum(-1), torch.ones(2))
    assert (y[0] == 0).sum() >= 2 and torch.allclose(y[1], torch.full((4,), 0.25))


def test_activation_layer_takes_every_name() -> None:
    x = torch.linspace(-3, 3, 8).reshape(2, 4)
    for name in activations.BY_NAME:
        if name == "threshold":
            continue  # no defaults for its arguments, as in Keras
        torch.testing.assert_close(Activation(name)(x), activations.get(name)(x))


def test_bad_arguments_say_what_was_received() -> None:
    with pytest.raises(ValueError, match=r"glu: axis -1 must have an even size.*\(2, 3\)"):
        activations.glu(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"squareplus: expected b >= 0, received -1"):
        activations.squareplus(torch.ones(2), b=-1)
    with pytest.raises(ValueError, match=r"Unknown activation config"):
        activations.get({"class_name": "function", "config": "nope"})


def test_deserialize_takes_custom_objects() -> None:
    def scaled(x):
        return 2 * x

    assert activations.deserialize("scaled", custom_objects={"scaled": scaled}) is scaled
    assert activations.deserialize({"config": "scaled"}, {"scaled": scaled}) is scaled
