from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import check_layer
from keras_fixtures import check_against_keras, fixture_names
from lamina import Input, Model, Sequential
from lamina.core.layer import LayerError
from lamina.layers import (
    BatchNormalization,
    Dense,
    GroupNormalization,
    LayerNormalization,
    UnitNormalization,
)


def _normalize(x, axes, epsilon, gamma=None, beta=None):
    mean = x.mean(axis=axes, keepdims=True)
    variance = x.var(axis=axes, keepdims=True)
    out = (x - mean) / np.sqrt(variance + epsilon)
    return out * (1 if gamma is None else gamma) + (0 if beta is None else beta)


@pytest.mark.parametrize(
    "name",
    fixture_names(
        "normalization",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
    ),
)
def test_matches_keras(name: str) -> None:
    layer, data = check_against_keras(name)
    if "y_train" in data:  # BatchNormalization: one training step, then the moving statistics
        mask = torch.from_numpy(data["mask"]) if "mask" in data else None
        y = layer(torch.from_numpy(data["x"]), training=True, mask=mask)
        np.testing.assert_allclose(y.detach().numpy(), data["y_train"], atol=1e-5)
        for weight in ("moving_mean", "moving_variance"):
            got = getattr(layer, weight).detach().numpy()
            np.testing.assert_allclose(got, data[weight], atol=1e-6, rtol=1e-6)


def test_batch_normalization_check_layer_and_weight_order() -> None:
    def reference(x, layer):
        gamma, beta, mean, variance = layer.get_weights()
        return (x - mean) / np.sqrt(variance + 1e-3) * gamma + beta

    layer = check_layer(BatchNormalization, (2, 2, 3), reference, atol=1e-5)
    assert [w.shape for w in layer.get_weights()] == [(3,)] * 4
    assert [n for n, _ in layer.named_parameters()] == [
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    ]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 2, 3)])
def test_batch_normalization_training_uses_biased_batch_statistics(shape) -> None:
    layer = BatchNormalization(momentum=0.8)
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(1))
    y = layer(x, training=True)
    flat = x.reshape(-1, shape[-1]).numpy()
    expected = _normalize(x.numpy(), tuple(range(x.ndim - 1)), 1e-3)
    np.testing.assert_allclose(y.detach().numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.detach(), 0.2 * flat.mean(0), atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.detach(), 0.8 + 0.2 * flat.var(0), atol=1e-6)


def test_batch_normalization_frozen_runs_in_inference_mode() -> None:
    layer = BatchNormalization(trainable=False)
    x = torch.randn(5, 3) * 3 + 2
    layer(Input(shape=(3,)))
    y = layer(x, training=True).detach()
    np.testing.assert_allclose(y.numpy(), x.numpy() / np.sqrt(1 + 1e-3), atol=1e-6)
    assert not layer.moving_mean.any()


def test_fit_updates_moving_statistics_and_predict_uses_them() -> None:
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(3.0, 2.0, (32, 2)).astype("float32")
    y = np.zeros((32, 1), "float32")
    inputs = Input(shape=(2,))
    norm = BatchNormalization(momentum=0.5, name="norm")
    model = Model(inputs, Dense(1)(norm(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    mean, variance = norm.moving_mean.detach().numpy(), norm.moving_variance.detach().numpy()
    np.testing.assert_allclose(mean, x.mean(0) * (1 - 0.5**4), rtol=1e-4)
    np.testing.assert_allclose(variance, 0.5**4 + x.var(0) * (1 - 0.5**4), rtol=1e-4)
    assert not norm.training  # fit restores inference mode
    gamma, beta = norm.gamma.detach().numpy(), norm.beta.detach().numpy()
    expected = (x - mean) / np.sqrt(variance + 1e-3) * gamma + beta
    normalized = Model(inputs, norm.output).predict(x, verbose=0)
    np.testing.assert_allclose(normalized, expected, atol=1e-5)
    model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(norm.moving_mean.detach().numpy(), mean)  # evaluate: no update


def test_batch_normalization_4d_channels_last_gradients_match_reference() -> None:
    x = torch.randn(2, 3, 3, 4, requires_grad=True)
    layer = BatchNormalization()
    layer(x)
    layer.set_weights([np.arange(4.0) + 1, np.arange(4.0), np.zeros(4), np.ones(4)])
    layer(x, training=True).square().sum().backward()
    grad = x.grad.clone()
    x.grad = None
    mean = x.mean((0, 1, 2))
    variance = x.var((0, 1, 2), correction=0)
    ref = (x - mean) / torch.sqrt(variance + 1e-3) * (torch.arange(4.0) + 1) + torch.arange(4.0)
    ref.square().sum().backward()
    torch.testing.assert_close(grad, x.grad, atol=1e-4, rtol=1e-4)


def test_batch_normalization_low_precision_input() -> None:
    layer = BatchNormalization()
    x = torch.randn(4, 2, 2, 3)
    y = layer(x.bfloat16(), training=True)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.detach().float(), _normalize_t(x), atol=0.05, rtol=0.05)


def _normalize_t(x: torch.Tensor) -> torch.Tensor:
    variance, mean = torch.var_mean(x, dim=(0, 1, 2), correction=0)
    return (x - mean) / torch.sqrt(variance + 1e-3)


def test_batch_normalization_errors_name_the_layer() -> None:
    with pytest.raises(ValueError, match=r"momentum in \[0, 1\].*received 1.5"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(TypeError, match="int for axis"):
        BatchNormalization(axis=[1, 2])
    with pytest.raises(LayerError, match=r"BatchNormalization 'bn': axis=3 does not name .*1\.\.2"):
        BatchNormalization(axis=3, name="bn")(Input(shape=(4, 2)))
    with pytest.raises(LayerError, match=r"'bn1': expected an input of rank 2 or more"):
        BatchNormalization(name="bn1")(torch.ones(3))
    layer = BatchNormalization(name="bn2")
    layer(Input(shape=(4, 2)))
    with pytest.raises(LayerError, match=r"BatchNormalization 'bn2': expected input shape "):
        layer(Input(shape=(4, 3)))
    with pytest.raises(LayerError, match="must have a known size"):
        BatchNormalization()(Input(shape=(3, None)))


def test_batch_normalization_in_sequential_saves_moving_statistics(tmp_path) -> None:
    import lamina

    model = Sequential([Input(shape=(3,)), BatchNormalization()])
    model.layers[-1](torch.randn(8, 3) + 5, training=True)
    path = tmp_path / "bn.lamina"
    model.save(path)
    loaded = lamina.load_model(path)
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert loaded.layers[-1].moving_mean.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "shape", "axes"),
    [({}, (3, 4), (2,)), ({"axis": [1, 2]}, (3, 4), (1, 2)), ({"axis": 1}, (3, 4), (1,))],
)
def test_layer_normalization_check_layer(kwargs, shape, axes) -> None:
    def reference(x, layer):
        gamma, beta = layer.get_weights()
        broadcast = [1] * x.ndim
        for a in axes:
            broadcast[a] = x.shape[a]
        gamma, beta = gamma.reshape(broadcast), beta.reshape(broadcast)
        return _normalize(x, axes, 1e-3, gamma, beta)

    def make():
        layer = LayerNormalization(**kwargs)
        layer(Input(shape=shape))
        weights = layer.get_weights()
        layer.set_weights([w + np.arange(w.size).reshape(w.shape) for w in weights])
        return layer

    check_layer(make, shape, reference, atol=1e-5)


def test_layer_normalization_rms_scaling_and_errors() -> None:
    layer = LayerNormalization(rms_scaling=True)
    x = torch.randn(2, 5)
    np.testing.assert_allclose(
        layer(x).detach().numpy(),
        x.numpy() / np.sqrt(x.numpy().var(-1, keepdims=True) + 1e-3),
        atol=1e-6,
    )
    assert [n for n, _ in layer.named_parameters()] == ["gamma"]
    with pytest.raises(TypeError, match=r"LayerNormalization: expected an int or a list"):
        LayerNormalization(axis="last")  # type: ignore[arg-type]
    with pytest.raises(LayerError, match=r"LayerNormalization 'ln': axis=0 does not name"):
        LayerNormalization(axis=0, name="ln")(Input(shape=(3,)))


@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [({"groups": 2}, (3, 4)), ({"groups": 3, "axis": 1}, (6, 2)), ({"groups": -1}, (2, 2, 3))],
)
def test_group_normalization_check_layer(kwargs, shape) -> None:
    def reference(x, layer):
        gamma, beta = layer.get_weights()
        axis = kwargs.get("axis", -1) % x.ndim
        moved = np.moveaxis(x, axis, -1)
        features = moved.shape[-1]
        groups = features if kwargs["groups"] == -1 else kwargs["groups"]
        grouped = moved.reshape(*moved.shape[:-1], groups, features // groups)
        axes = (*range(1, grouped.ndim - 2), grouped.ndim - 1)
        out = _normalize(grouped, axes, 1e-3).reshape(moved.shape) * gamma + beta
        return np.moveaxis(out, -1, axis)

    check_layer(lambda: GroupNormalization(**kwargs), shape, reference, atol=1e-5)


def test_group_normalization_errors() -> None:
    with pytest.raises(LayerError, match=r"GroupNormalization 'gn': groups=32 must divide the 6"):
        GroupNormalization(name="gn")(Input(shape=(4, 6)))
    with pytest.raises(ValueError, match=r"positive int .* for groups, received 0"):
        GroupNormalization(groups=0)


@pytest.mark.parametrize(("axis", "shape"), [(-1, (4,)), ([1, 2], (2, 3)), (1, (3, 2))])
def test_unit_normalization_check_layer(axis, shape) -> None:
    def reference(x, layer):
        axes = tuple(a % x.ndim for a in ([axis] if isinstance(axis, int) else axis))
        return x / np.sqrt((x**2).sum(axis=axes, keepdims=True))

    check_layer(lambda: UnitNormalization(axis=axis), shape, reference, atol=1e-6)
    assert not UnitNormalization()(torch.zeros(1, 3)).isnan().any()


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: BatchNormalization(**kw),
        lambda **kw: LayerNormalization(**kw),
        lambda **kw: GroupNormalization(groups=1, **kw),
    ],
)
def test_regularizers_and_constraints_reach_gamma_and_beta(make) -> None:
    from lamina import regularizers

    layer = make(gamma_regularizer=regularizers.L2(0.1), beta_constraint="non_neg")
    x = Input(shape=(3,))
    model = Model(x, layer(x))
    layer.set_weights([np.full(3, 2.0), np.full(3, -1.0), *layer.get_weights()[2:]])
    assert [v.item() for v in model.losses] == pytest.approx([0.1 * 4 * 3])
    clone = type(layer).from_config(layer.get_config())
    assert isinstance(clone.gamma_regularizer, regularizers.L2)
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.ones((4, 3), "float32"), np.ones((4, 3), "float32"))
    assert (layer.beta.detach() >= 0).all()  # the constraint ran after the step


@pytest.mark.parametrize(
    "make",
    [BatchNormalization, LayerNormalization, lambda **kw: GroupNormalization(3, **kw)],
)
@pytest.mark.parametrize("dtype", ["bfloat16", "float64"])
def test_weights_in_other_dtypes(make, dtype: str) -> None:
    layer = make(dtype=dtype)
    x = torch.randn(4, 2, 3, dtype=getattr(torch, dtype))
    for y in (layer(x), layer(x, training=True) if make is BatchNormalization else layer(x)):
        assert y.dtype == x.dtype and torch.isfinite(y).all()


@pytest.mark.parametrize("input_needs_grad", [True, False])
def test_group_normalization_channels_last_gradients(input_needs_grad: bool) -> None:
    x = torch.randn(2, 3, 2, 4, requires_grad=input_needs_grad)
    layer = GroupNormalization(2)
    layer(x)
    layer.set_weights([np.arange(4.0) + 1, np.arange(4.0)])
    layer(x).square().sum().backward()
    grads = [t.grad.clone() for t in (x, layer.gamma, layer.beta) if t.grad is not None]
    for t in (x, layer.gamma, layer.beta):
        t.grad = None
    grouped = x.reshape(2, -1, 2, 2)
    variance, mean = torch.var_mean(grouped, dim=(1, 3), correction=0, keepdim=True)
    normalized = ((grouped - mean) / torch.sqrt(variance + 1e-3)).reshape(x.shape)
    (normalized * layer.gamma + layer.beta).square().sum().backward()
    expected = [t.grad for t in (x, layer.gamma, layer.beta) if t.grad is not None]
    assert len(grads) == len(expected) == (3 if input_needs_grad else 2)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
