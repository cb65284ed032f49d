"""Round trips through `.lamina` files, configs and JSON, compared against the original
models' predictions and weights and against NumPy references."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.torch
import torch

import lamina
from lamina import Input, Model, Sequential, ops
from lamina.layers import Concatenate, Dense, Dropout, Lambda, Layer, Reshape, merge
from lamina.models import clone_model, model_from_json
from lamina.saving import (
    LoadError,
    SaveError,
    UnknownClassError,
    UnsafeFunctionError,
    inspect_file,
    load_model,
    model_from_config,
    register_serializable,
)

SEED_INPUT = np.array([[[1, 2], [2, 3], [3, 4], [4, 5]]], dtype=np.float32)


def slice(x, index):
    return x[:, :, index]


def sampling(agrs):
    mean, logvar = agrs[0], agrs[1]
    eps = torch.randn_like(mean)
    return mean + eps * torch.exp(logvar * 0.5)


def seed_slice_model() -> Model:
    a = Input(shape=(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the seed's output_shape (4, 1) is wrong on purpose
        x1 = Reshape((4, 1, 1))(Lambda(slice, output_shape=(4, 1), arguments={"index": 0})(a))
        x2 = Reshape((4, 1, 1))(Lambda(slice, output_shape=(4, 1), arguments={"index": 1})(a))
    return Model(a, merge([x1, x2], mode="concat"))


def seed_vae() -> Model:
    x = Input(shape=(784,))
    h2 = Dense(200, activation="softplus")(Dense(200, activation="softplus")(x))
    mean, log_var = Dense(2)(h2), Dense(2)(h2)
    z = Lambda(sampling, output_shape=(2,))([mean, log_var])
    h = Dense(200, activation="softplus")(z)
    out = Dense(784)(Dense(200, activation="softplus")(Dense(200, activation="softplus")(h)))
    model = Model(x, out)
    kl = -0.5 * ops.mean(ops.sum(1 + log_var - ops.square(mean) - ops.exp(log_var), axis=1))
    model.add_loss(kl / 784)
    return model


def assert_same_weights(a: Model, b: Model) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def round_trip(model: Model, folder: Path, **kwargs: Any) -> Model:
    path = folder / "model.lamina"
    model.save(path)
    return load_model(path, **kwargs)  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ the seed
def test_seed_slice_model_round_trips_to_the_known_prediction(tmp_path: Path) -> None:
    loaded = round_trip(seed_slice_model(), tmp_path)
    expected = [[[[1, 2]], [[2, 3]], [[3, 4]], [[4, 5]]]]
    np.testing.assert_array_equal(loaded.predict(SEED_INPUT, verbose=0), expected)


def test_seed_vae_round_trips_weights_outputs_and_graph_loss(tmp_path: Path) -> None:
    model = seed_vae()
    loaded = round_trip(model, tmp_path)
    assert_same_weights(model, loaded)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    x = torch.rand(6, 784)
    torch.manual_seed(1)
    out, losses = model.call_with_losses(x)
    torch.manual_seed(1)
    out2, losses2 = loaded.call_with_losses(x)
    torch.testing.assert_close(out2, out, rtol=1e-6, atol=1e-7)
    assert len(losses2) == len(losses) == 1
    # The KL term against NumPy, from the loaded encoder's own weights.
    w = {k: v.detach().numpy() for k, v in loaded.state_dict().items()}
    softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
    names = [layer.name for layer in loaded.layers if isinstance(layer, Dense)]

    def dense(v: np.ndarray, name: str) -> np.ndarray:
        return v @ w[f"{name}.kernel"] + w[f"{name}.bias"]  # type: ignore[no-any-return]

    h = softplus(dense(softplus(dense(x.numpy(), names[0])), names[1]))
    mean, log_var = dense(h, names[2]), dense(h, names[3])
    kl = -0.5 * np.mean(np.sum(1 + log_var - mean**2 - np.exp(log_var), axis=1)) / 784
    np.testing.assert_allclose(float(losses2[0].detach()), kl, rtol=1e-4)


LOADER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    import lamina

    folder = sys.argv[1]
    outputs = {}
    for name in ("slice", "vae", "lambda"):
        model = lamina.load_model(f"{folder}/{name}.lamina")  # safe_mode=True by default
        x = np.load(f"{folder}/{name}_x.npy")
        torch.manual_seed(0)
        outputs[name] = model.predict(x, verbose=0)
    np.savez(f"{folder}/loaded.npz", **outputs)
    assert not any("test_model_io" in m for m in sys.modules), "the test module was imported"
    print("defined here:", [n for n in ("slice", "sampling") if n in globals()])
    """
)


def test_function_layers_load_safely_in_a_fresh_process(tmp_path: Path) -> None:
    double = Input(shape=(3,))
    models = {
        "slice": (seed_slice_model(), SEED_INPUT),
        "vae": (seed_vae(), np.random.default_rng(0).random((4, 784), dtype=np.float32)),
        "lambda": (Model(double, Lambda(lambda x: x * 2 + 1)(double)), np.ones((2, 3), np.float32)),
    }
    expected = {}
    for name, (model, x) in models.items():
        model.save(tmp_path / f"{name}.lamina")
        np.save(tmp_path / f"{name}_x.npy", x)
        torch.manual_seed(0)
        expected[name] = model.predict(x, verbose=0)
    # -I: a clean interpreter that never saw this module or its functions.
    result = subprocess.run(
        [sys.executable, "-I", "-c", LOADER, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "defined here: []" in result.stdout
    loaded = np.load(tmp_path / "loaded.npz")
    for name, value in expected.items():
        # Same weights and random draws; tolerance only for BLAS kernels that may pick other
        # code paths in another process.
        np.testing.assert_allclose(loaded[name], value, rtol=1e-6, atol=1e-7, err_msg=name)
    np.testing.assert_array_equal(loaded["lambda"], np.full((2, 3), 3.0))


# ------------------------------------------------------------------------------ model kinds
def test_sequential_round_trip(tmp_path: Path) -> None:
    model = Sequential(
        [Input(shape=(5,)), Dense(4, activation="tanh"), Dropout(0.5), Dense(2)], name="seq"
    )
    loaded = round_trip(model, tmp_path)
    assert isinstance(loaded, Sequential) and loaded.name == "seq"
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Dropout", "Dense"]
    assert_same_weights(model, loaded)
    x = np.random.default_rng(1).random((3, 5), dtype=np.float32)
    w = [layer.get_weights() for layer in loaded.layers if isinstance(layer, Dense)]
    reference = np.tanh(x @ w[0][0] + w[0][1]) @ w[1][0] + w[1][1]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), reference, rtol=1e-5, atol=1e-6)


def test_sequential_from_input_shape_and_lazy_sequential(tmp_path: Path) -> None:
    built = Sequential([Dense(3, input_shape=(2,)), Lambda(lambda v: v - 1)])
    loaded = round_trip(built, tmp_path)
    x = np.ones((2, 2), np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), built.predict(x, verbose=0))
    lazy = Sequential([Dense(3), Dense(1)])
    (tmp_path / "lazy").mkdir()
    lazy_loaded = round_trip(lazy, tmp_path / "lazy")
    assert lazy_loaded.count_params() == 0
    assert lazy_loaded.predict(np.ones((4, 7), np.float32), verbose=0).shape == (4, 1)


def nested_model() -> Model:
    inner_in = Input(shape=(3,), name="inner_in")
    inner = Model(inner_in, Dense(4, activation="relu", name="inner_dense")(inner_in), name="inner")
    stack = Sequential([Dense(2, name="stack_dense")], name="stack")
    x = Input(shape=(3,), name="x")
    return Model(x, stack(inner(x)), name="outer")


def test_nested_models_round_trip(tmp_path: Path) -> None:
    model = nested_model()
    model.predict(np.ones((1, 3), np.float32), verbose=0)
    loaded = round_trip(model, tmp_path)
    assert isinstance(loaded.get_layer("inner"), Model)
    assert isinstance(loaded.get_layer("stack"), Sequential)
    assert_same_weights(model, loaded)
    x = np.random.default_rng(2).random((5, 3), dtype=np.float32)
    inner_w = loaded.get_layer("inner").get_layer("inner_dense").get_weights()
    stack_w = loaded.get_layer("stack").layers[0].get_weights()
    reference = np.maximum(x @ inner_w[0] + inner_w[1], 0) @ stack_w[0] + stack_w[1]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), reference, rtol=1e-5, atol=1e-6)


def test_shared_layer_called_twice(tmp_path: Path) -> None:
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    shared = Dense(2, name="shared")
    model = Model([a, b], Concatenate()([shared(a), shared(b)]))
    loaded = round_trip(model, tmp_path)
    assert len(loaded.get_layer("shared")._inbound_nodes) == 2
    assert loaded.count_params() == model.count_params() == 8
    xa, xb = np.ones((2, 3), np.float32), np.full((2, 3), 2.0, np.float32)
    kernel, bias = model.get_layer("shared").get_weights()
    reference = np.concatenate([xa @ kernel + bias, xb @ kernel + bias], axis=-1)
    np.testing.assert_allclose(loaded.predict([xa, xb], verbose=0), reference, rtol=1e-6)


def test_layer_shared_between_nested_model_and_parent_stays_tied(tmp_path: Path) -> None:
    shared = Dense(3, name="shared")
    inner_in = Input(shape=(3,))
    inner = Model(inner_in, shared(inner_in), name="inner")
    x = Input(shape=(3,))
    model = Model(x, shared(inner(x)), name="outer")
    loaded = round_trip(model, tmp_path)
    outer_kernel = loaded.get_layer("shared").kernel
    assert outer_kernel is loaded.get_layer("inner").get_layer("shared").kernel
    v = np.random.default_rng(3).random((2, 3), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(v, verbose=0), model.predict(v, verbose=0), rtol=1e-6)
    with zipfile.ZipFile(tmp_path / "model.lamina") as archive:
        stored = safetensors.torch.load(archive.read("model.safetensors"))
        aliases = json.loads(archive.read("config.json"))["weights"]["aliases"]
    assert sorted(stored) == ["inner.shared.bias", "inner.shared.kernel"]
    assert aliases == {"shared.kernel": "inner.shared.kernel", "shared.bias": "inner.shared.bias"}


def test_multi_input_output_with_dict_inputs(tmp_path: Path) -> None:
    a, b = Input(shape=(2,), name="a"), Input(shape=(3,), name="b")
    joined = Concatenate(name="join")([a, b])
    model = Model({"a": a, "b": b}, [Dense(1, name="y1")(joined), joined * 2], name="multi")
    loaded = round_trip(model, tmp_path)
    xa, xb = np.ones((4, 2), np.float32), np.arange(12, dtype=np.float32).reshape(4, 3)
    y1, y2 = loaded.predict({"a": xa, "b": xb}, verbose=0)
    kernel, bias = loaded.get_layer("y1").get_weights()
    np.testing.assert_allclose(y1, np.concatenate([xa, xb], 1) @ kernel + bias, rtol=1e-6)
    np.testing.assert_array_equal(y2, 2 * np.concatenate([xa, xb], 1))


def test_operation_layers_round_trip(tmp_path: Path) -> None:
    a = Input(shape=(4, 2))
    y = ops.sum(ops.exp(a[:, :, 0] * 2) - ops.mean(a[:, 1:, 1], axis=1, keepdims=True), axis=-1)
    model = Model(a, [a[:, :, 0] * 2, y, a[..., 1:]])
    loaded = round_trip(model, tmp_path)
    x = np.random.default_rng(4).random((3, 4, 2), dtype=np.float32)
    first, second, third = loaded.predict(x, verbose=0)
    np.testing.assert_array_equal(first, x[:, :, 0] * 2)
    reference = np.sum(np.exp(x[:, :, 0] * 2) - x[:, 1:, 1].mean(axis=1, keepdims=True), axis=-1)
    np.testing.assert_allclose(second, reference, rtol=1e-5)
    np.testing.assert_array_equal(third, x[..., 1:])
    labels = [layer.label for layer in loaded.layers if hasattr(layer, "label")]
    assert "[:, :, 0]" in labels and "* 2" in labels


def test_graph_loss_round_trip(tmp_path: Path) -> None:
    x = Input(shape=(3,))
    model = Model(x, Dense(2)(x))
    model.add_loss(ops.mean(ops.square(x)) * 0.5)
    loaded = round_trip(model, tmp_path)
    v = np.arange(6, dtype=np.float32).reshape(2, 3)
    _, losses = loaded.call_with_losses(torch.from_numpy(v))
    assert len(loaded._graph_losses) == 1
    np.testing.assert_allclose(float(losses[0]), np.mean(v**2) * 0.5, rtol=1e-6)


def test_lambda_with_array_arguments_output_shape_and_mask_functions(tmp_path: Path) -> None:
    def shift(x, offset, scale):
        return x * scale + offset

    x = Input(shape=(3,))
    layer = Lambda(
        shift,
        output_shape=lambda s: s,
        mask=lambda inputs, mask: mask,
        arguments={"offset": np.array([1.0, 2.0, 3.0], np.float32), "scale": torch.tensor(2.0)},
    )
    model = Model(x, layer(x))
    # The function is an op graph; a mask function is saved as source (trusted load), and a
    # callable output_shape (only ever checked) as the shape it was checked against.
    with pytest.warns(UserWarning, match=r"<lambda>.*test_model_io.py:\d+.*need trust"):
        loaded = round_trip(model, tmp_path, safe_mode=False)
    v = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(v, verbose=0), v * 2 + [1, 2, 3])
    restored = loaded.layers[1]
    assert restored.declared_output_shape == (None, 3)
    assert restored.compute_mask(None, "m") == "m"


def test_custom_activation_function_and_dtypes(tmp_path: Path) -> None:
    def clipped(v):
        return torch.clamp(v, -0.5, 0.5)

    x = Input(shape=(3,), dtype=torch.float64)
    model = Model(x, Dense(2, activation=clipped, dtype="float64", name="d")(x))
    # The activation is traced on the layer's output spec: an op graph that loads safely.
    loaded = round_trip(model, tmp_path)
    assert loaded.get_layer("d").kernel.dtype == torch.float64
    v = np.random.default_rng(5).random((4, 3))
    kernel, bias = loaded.get_layer("d").get_weights()
    np.testing.assert_allclose(
        loaded.predict(v, verbose=0), np.clip(v @ kernel + bias, -0.5, 0.5), rtol=1e-12
    )


def test_trainable_flags_round_trip(tmp_path: Path) -> None:
    x = Input(shape=(3,))
    frozen = Dense(2, name="frozen")
    model = Model(x, Dense(1, name="free")(frozen(x)))
    frozen.trainable = False
    loaded = round_trip(model, tmp_path)
    assert not loaded.get_layer("frozen").trainable
    assert [p.requires_grad for p in loaded.get_layer("frozen").parameters()] == [False, False]
    assert loaded.get_layer("free").kernel.requires_grad


@register_serializable(package="tests")
class Scale(Layer):
    """A custom layer that keeps a plain tensor attribute (so it cannot be built on meta)."""

    def __init__(self, factor: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor
        self.offset = torch.full((1,), factor)

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight("scale", (input_shape[-1],), "ones")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs * self.scale * self.factor + self.offset

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


class Unregistered(Scale):
    pass


def test_registered_custom_layer_round_trip(tmp_path: Path) -> None:
    x = Input(shape=(2,))
    model = Model(x, Scale(3.0, name="scale")(x))
    with torch.no_grad():
        model.get_layer("scale").scale.copy_(torch.tensor([1.0, -1.0]))
    loaded = round_trip(model, tmp_path)
    assert type(loaded.get_layer("scale")) is Scale
    v = np.ones((1, 2), np.float32)
    np.testing.assert_array_equal(loaded.predict(v, verbose=0), [[6.0, 0.0]])


def test_unregistered_class_needs_custom_objects(tmp_path: Path) -> None:
    x = Input(shape=(2,))
    path = tmp_path / "m.lamina"
    Model(x, Unregistered(2.0, name="u")(x)).save(path)
    with pytest.raises(UnknownClassError, match=r"Unregistered.*register_serializable") as caught:
        load_model(path)
    assert str(path) in str(caught.value)
    loaded = load_model(path, custom_objects={"Unregistered": Unregistered})
    np.testing.assert_array_equal(
        loaded.predict(np.ones((1, 2), np.float32), verbose=0), [[4.0, 4.0]]
    )


def test_subclassed_model_is_saved_from_its_constructor_arguments(tmp_path: Path) -> None:
    """As in Keras 3: without get_config(), a layer or model class of your own is stored by
    the arguments its constructor was called with, and must be known when loading."""

    class Net(Model):
        def __init__(self, units: int, scale: float = 1.0) -> None:  # no **kwargs
            super().__init__()
            self.scale = scale
            self.dense = Dense(units)

        def call(self, inputs: Any, training: Any = None) -> Any:
            return self.dense(inputs) * self.scale

    net = Net(2, scale=3.0)
    net(torch.ones(1, 3))
    net.save(tmp_path / "m.lamina")
    with pytest.raises(UnknownClassError, match="Net"):
        load_model(tmp_path / "m.lamina")
    loaded = load_model(tmp_path / "m.lamina", custom_objects={"Net": Net})
    assert type(loaded) is Net and loaded.scale == 3.0 and loaded.name == net.name
    torch.testing.assert_close(loaded(torch.ones(1, 3)), net(torch.ones(1, 3)))


def test_constructor_arguments_that_are_not_plain_values_need_get_config(
    tmp_path: Path,
) -> None:
    class Wrapper(Layer):
        def __init__(self, inner: Any, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, inputs: Any) -> Any:
            return inputs * self.inner.factor

    x = Input(shape=(3,))
    model = Model(x, Wrapper(types.SimpleNamespace(factor=2.0))(x))  # an object: no config
    with pytest.raises(
        SaveError, match=r"Wrapper\(\) was called with; give the class a get_config"
    ):
        model.save(tmp_path / "m.lamina")
    assert not (tmp_path / "m.lamina").exists()


def test_a_layer_of_your_own_keeps_its_constructor_arguments(tmp_path: Path) -> None:
    @register_serializable(package="tests")
    class Shift(Layer):
        def __init__(self, amount: float = 1.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.amount = amount

        def call(self, inputs: Any) -> Any:
            return inputs + self.amount

    x = Input(shape=(2,))
    model = Model(x, Shift(5.0)(x))
    assert model.layers[1].get_config()["amount"] == 5.0
    loaded = round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.predict(np.zeros((1, 2), np.float32), verbose=0), [[5, 5]])


# ------------------------------------------------------------------------------ the file
def test_file_layout_and_formats(tmp_path: Path) -> None:
    model = seed_vae()
    path = tmp_path / "vae.lamina"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        assert sorted(infos) == ["config.json", "metadata.json", "model.safetensors"]
        assert infos["model.safetensors"].compress_type == zipfile.ZIP_STORED
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json"))
        weights = safetensors.torch.load(archive.read("model.safetensors"))
    assert config["format_version"] == 1 and config["lamina_version"] == lamina.__version__
    assert config["model"]["class_name"] == "Functional"
    assert len(config["model"]["config"]["losses"]) == 1
    assert metadata["torch_version"] == torch.__version__ and "saved_at" in metadata
    # The weights are readable by the safetensors library, keyed by state_dict names.
    state = model.state_dict()
    assert sorted(weights) == sorted(state)
    for key, value in state.items():
        assert torch.equal(weights[key], value)
    raw = sum(t.numel() * t.element_size() for t in state.values())
    assert os.path.getsize(path) < raw * 1.01 + 8192


def test_failed_save_leaves_the_old_file_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "m.lamina"
    seed_slice_model().save(path)
    before = path.read_bytes()
    namespace: dict[str, Any] = {}
    # No source file, and not an op graph (it reads a value): cannot be saved.
    exec("def no_source(x):\n    return x * x.sum().item()\n", namespace)
    x = Input(shape=(3,))
    bad = Model(x, Lambda(namespace["no_source"], name="no_source_layer")(x))
    with pytest.raises(SaveError, match="no_source_layer") as caught:
        bad.save(path)
    assert str(path) in str(caught.value) and "nothing was written" in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.lamina"]


def test_failure_while_writing_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "m.lamina"
    seed_slice_model().save(path)
    before = path.read_bytes()

    class Exploding(Dense):
        def state_dict(self, *args: Any, **kwargs: Any) -> Any:
            raise OSError("disk full")

    x = Input(shape=(2,))
    model = Model(x, Exploding(1)(x))
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.lamina"]


def test_overwrite_false(tmp_path: Path) -> None:
    path = tmp_path / "m.lamina"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        seed_slice_model().save(path, overwrite=False)
    assert path.read_bytes() == b"keep"


def test_inspect_file_reports_functions_and_parameters(tmp_path: Path) -> None:
    def uses_while(x):
        return x if x.sum().item() > -1e9 else -x

    x = Input(shape=(784,))
    vae = seed_vae()
    model = Model(x, Lambda(uses_while, name="looping")(vae(x)))
    path = tmp_path / "m.lamina"
    with pytest.warns(UserWarning, match="uses_while"):
        model.save(path)
    report = inspect_file(path)
    assert report.format_version == 1
    assert report.param_count == model.count_params()
    loads = {(f.name, f.field): f.loads for f in report.functions}
    assert loads[("sampling", "function")] == "op graph (safe)"
    assert loads[("uses_while", "function")] == "source: needs trust"
    assert {f.layer for f in report.functions} == {"looping", f"{vae.name}.{vae.layers[5].name}"}
    dense = [layer for layer in report.layers if layer.class_name == "Dense"]
    assert sum(layer.params for layer in dense) == vae.count_params()
    text = str(report)
    assert "op graph (safe)" in text and f"{model.count_params():,} parameters" in text


# ------------------------------------------------------------------------------ configs and JSON
def test_get_config_from_config_and_json_round_trips() -> None:
    model = seed_slice_model()
    config = model.get_config()
    json.dumps(config)  # JSON-safe as it is
    for rebuilt in (
        Model.from_config(config),
        model_from_config({"class_name": "Functional", "config": config}),
        model_from_json(model.to_json()),
        clone_model(model),
    ):
        assert rebuilt is not model
        np.testing.assert_array_equal(
            rebuilt.predict(SEED_INPUT, verbose=0), model.predict(SEED_INPUT, verbose=0)
        )


def test_model_from_json_is_safe_by_default() -> None:
    def reads_values(x):
        return x * 3 if x.sum().item() > -1e9 else x

    x = Input(shape=(2,))
    with pytest.warns(UserWarning, match="reads a tensor's values"):
        text = Model(x, Lambda(reads_values)(x)).to_json()
    with pytest.raises(UnsafeFunctionError, match="safe_mode=False"):
        model_from_json(text)
    trusted = model_from_json(text, safe_mode=False)
    np.testing.assert_array_equal(trusted.predict(np.ones((1, 2), np.float32), verbose=0), [[3, 3]])


def test_config_errors_name_the_problem() -> None:
    with pytest.raises(LoadError, match="not a model config"):
        model_from_config({"something": 1})
    with pytest.raises(LoadError, match="upgrade lamina"):
        model_from_json('{"format_version": 99, "class_name": "Functional", "config": {}}')
    with pytest.raises(LoadError, match="not valid JSON"):
        model_from_json("{")


def test_trusted_module_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import fn_helpers

    x = Input(shape=(2,))
    path = tmp_path / "m.lamina"
    with pytest.warns(UserWarning, match="trusted_modules"):
        Model(x, Lambda(fn_helpers.reads_values)(x)).save(path)
    with pytest.raises(UnsafeFunctionError, match="trusted_modules") as caught:
        load_model(path)
    assert str(path) in str(caught.value)
    loaded = load_model(path, trusted_modules=["fn_helpers"])
    np.testing.assert_array_equal(loaded.predict(np.ones((1, 2), np.float32), verbose=0), [[1, 1]])


# ------------------------------------------------------------------------------ training state
def test_compiled_model_resumes_training_identically(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x = Input(shape=(3,))
    model = Model(x, Dense(1)(Dense(4, activation="relu")(x)))
    model.compile(optimizer=lamina.optimizers.Adam(learning_rate=1e-2), loss="mse")
    data = np.random.default_rng(6).random((32, 3), dtype=np.float32)
    target = data.sum(axis=1, keepdims=True)
    model.fit(data, target, epochs=2, batch_size=8, verbose=0)
    loaded = round_trip(model, tmp_path)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 8
    model.fit(data, target, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(data, target, epochs=1, batch_size=8, verbose=0, shuffle=False)
    assert_same_weights(model, loaded)
    uncompiled = load_model(tmp_path / "model.lamina", compile=False)
    assert not uncompiled.compiled and uncompiled.optimizer is None


def test_constant_initializer_round_trips(tmp_path) -> None:
    from lamina import Input, Model, initializers, load_model
    from lamina.layers import Dense

    x = Input(shape=(3,))
    model = Model(x, Dense(2, kernel_initializer=initializers.Constant(0.25))(x))
    model.save(tmp_path / "constant.lamina")
    loaded = load_model(tmp_path / "constant.lamina")
    assert loaded.layers[1].kernel_initializer.value == 0.25
    np.testing.assert_array_equal(loaded.get_weights()[0], np.full((3, 2), 0.25))


def test_weights_entry_crc_matches_zipfile(tmp_path) -> None:
    import zipfile
    import zlib

    from lamina import Input, Model
    from lamina.layers import Dense

    x = Input(shape=(64,))
    model = Model(x, Dense(300)(Dense(500)(x)))
    model.save(tmp_path / "m.lamina")
    with zipfile.ZipFile(tmp_path / "m.lamina") as archive:
        assert archive.testzip() is None  # zipfile re-reads every entry against its CRC
        info = archive.getinfo("model.safetensors")
        data = archive.read(info)
    assert info.compress_type == zipfile.ZIP_STORED and info.file_size == len(data)
    assert zlib.crc32(data) == info.CRC


def test_loading_uses_the_stored_output_specs_instead_of_running_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = seed_vae()
    config = model.get_config()
    lambda_entry = next(e for e in config["layers"] if e["class_name"] == "Lambda")
    assert lambda_entry["inbound_nodes"][0]["outputs"] == ["spec", [None, 2], "float32"]
    model.save(tmp_path / "vae.lamina")

    def never(self, inputs, kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError(f"{self.name} was run to infer its shapes")

    with monkeypatch.context() as patch:
        patch.setattr(Layer, "_infer_output_specs", never)
        loaded = lamina.load_model(tmp_path / "vae.lamina")
    assert [t.shape for t in loaded.outputs] == [(None, 784)]
    assert loaded.get_layer(lambda_entry["config"]["name"]).output.shape == (None, 2)
    data = np.random.default_rng(0).random((4, 784)).astype(np.float32)
    torch.manual_seed(0)
    expected = model.predict(data, verbose=0)
    torch.manual_seed(0)
    np.testing.assert_allclose(loaded.predict(data, verbose=0), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "outputs",
    [None, ["spec", [None, "x"], "float32"], ["spec", [None, 2], "os.system"], {"set": []}, 7],
)
def test_missing_or_malformed_output_specs_fall_back_to_inference(outputs: Any) -> None:
    model = seed_slice_model()
    config = model.get_config()
    for entry in config["layers"]:
        for node in entry.get("inbound_nodes", []):
            if outputs is None:
                node.pop("outputs")
            else:
                node["outputs"] = outputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the seed's declared output_shape warns on inference
        rebuilt = Model.from_config(config)
    assert rebuilt.output_shape == (None, 4, 1, 2)
    x = np.array([[[1, 2], [2, 3], [3, 4], [4, 5]]], dtype=np.float32)
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))


def test_sequential_loads_from_stored_specs_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = Sequential([Input(shape=(6,)), Dense(5, activation="relu"), Dense(4), Dense(3)])
    model.pop()  # the chain is rebuilt: the stored specs must follow the live one
    config = model.get_config()
    assert config["outputs"] == [["spec", [None, 5], "float32"], ["spec", [None, 4], "float32"]]
    model.save(tmp_path / "seq.lamina")

    def never(self, inputs, kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError(f"{self.name} was run to infer its shapes")

    with monkeypatch.context() as patch:
        patch.setattr(Layer, "_infer_output_specs", never)
        loaded = lamina.load_model(tmp_path / "seq.lamina")
    x = np.random.default_rng(1).random((3, 6)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.output_shape == (None, 4)


def _many_weights_model() -> Model:
    """Weights of several dtypes and sizes, an empty one and a bool buffer among them (the
    buffers are added by hand, so these models load with `load_weights`, not `load_model`)."""
    x = Input(shape=(6,))
    h = Dense(40, name="wide")(x)
    model = Model(x, Concatenate()([h, Dense(3, name="out")(x)]))
    out = model.get_layer("out")
    out.register_buffer("mask", torch.tensor([True, False, True]))
    out.register_buffer("steps", torch.arange(5, dtype=torch.int64))
    out.register_buffer("none", torch.empty(0, 4))
    out.register_buffer("scale", torch.tensor(0.5, dtype=torch.float64))
    return model


def _expected_state(model: Model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("how", ["read", "read, 3 threads", "short reads", "no preadv"])
def test_weights_read_whatever_the_os_read_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    model = _many_weights_model()
    expected = _expected_state(model)
    model.save(tmp_path / "m.lamina")
    if how == "read, 3 threads":  # blocks spread over threads, as for a large file
        from lamina.saving import reader

        monkeypatch.setattr(reader, "_threads", lambda size: 3)
    if how == "no preadv":  # as on Windows: seek and readinto, tensor by tensor
        monkeypatch.delattr(os, "preadv")
    elif how == "short reads":  # the OS may return fewer bytes than asked, mid-buffer
        real = os.preadv

        def short(fd: int, buffers: list[Any], offset: int) -> int:
            first = memoryview(buffers[0])
            return real(fd, [first[: max(1, min(first.nbytes, 37))]], offset)

        monkeypatch.setattr(os, "preadv", short)
    loaded = _many_weights_model()  # fresh random weights, the buffers' values differ:
    loaded.get_layer("out").mask.logical_not_()
    loaded.get_layer("out").steps.zero_()
    loaded.load_weights(tmp_path / "m.lamina", verify=True)
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, expected[name]), name
    assert loaded.state_dict()["out.mask"].dtype == torch.bool


def test_load_weights_reads_only_what_the_model_takes(tmp_path: Path) -> None:
    """strict=False with part of the file: the wanted tensors are read in separate runs."""
    model = _many_weights_model()
    model.save_weights(tmp_path / "w.safetensors")
    reference = safetensors.torch.load_file(tmp_path / "w.safetensors")
    x = Input(shape=(6,))
    partial = Model(x, Dense(3, name="out")(x))
    partial.load_weights(tmp_path / "w.safetensors", strict=False)
    assert torch.equal(partial.get_layer("out").kernel, reference["out.kernel"])
    assert torch.equal(partial.get_layer("out").bias, reference["out.bias"])


def test_a_truncated_read_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _many_weights_model()
    model.save(tmp_path / "m.lamina")
    real = os.preadv

    def ends_after_the_header(fd: int, buffers: list[Any], offset: int) -> int:
        wanted = sum(memoryview(b).nbytes for b in buffers)
        return 0 if wanted > 1000 else real(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", ends_after_the_header)
    with pytest.raises(LoadError, match="reading tensor data failed: the file ends") as caught:
        _many_weights_model().load_weights(tmp_path / "m.lamina")
    assert str(tmp_path / "m.lamina") in str(caught.value)


# ------------------------------------------------------------------------------ Model subclasses
@register_serializable(package="tests")
class Scored(Model):
    """A functional subclass: Model's own __init__, one extra method."""

    def score(self, x: np.ndarray) -> float:
        return float(self.predict(x, verbose=0).sum())


class UnregisteredScored(Model):
    pass


@register_serializable(package="tests")
class Stacked(Model):
    """Builds its own graph in __init__ and describes itself by its arguments."""

    def __init__(self, units: int = 4, depth: int = 2, **kwargs: Any) -> None:
        x = Input(shape=(3,))
        h = x
        for _ in range(depth):
            h = Dense(units, activation="relu")(h)
        super().__init__(x, Dense(1)(h), **kwargs)
        self.units, self.depth = units, depth

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "depth": self.depth, "name": self.name}


@register_serializable(package="tests")
class Twice(Model):
    """A subclassed model (call() is Python) that creates its weights on its first call."""

    def __init__(self, units: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.dense = Dense(units)

    def call(self, inputs: Any) -> Any:
        return self.dense(inputs.float()) * 2.0

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "name": self.name}


def test_functional_subclass_comes_back_as_itself(tmp_path: Path) -> None:
    x = Input(shape=(3,))
    model = Scored(x, Dense(2)(x), name="scored")
    loaded = round_trip(model, tmp_path)
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert type(loaded) is Scored
    assert loaded.score(data) == pytest.approx(model.score(data))
    assert type(Scored.from_config(model.get_config())) is Scored
    assert (
        inspect_file(tmp_path / "model.lamina").model_class == "tests>Scored, a Functional subclass"
    )


def test_unregistered_functional_subclass_loads_as_a_plain_model_with_a_warning(
    tmp_path: Path,
) -> None:
    x = Input(shape=(3,))
    model = UnregisteredScored(x, Dense(2)(x))
    model.save(tmp_path / "m.lamina")
    with pytest.warns(UserWarning, match=r"UnregisteredScored.*not registered.*plain Model"):
        plain = load_model(tmp_path / "m.lamina")
    assert type(plain) is Model
    again = load_model(
        tmp_path / "m.lamina", custom_objects={"UnregisteredScored": UnregisteredScored}
    )
    assert type(again) is UnregisteredScored
    assert_same_weights(model, again)


def test_subclass_with_its_own_config_is_rebuilt_by_its_constructor(tmp_path: Path) -> None:
    model = Stacked(units=5, depth=3)
    # Rebuilt in the same process, its layers get new names (dense_7, not dense_3): the
    # weights are matched by position, each checked for shape and dtype.
    loaded = round_trip(model, tmp_path)
    assert type(loaded) is Stacked and (loaded.units, loaded.depth) == (5, 3)
    assert [layer.name for layer in loaded.layers] != [layer.name for layer in model.layers]
    data = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def test_subclass_rebuilt_differently_is_refused_by_shape(tmp_path: Path) -> None:
    Stacked(units=5, depth=3).save(tmp_path / "m.lamina")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.lamina").read("config.json"))
    config["model"]["config"]["units"] = 6
    with zipfile.ZipFile(tmp_path / "m.lamina") as source:
        entries = {name: source.read(name) for name in source.namelist()}
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "changed.lamina", "w") as target:
        for name, data in entries.items():
            target.writestr(name, data)
    with pytest.raises(LoadError, match=r"does not match the model.*\(3, 5\)"):
        load_model(tmp_path / "changed.lamina")


def test_subclassed_model_is_called_again_to_create_its_weights(tmp_path: Path) -> None:
    model = Twice(units=4)
    ints = torch.arange(10, dtype=torch.int64).reshape(2, 5)
    model(ints)  # built on int64 inputs: the saved build config keeps the dtype
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 5), np.int64), np.zeros((8, 4), np.float32), epochs=1, verbose=0)
    loaded = round_trip(model, tmp_path)
    assert type(loaded) is Twice and loaded.units == 4
    torch.testing.assert_close(loaded(ints), model(ints))
    before = torch.get_rng_state()
    load_model(tmp_path / "model.lamina")
    assert torch.equal(torch.get_rng_state(), before)  # building draws nothing
    # The optimizer state came back too: one more step moves both copies alike.
    for net in (model, loaded):
        net.fit(np.ones((8, 5), np.int64), np.zeros((8, 4), np.float32), epochs=1, verbose=0)
    assert_same_weights(model, loaded)


def test_subclass_whose_config_does_not_fit_its_constructor_says_so(tmp_path: Path) -> None:
    @register_serializable(package="tests")
    class Broken(Twice):
        def get_config(self) -> dict[str, Any]:
            return {"width": self.units, "name": self.name}

    model = Broken()
    model(torch.ones(1, 2))
    model.save(tmp_path / "m.lamina")
    with pytest.raises(LoadError, match=r"Broken\(\*\*config\) failed.*\['name', 'width'\]"):
        load_model(tmp_path / "m.lamina")


def _mlp() -> Model:
    x = Input(shape=(4,))
    return Model(x, Dense(2)(Dense(8, activation="relu")(x)))


@pytest.mark.parametrize("suffix", [".safetensors", ".lamina"])
@pytest.mark.parametrize("strict", [True, False])
def test_weights_load_into_the_same_model_built_again(
    tmp_path: Path, suffix: str, strict: bool
) -> None:
    """Building the model again in the same program names its layers anew (as a notebook
    cell run twice does): the weights go in by position, as in Keras."""
    first, again = _mlp(), _mlp()
    assert [layer.name for layer in first.layers] != [layer.name for layer in again.layers]
    path = tmp_path / f"w{suffix}"
    first.save_weights(path) if suffix == ".safetensors" else first.save(path)
    again.load_weights(path, strict=strict)
    data = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(data, verbose=0), first.predict(data, verbose=0))


def test_weights_of_another_architecture_are_refused_even_by_position(tmp_path: Path) -> None:
    _mlp().save_weights(tmp_path / "w.safetensors")
    x = Input(shape=(4,))
    wider = Model(x, Dense(2)(Dense(9, activation="relu")(x)))
    with pytest.raises(LoadError, match=r"does not match the model.*\(4, 9\)"):
        wider.load_weights(tmp_path / "w.safetensors")


def test_read_groups_keep_every_task_once_in_file_order() -> None:
    from lamina.saving.reader import _in_groups, _Task

    tasks = [_Task(position, nbytes=size) for position, size in enumerate([7, 1000, 13, 0, 3])]
    for count in (1, 2, 3, 7):
        groups = _in_groups(tasks, count)
        assert 1 <= len(groups) <= count
        assert [t for g in groups for t in g] == tasks


@register_serializable(package="tests")
class Residual(Layer):
    """A custom layer with sublayers made in __init__ and built by their first call."""

    def __init__(self, units: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.inner = Dense(units, activation="relu")
        self.outer = Dense(units)

    def call(self, inputs: Any) -> Any:
        return inputs + self.outer(self.inner(inputs))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


def test_custom_layer_with_lazily_built_sublayers_round_trips(tmp_path: Path) -> None:
    x = Input(shape=(4,))
    model = Model(x, Dense(1)(Residual(4)(x)))
    loaded = round_trip(model, tmp_path)
    assert sorted(loaded.state_dict()) == sorted(model.state_dict())
    assert_same_weights(model, loaded)
    data = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def doubled_squared_error(y_true: Any, y_pred: Any) -> Any:
    return ops.mean(ops.square(y_true - y_pred), axis=-1) * 2.0


def absolute_error(y_true: Any, y_pred: Any) -> Any:
    return ops.mean(ops.abs(y_true - y_pred))


def test_a_loss_and_metric_from_the_script_are_saved_with_the_model(tmp_path: Path) -> None:
    """Keras stores such functions by name and cannot load the model compiled without
    custom_objects; lamina stores them like a Lambda's function."""
    x = Input(shape=(3,))
    model = Model(x, Dense(1)(x))
    model.compile(optimizer="sgd", loss=doubled_squared_error, metrics=[absolute_error])
    data = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    target = data.sum(axis=1, keepdims=True)
    model.fit(data, target, epochs=1, verbose=0)
    model.save(tmp_path / "m.lamina")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.lamina").read("config.json"))
    assert "__function__" in json.dumps(config["compile_config"]["loss"])
    listed = {(f.layer, f.name, f.loads) for f in inspect_file(tmp_path / "m.lamina").functions}
    assert ("compile", "doubled_squared_error", "op graph (safe)") in listed
    assert ("compile", "absolute_error", "op graph (safe)") in listed
    loaded = load_model(tmp_path / "m.lamina")
    assert loaded.compiled_loss is not None
    expected = model.evaluate(data, target, verbose=0, return_dict=True)
    got = loaded.evaluate(data, target, verbose=0, return_dict=True)
    assert set(got) == {"loss", "absolute_error"}
    assert got == pytest.approx(expected, rel=1e-6)


def test_a_loss_without_source_is_saved_by_name_with_a_warning(tmp_path: Path) -> None:
    # No source, and not a graph (it reads a value), so it can only be saved by name.
    made = eval("lambda y_true, y_pred: ops.mean(ops.abs(y_true - y_pred)) * y_pred.sum().item()")
    made.__name__ = "made_by_eval"
    x = Input(shape=(3,))
    model = Model(x, Dense(1)(x))
    model.compile(optimizer="sgd", loss=made)
    with pytest.warns(UserWarning, match=r"'made_by_eval' is saved by name only.*custom_objects"):
        model.save(tmp_path / "m.lamina")
    with pytest.raises(LoadError, match=r"'made_by_eval' is not known.*compile=False"):
        load_model(tmp_path / "m.lamina")
    assert getattr(load_model(tmp_path / "m.lamina", compile=False), "optimizer", None) is None
    loaded = load_model(tmp_path / "m.lamina", custom_objects={"made_by_eval": made})
    assert loaded.compiled_loss is not None


def test_a_refused_file_leaves_no_reader_running(tmp_path: Path) -> None:
    import threading

    x = Input(shape=(64,))
    Model(x, Dense(256)(x)).save(tmp_path / "m.lamina")
    with zipfile.ZipFile(tmp_path / "m.lamina") as source:
        entries = {name: source.read(name) for name in source.namelist()}
    config = json.loads(entries["config.json"])
    config["model"]["config"]["layers"][1]["class_name"] = "NoSuchLayer"
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "bad.lamina", "w") as target:
        for name, data in entries.items():
            target.writestr(name, data)
    with pytest.raises(LoadError, match="NoSuchLayer"):
        load_model(tmp_path / "bad.lamina")  # fails while the weights are being read
    assert not [t for t in threading.enumerate() if t.name == "lamina-weights-reader"]
    (tmp_path / "m.lamina").replace(tmp_path / "m2.lamina")
    loaded = load_model(tmp_path / "m2.lamina")
    loaded.save(tmp_path / "m2.lamina")  # saving over the file just loaded
    assert_same_weights(loaded, load_model(tmp_path / "m2.lamina"))


def test_clone_model_needs_no_registration_for_the_models_own_classes() -> None:
    class Shift(Layer):  # neither registered nor with a get_config of its own
        def __init__(self, amount: float = 1.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.amount = amount

        def call(self, inputs: Any) -> Any:
            return inputs + self.amount

    x = Input(shape=(2,))
    model = Model(x, Dense(2)(Shift(5.0)(x)))
    clone = clone_model(model)
    shift = clone.layers[1]
    assert type(shift) is Shift and shift.amount == 5.0 and shift is not model.layers[1]


def loss_using_numpy(y_true: Any, y_pred: Any) -> Any:
    """Reads a tensor's values into numpy: not an op graph."""
    return ops.mean(ops.abs(y_true - y_pred), axis=-1) * float(np.sign(y_pred.detach().numpy())[0])


def test_a_compile_function_safe_mode_refuses_says_compile_false(tmp_path: Path) -> None:
    x = Input(shape=(3,))
    model = Model(x, Dense(1)(x))
    model.compile(optimizer="sgd", loss=loss_using_numpy)
    with pytest.warns(UserWarning, match=r"loss_using_numpy.*test_model_io.py:\d+.*numpy"):
        model.save(tmp_path / "m.lamina")
    with pytest.raises(UnsafeFunctionError, match=r"loss_using_numpy.*Or load with compile=False"):
        load_model(tmp_path / "m.lamina")
    assert getattr(load_model(tmp_path / "m.lamina", compile=False), "optimizer", None) is None
    trusted = load_model(
        tmp_path / "m.lamina", custom_objects={"loss_using_numpy": loss_using_numpy}
    )
    assert trusted.compiled_loss is not None


def test_file_names_of_another_format_are_refused_before_writing(tmp_path: Path) -> None:
    model = seed_slice_model()
    for name in ("m.h5", "m.keras", "m"):
        with pytest.raises(SaveError, match=r"ending in \.lamina, received"):
            model.save(tmp_path / name)
    with pytest.raises(SaveError, match=r"received \.safetensors.*save_weights"):
        model.save(tmp_path / "m.safetensors")
    with pytest.raises(SaveError, match=r"ending in \.safetensors, received \.lamina.*model\.save"):
        model.save_weights(tmp_path / "w.lamina")
    assert list(tmp_path.iterdir()) == []
    model.save(tmp_path / "M.LAMINA")  # the case of the extension does not matter


def test_positional_varargs_of_your_own_layer_round_trip(tmp_path: Path) -> None:
    @register_serializable(package="tests")
    class Pick(Layer):
        def __init__(self, *columns: int, scale: float = 1.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.columns, self.scale = list(columns), scale

        def call(self, inputs: Any) -> Any:
            return inputs[:, self.columns] * self.scale

    x = Input(shape=(5,))
    model = Model(x, Pick(0, 3, scale=2.0)(x))
    loaded = round_trip(model, tmp_path)
    data = np.arange(10, dtype=np.float32).reshape(2, 5)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), [[0, 6], [10, 16]])


def test_a_subclass_building_its_graph_in_init_is_rebuilt_by_its_constructor(
    tmp_path: Path,
) -> None:
    @register_serializable(package="tests")
    class Tower(Model):  # no get_config: its constructor's arguments are its config
        def __init__(self, width: int = 4, **kwargs: Any) -> None:
            x = Input(shape=(3,))
            super().__init__(x, Dense(1)(Dense(width, activation="relu")(x)), **kwargs)
            self.width = width

        def doubled(self, data: np.ndarray) -> np.ndarray:
            return self.predict(data, verbose=0) * 2  # type: ignore[no-any-return]

    model = Tower(width=6)
    loaded = round_trip(model, tmp_path)
    assert type(loaded) is Tower and loaded.width == 6
    data = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.doubled(data), model.doubled(data))
