from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from helpers import check_layer
from lamina import Input, Model, ops
from lamina.core.errors import LayerError
from lamina.layers import Dense, Lambda


def slice(x, index):  # the seed's function, shadowing the builtin as the seed does
    return x[:, :, index]


def _line_of(text: str) -> int:
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip() == text)


def test_seed_slice_lambda_infers_the_real_shape_and_warns_once() -> None:
    a = Input(shape=(4, 2))
    layer = Lambda(slice, output_shape=(4, 1), arguments={"index": 0}, name="lambda_seed")
    with pytest.warns(
        UserWarning,
        match=r"Lambda 'lambda_seed': output_shape=\(4, 1\) was "
        r"declared, but slice returns \(None, 4\)",
    ) as caught:
        out = layer(a)
    assert out.shape == (None, 4)
    # The warning names the line that called the layer, not lamina's own code.
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, _line_of("out = layer(a)"))]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert layer(Input(shape=(4, 2))).shape == (None, 4)


def test_lambda_reference_and_arguments() -> None:
    check_layer(
        lambda: Lambda(slice, arguments={"index": 1}),
        (4, 2),
        lambda x, layer: x[:, :, 1],
        expected_shape=(None, 4),
    )


def test_lambda_repr_shows_function_and_arguments() -> None:
    assert repr(Lambda(slice, arguments={"index": 0})) == "Lambda(slice, index=0)"
    assert repr(Lambda(lambda x: x * 2)) == "Lambda(lambda x: x * 2)"


def test_correct_declared_shape_does_not_warn() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = Lambda(lambda x: x[:, :, :1], output_shape=(4, 1))(Input(shape=(4, 2)))
        out2 = Lambda(lambda x: x * 2, output_shape=lambda s: s)(Input(shape=(3,)))
    assert out.shape == (None, 4, 1) and out2.shape == (None, 3)


def test_lambda_list_input_and_several_outputs() -> None:
    def split(xs):
        a, b = xs
        return a + b, a - b

    u, v = Input(shape=(3,)), Input(shape=(3,))
    s, d = Lambda(split)([u, v])
    assert s.shape == d.shape == (None, 3)
    model = Model([u, v], [s, d])
    x, y = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    got_s, got_d = model.predict([x, y], verbose=0)
    np.testing.assert_allclose(got_s, x + y)
    np.testing.assert_allclose(got_d, x - y)


def test_lambda_dict_output() -> None:
    out = Lambda(lambda x: {"double": x * 2, "sum": ops.sum(x, axis=1)})(Input(shape=(3,)))
    assert out["double"].shape == (None, 3) and out["sum"].shape == (None,)


def test_lambda_receives_training_when_declared() -> None:
    seen = []

    def noisy(x, training=None):
        seen.append(training)
        return x + 1 if training else x

    layer = Lambda(noisy)
    x = torch.zeros(2, 3)
    assert torch.equal(layer(x), x)
    assert torch.equal(layer(x, training=True), x + 1)
    assert seen[-2:] == [False, True]


def test_lambda_tensor_and_array_arguments_follow_the_layer() -> None:
    offset = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    layer = Lambda(
        lambda x, offset, scale: x * scale + offset,
        arguments={"offset": offset, "scale": torch.tensor(2.0)},
    )
    out = layer(torch.ones(2, 3))
    np.testing.assert_allclose(out.numpy(), np.ones((2, 3)) * 2 + offset)
    assert {name for name, _ in layer.named_buffers()} == {"argument_0", "argument_1"}
    layer.to(torch.float64)
    assert layer.argument_0.dtype == torch.float64


def test_lambda_tracks_closed_over_parameters_and_modules() -> None:
    scale = torch.nn.Parameter(torch.tensor(3.0))
    projection = torch.nn.Linear(3, 2)

    def apply(x):
        return projection(x) * scale

    layer = Lambda(apply)
    assert len(layer.trainable_weights) == 3
    x = Input(shape=(3,))
    model = Model(x, layer(x))
    assert any(p is scale for p in model.trainable_weights)
    model(torch.ones(4, 3)).sum().backward()
    assert scale.grad is not None and projection.weight.grad is not None


def test_lambda_refuses_untracked_grad_tensor() -> None:
    weight = torch.ones(3, requires_grad=True)
    with pytest.raises(LayerError, match=r"Wrap it in torch\.nn\.Parameter"):
        Lambda(lambda x: x * weight)


def test_lambda_rejects_non_callable() -> None:
    with pytest.raises(TypeError, match="expected a callable function, received int"):
        Lambda(3)


def test_lambda_failure_names_layer_and_chains_the_cause() -> None:
    with pytest.raises(
        LayerError,
        match=r"Lambda 'bad_slice': calling it on input shape "
        r"\(None, 4, 2\) failed with IndexError",
    ) as info:
        Lambda(slice, arguments={"index": 5}, name="bad_slice")(Input(shape=(4, 2)))
    assert isinstance(info.value.__cause__, IndexError)


def test_lambda_with_numpy_inside_falls_back_to_a_real_run() -> None:
    def via_numpy(x):
        return torch.from_numpy(np.asarray(x.detach().cpu().numpy()) * 2)

    out = Lambda(via_numpy)(Input(shape=(3,)))
    assert out.shape == (None, 3) and out.dtype == torch.float32


def test_lambda_data_dependent_item_call() -> None:
    out = Lambda(lambda x: x * float(x.sum().item() >= 0))(Input(shape=(2,)))
    assert out.shape == (None, 2)


def test_shape_inference_does_not_touch_the_random_state() -> None:
    def draw(x):
        return x + torch.randn(x.shape)  # CPU tensor: the meta run fails, a real run decides

    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    Lambda(draw)(Input(shape=(3,)))
    assert torch.equal(torch.rand(3), expected)


def test_variable_length_axis_is_inferred_as_none() -> None:
    out = Lambda(lambda x: x.sum(dim=1))(Input(shape=(None, 4)))
    assert out.shape == (None, 4)
    flat = Lambda(lambda x: x.reshape(x.shape[0], -1))(Input(shape=(None, 4)))
    assert flat.shape == (None, None)


def test_symbolic_operators_record_operation_layers() -> None:
    a = Input(shape=(4, 2))
    y = a[:, :, 0] * 2
    assert y.shape == (None, 4)
    assert y.node.layer.label == "* 2"
    assert y.node.parents[0].layer.label == "[:, :, 0]"
    z = 1 - (-(a[..., None] ** 2)) / 3 @ torch.ones(1, 5).numpy()
    assert z.shape == (None, 4, 2, 5)
    model = Model(a, [y, z, a > 1.5])
    x = np.array([[[1, 2], [2, 3], [3, 4], [4, 5]]], dtype=np.float32)
    got_y, got_z, got_cmp = model.predict(x, verbose=0)
    np.testing.assert_allclose(got_y, x[:, :, 0] * 2)
    np.testing.assert_allclose(got_z, 1 - (-(x[..., None] ** 2)) / 3 @ np.ones((1, 5)), rtol=1e-6)
    np.testing.assert_array_equal(got_cmp, x > 1.5)


def test_symbolic_tensor_misuse_errors() -> None:
    a = Input(shape=(3,))
    with pytest.raises(TypeError, match="no truth value"):
        bool(a)
    with pytest.raises(TypeError, match="cannot be iterated"):
        list(a)


def test_layer_rejects_constants_mixed_with_symbolic_inputs() -> None:
    with pytest.raises(LayerError, match="received a ndarray among symbolic inputs"):
        Lambda(lambda xs: xs[0])([Input(shape=(3,)), np.ones(3)])


def test_dense_inside_lambda_via_closure_trains() -> None:
    dense = Dense(2)
    x = Input(shape=(3,))
    y = Lambda(lambda t: dense(t) * 2)(x)
    model = Model(x, y)
    assert len(model.trainable_weights) == 2


def test_torch_modules_as_layers_in_a_sequential() -> None:
    from lamina import Sequential

    linear = torch.nn.Linear(3, 2)
    model = Sequential([Input(shape=(4,)), Dense(3), torch.nn.ReLU(), linear])
    assert model.count_params() == 15 + 8 and len(model.trainable_weights) == 4
    x = torch.randn(5, 4)
    first = model.layers[0]
    expected = linear(torch.relu(x @ first.kernel + first.bias))
    torch.testing.assert_close(model(x), expected)
    assert linear.weight.device.type == "cpu"


def test_a_module_reached_twice_stays_on_its_device_through_shape_inference() -> None:
    dense = Dense(3)
    x = Input(shape=(3,))
    inner = Model(x, Lambda(lambda t: dense(t) * 2)(dense(x)))  # dense: a layer and a capture
    assert inner(Input(shape=(3,))).shape == (None, 3)  # shape inference over the whole model
    assert dense.kernel.device.type == "cpu"
    data = torch.randn(2, 3)
    torch.testing.assert_close(inner(data), dense(dense(data)) * 2)


def test_training_is_passed_only_when_named() -> None:
    def catch_all(x, **kwargs):
        assert not kwargs, kwargs
        return x

    layer = Lambda(catch_all)
    assert layer(Input(shape=(2,))).shape == (None, 2)
    x = Input(shape=(2,))
    Model(x, layer(x))(torch.ones(1, 2), training=True)


def test_shape_inference_leaves_every_random_generator_as_it_was() -> None:
    import random

    def noisy(x: Any) -> Any:  # numpy inside: inferred by a real run, after a failed meta run
        random.random()
        return x + torch.as_tensor(np.random.normal(size=x.shape[1:]), dtype=x.dtype)

    states = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    out = Lambda(noisy)(Input(shape=(3,)))
    assert out.shape == (None, 3)
    assert random.getstate() == states[0]
    np.testing.assert_array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])
