from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import check_layer
from keras_cases import case_id, config_keys, keras_cases
from lamina import Input
from lamina.core.layer import LayerError
from lamina.layers import ELU, LeakyReLU, PReLU, ReLU, Softmax

CASES = keras_cases("activation_layers")
CLASSES = {"ELU": ELU, "LeakyReLU": LeakyReLU, "PReLU": PReLU, "ReLU": ReLU, "Softmax": Softmax}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_keras(case) -> None:
    layer = CLASSES[case.spec["layer"]](**case.args)
    layer(Input(shape=case.input.shape[1:]))
    if case.weights:
        layer.set_weights(case.weights)
    call = {k: torch.tensor(v) for k, v in case.call.items()}
    got = layer(torch.from_numpy(case.input), **call)
    np.testing.assert_allclose(got.detach().numpy(), case.output, atol=1e-5, rtol=1e-5)
    assert set(layer.get_config()) - {"name", "trainable"} == config_keys(case)


def relu_reference(x, max_value=None, negative_slope=0.0, threshold=0.0):
    out = np.where(x >= threshold, x, negative_slope * (x - threshold))
    return out if max_value is None else np.minimum(out, max_value)


@pytest.mark.parametrize(
    "args", [{}, {"max_value": 1.0}, {"negative_slope": 0.1, "threshold": 0.5}]
)
def test_relu_layer(args) -> None:
    check_layer(lambda: ReLU(**args), (4,), lambda x, layer: relu_reference(x, **args))


def test_leaky_relu_and_elu_layers() -> None:
    check_layer(lambda: LeakyReLU(), (4,), lambda x, layer: np.where(x > 0, x, 0.3 * x))
    check_layer(
        lambda: ELU(alpha=0.5), (4,), lambda x, layer: np.where(x > 0, x, 0.5 * np.expm1(x))
    )


@pytest.mark.parametrize("shared_axes", [None, [1], [1, 2]])
def test_prelu_layer(shared_axes) -> None:
    def reference(x, layer):
        (alpha,) = layer.get_weights()
        return np.where(x >= 0, x, alpha * x)

    layer = check_layer(
        lambda: PReLU(alpha_initializer="glorot_uniform", shared_axes=shared_axes),
        (3, 4),
        reference,
    )
    sizes = {None: (3, 4), (1,): (1, 4), (1, 2): (1, 1)}[shared_axes and tuple(shared_axes)]
    assert [name for name, _ in layer.named_parameters()] == ["alpha"]
    assert tuple(layer.alpha.shape) == sizes


def test_prelu_starts_as_relu_and_rejects_bad_axes() -> None:
    torch.testing.assert_close(PReLU()(torch.tensor([[-2.0, 3.0]])), torch.tensor([[0.0, 3.0]]))
    with pytest.raises(LayerError, match=r"PReLU 'p'.*shared_axes=\[3\].*rank - 1 = 2"):
        PReLU(shared_axes=[3], name="p")(Input(shape=(3, 4)))
    with pytest.raises(
        LayerError,
        match=r"PReLU .q.: input shape \(None, None, 4\) has axes of unknown size.*shared_axes",
    ):
        PReLU(name="q")(Input(shape=(None, 4)))
    layer = PReLU(name="r")
    layer(Input(shape=(3, 4)))
    with pytest.raises(LayerError, match=r"PReLU 'r': expected input shape \(None, 3, 4\)"):
        layer(Input(shape=(3, 5)))


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_softmax_layer(axis) -> None:
    def reference(x, layer):
        dims = tuple(axis) if isinstance(axis, list) else axis
        e = np.exp(x - x.max(axis=dims, keepdims=True))
        return e / e.sum(axis=dims, keepdims=True)

    check_layer(lambda: Softmax(axis=axis), (3, 4), reference)


def test_softmax_mask_gives_zero_probability() -> None:
    x = torch.randn(2, 4)
    mask = torch.tensor([[True, False, True, False], [False] * 4])
    y = Softmax()(x, mask=mask)
    torch.testing.assert_close(y[0, [0, 2]], torch.softmax(x[0, [0, 2]], -1))
    assert (y[0, [1, 3]] == 0).all() and (y[1] == 0).all()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ReLU(max_value=-1), r"ReLU: expected a number >= 0 or None for max_value, "),
        (lambda: ReLU(negative_slope=-0.1), r"ReLU: expected a number >= 0 for negative_slope"),
        (lambda: ReLU(threshold=None), r"ReLU: expected a number >= 0 for threshold, .*None"),
        (lambda: LeakyReLU(negative_slope=-1), r"LeakyReLU: .*negative_slope, received -1"),
    ],
)
def test_bad_arguments(make, message) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_prelu_alpha_regularizer_and_constraint() -> None:
    def reference(x, layer):
        (alpha,) = layer.get_weights()
        return np.where(x >= 0, x, alpha * x)

    layer = check_layer(
        lambda: PReLU(alpha_initializer="ones", alpha_regularizer="l2", alpha_constraint="non_neg"),
        (3,),
        reference,
    )
    config = layer.get_config()
    assert config["alpha_regularizer"]["class_name"] == "L2"
    assert config["alpha_constraint"]["class_name"] == "NonNeg"
    assert layer.alpha.regularizer is layer.alpha_regularizer
    assert layer.alpha.constraint is layer.alpha_constraint


def test_softmax_symbolic_mask_is_a_graph_input_and_saves() -> None:
    import os
    import tempfile

    import lamina
    from lamina import Model

    x, m = Input(shape=(4,)), Input(shape=(4,), dtype="bool")
    model = Model([x, m], Softmax()(x, mask=m))
    data = [torch.randn(2, 4), torch.tensor([[True, False, True, True], [False] * 4])]
    expected = Softmax()(data[0], mask=data[1])
    torch.testing.assert_close(model(data), expected)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "softmax.lamina")
        model.save(path)
        torch.testing.assert_close(lamina.load_model(path)(data), expected)


def test_softmax_rejects_a_mask_of_another_shape() -> None:
    with pytest.raises(LayerError, match=r"Softmax 's': the mask's shape \(3, 4\) does not"):
        Softmax(name="s")(torch.zeros(2, 4), mask=torch.ones(3, 4, dtype=torch.bool))


def test_prelu_alpha_penalty_reaches_the_training_loss() -> None:
    from lamina import Model, regularizers

    inputs = Input(shape=(3,))
    layer = PReLU(alpha_initializer="ones", alpha_regularizer=regularizers.L2(0.5))
    model = Model(inputs, layer(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x, y = torch.ones(4, 3), torch.zeros(4, 3)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(1.0 + 0.5 * 3)


def test_softmax_rejects_an_axis_outside_the_input() -> None:
    with pytest.raises(LayerError, match=r"Softmax 's': axis=3 is outside input shape \(None, 4\)"):
        Softmax(axis=3, name="s")(Input(shape=(4,)))
