"""Issue 15: Keras models (tests/fixtures/keras/models, written by
scripts/keras_fixtures_models.py) loaded into lamina, compared with Keras's predictions."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")

from lamina import load_model
from lamina.cli import main
from lamina.saving import LoadError, describe_keras, load_keras

MODELS = Path(__file__).parent.parent / "fixtures" / "keras" / "models"


def slice_last(x: Any, index: int) -> Any:
    return x[:, :, index]


def double_plus_one(x: Any) -> Any:
    return x * 2.0 + 1.0


OBJECTS = {"slice_last": slice_last, "double_plus_one": double_plus_one}
LOADABLE = [
    "mlp",
    "slicing",
    "mnist_convnet",
    "resnet_block",
    "autoencoder",
    "trained",
    "lstm_classifier",  # Embedding, LSTM: the cell's weights under the layer's group
    "gru_tagger",  # Bidirectional(GRU): forward then backward layer
    "transformer_block",  # MultiHeadAttention: query, key, value, output projections
]


def expected(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(MODELS / f"{name}.npz")
    return data["x"], data["y"]


@pytest.mark.parametrize("name", LOADABLE)
def test_predictions_match_keras(name: str) -> None:
    model = load_keras(MODELS / f"{name}.keras", custom_objects=OBJECTS)
    x, y = expected(name)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["mlp", "autoencoder", "resnet_block"])
def test_keras2_h5_model(name: str) -> None:
    model = load_keras(MODELS / f"{name}_legacy.h5")
    x, y = expected(name)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=1e-5, rtol=1e-5)


def test_nested_and_shared_layers() -> None:
    model = load_keras(MODELS / "autoencoder.keras")
    names = [layer.name for layer in model.layers]
    assert "encoder" in names and "decoder" in names
    assert [type(layer).__name__ for layer in model.layers if layer.name == "decoder"] == [
        "Sequential"
    ]


def test_bytecode_lambda_is_reported_never_run() -> None:
    with pytest.raises(LoadError) as error:
        load_keras(MODELS / "lambda_bytecode.keras")
    message = str(error.value)
    assert "double_plus_one" in message and "bytecode" in message
    assert "custom_objects={'double_plus_one': fn}" in message
    model = load_keras(
        MODELS / "lambda_bytecode.keras", custom_objects={"double_plus_one": double_plus_one}
    )
    x, y = expected("lambda_bytecode")
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=1e-6)


def test_named_function_needs_custom_objects() -> None:
    with pytest.raises(LoadError, match="calls the function 'slice_last'"):
        load_keras(MODELS / "slicing.keras")


def test_compiled_model_keeps_settings_and_adam_state_and_trains_on(tmp_path: Path) -> None:
    model = load_keras(MODELS / "trained.keras")
    assert type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    state = model.optimizer.torch_optimizer.state
    assert len(state) == 4  # Keras's m and v slots for both kernels and biases
    assert all(float(s["step"]) == 4 for s in state.values())  # 32 samples, batch 8
    data = np.load(MODELS / "trained_data.npz")
    history = model.fit(data["x"], data["y"], epochs=2, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] * 1.1
    path = tmp_path / "trained.lamina"
    model.save(path)
    again = load_model(path)
    np.testing.assert_allclose(
        again.predict(data["x"], verbose=0), model.predict(data["x"], verbose=0), atol=1e-6
    )
    uncompiled = load_keras(MODELS / "trained.keras", compile=False)
    assert uncompiled.optimizer is None


def test_layers_lamina_lacks_are_listed(tmp_path: Path) -> None:
    def change(config: dict[str, Any]) -> None:
        config["config"]["layers"][1]["class_name"] = "QuantumDense"
        config["config"]["layers"][3]["class_name"] = "QuantumDropout"

    report = describe_keras(rewrite(tmp_path, "mlp", change))
    assert report["loads"].startswith("no")
    assert [p for p in report["problems"] if "no lamina counterpart" in p] == [
        "QuantumDense 'hidden': Keras layer class 'QuantumDense' has no lamina counterpart yet",
        "QuantumDropout 'probabilities': Keras layer class 'QuantumDropout' has no lamina "
        "counterpart yet",
    ]


# ------------------------------------------------------------------------------ hostile
def rewrite(
    tmp_path: Path,
    source: str,
    change: Any = None,
    extra: dict[str, bytes] | None = None,
    weights: bytes | None = None,
) -> Path:
    with zipfile.ZipFile(MODELS / f"{source}.keras") as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    if change is not None:
        change(config)
    entries["config.json"] = json.dumps(config).encode()
    if weights is not None:
        entries["model.weights.h5"] = weights
    entries.update(extra or {})
    path = tmp_path / "hostile.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    def change(config: dict[str, Any]) -> None:
        layers = config["config"]["layers"]
        layers[1]["module"] = "os"
        layers[1]["class_name"] = "system"
        layers[3]["config"]["mystery"] = 3
        layers[3]["config"]["kernel_initializer"]["class_name"] = "Mystery"

    with pytest.raises(LoadError) as error:
        load_keras(rewrite(tmp_path, "mlp", change))
    message = str(error.value)
    assert "3 problems" in message
    assert "module 'os'" in message and "mystery=3" in message and "'Mystery'" in message


UNKNOWN_MODULES = ["subprocess", "shutil", "ctypes", "pickle", "marshal", "importlib", "os"]


def test_unknown_modules_are_never_imported(tmp_path: Path) -> None:
    # One fresh process loads a file per module (each process costs a second of imports).
    paths = {}
    for module in UNKNOWN_MODULES:

        def change(config: dict[str, Any], module: str = module) -> None:
            config["config"]["layers"][1]["module"] = module
            config["config"]["layers"][1]["class_name"] = "system"
            config["config"]["layers"][1]["registered_name"] = "system"

        folder = tmp_path / module
        folder.mkdir()
        paths[module] = str(rewrite(folder, "mlp", change))
    script = (
        "import json, sys\n"
        "from lamina.saving import load_keras, LoadError\n"
        "import lamina.saving.keras_format, h5py\n"
        f"paths = {paths!r}\n"
        "results = {}\n"
        "for module, path in paths.items():\n"
        "    was_there = module in sys.modules\n"
        "    try:\n"
        "        load_keras(path)\n"
        "        results[module] = 'loaded'\n"
        "    except LoadError as e:\n"
        "        results[module] = str(e)\n"
        "    if not was_there and module in sys.modules:\n"
        "        results[module] = 'imported'\n"
        "print(json.dumps(results))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    results = json.loads(out)
    for module in UNKNOWN_MODULES:
        assert f"module '{module}'" in results[module], (module, results[module])


def test_zip_slip_and_unexpected_entries_are_refused(tmp_path: Path) -> None:
    for name in ("../evil.py", "/etc/passwd", "assets/../../x", "extra.txt"):
        path = rewrite(tmp_path, "mlp", extra={name: b"print('pwned')"})
        with pytest.raises(LoadError, match="unexpected entry"):
            load_keras(path)


def test_huge_declared_input_shape_is_refused(tmp_path: Path) -> None:
    def change(config: dict[str, Any]) -> None:
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, 10**15]

    with pytest.raises(LoadError, match="is not a shape"):
        load_keras(rewrite(tmp_path, "mlp", change))


def test_weights_of_another_shape_are_refused(tmp_path: Path) -> None:
    import h5py

    buffer = io.BytesIO()
    with zipfile.ZipFile(MODELS / "mlp.keras") as archive:
        source = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(source, "r") as original, h5py.File(buffer, "w") as copy:
        for key in original:
            original.copy(original[key], copy, key)
        vars_group = copy["layers/dense/vars"]
        del vars_group["0"]
        vars_group.create_dataset("0", data=np.zeros((7, 8), "float32"))
    path = rewrite(tmp_path, "mlp", weights=buffer.getvalue())
    with pytest.raises(LoadError, match=r"shapes \[\(7, 8\), \(8,\)\]"):
        load_keras(path)


def test_not_a_keras_file(tmp_path: Path) -> None:
    path = tmp_path / "x.keras"
    path.write_bytes(b"hello")
    with pytest.raises(LoadError, match="not a zip archive"):
        load_keras(path)
    with pytest.raises(LoadError, match="no such file"):
        load_keras(tmp_path / "none.keras")


# ------------------------------------------------------------------------------ command
def test_convert_and_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "convnet.lamina"
    assert main(["convert", str(MODELS / "mnist_convnet.keras"), str(out)]) == 0
    x, y = expected("mnist_convnet")
    np.testing.assert_allclose(load_model(out).predict(x, verbose=0), y, atol=1e-5)
    capsys.readouterr()
    assert main(["inspect", str(MODELS / "lambda_bytecode.keras")]) == 0
    text = capsys.readouterr().out
    assert "double_plus_one" in text and "bytecode" in text and "loads: no" in text
    assert main(["convert", str(MODELS / "lambda_bytecode.keras"), str(tmp_path / "l")]) == 1
    assert "custom_objects" in capsys.readouterr().err


# ------------------------------------------------------------------------------ Keras 2
def keras2_config(config: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 functional config in Keras 2's spelling: no modules, dtype names,
    `batch_input_shape`, and nodes as `[[name, node, index, kwargs]]`."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("class_name") == "DTypePolicy":
                return value["config"]["name"]
            if value.get("class_name") == "__keras_tensor__":
                return value
            return {k: plain(v) for k, v in value.items() if k not in ("module", "registered_name")}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    config = plain(config)
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_input_shape"] = layer["config"].pop("batch_shape")
        layer["inbound_nodes"] = [
            [[*arg["config"]["keras_history"], node["kwargs"]] for arg in node["args"]]
            for node in layer["inbound_nodes"]
        ]
    return config


def test_keras2_spelling_of_an_h5_model(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "keras2.h5"
    path.write_bytes((MODELS / "mlp_legacy.h5").read_bytes())
    with h5py.File(path, "r+") as file:
        config = json.loads(file.attrs["model_config"])
        file.attrs["model_config"] = json.dumps(keras2_config(config))
        file.attrs["keras_version"] = "2.15.0"
    model = load_keras(path)
    x, y = expected("mlp")
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=1e-5, rtol=1e-5)


def test_keras2_sequential_with_batch_input_shape(tmp_path: Path) -> None:
    def change(config: dict[str, Any]) -> None:
        layers = config["config"]["layers"]
        first = layers.pop(0)
        layers[0]["config"]["batch_input_shape"] = first["config"]["batch_shape"]

    model = load_keras(rewrite(tmp_path, "mnist_convnet", change))
    x, y = expected("mnist_convnet")
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=1e-5, rtol=1e-5)


def test_links_out_of_the_weights_file_are_refused(tmp_path: Path) -> None:
    import h5py

    buffer = io.BytesIO()
    with zipfile.ZipFile(MODELS / "mlp.keras") as archive:
        source = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(source, "r") as original, h5py.File(buffer, "w") as copy:
        for key in original:
            original.copy(original[key], copy, key)
        del copy["layers/dense/vars/0"]
        copy["layers/dense/vars/0"] = h5py.ExternalLink("/etc/passwd", "/x")
        copy.create_dataset("spare", data=np.zeros((6, 8), "float32"))  # the sizes still add up
    with pytest.raises(LoadError, match="ExternalLink, not stored data"):
        load_keras(rewrite(tmp_path, "mlp", weights=buffer.getvalue()))


def test_without_h5py_the_message_names_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(LoadError, match="pip install h5py"):
        load_keras(MODELS / "mlp.keras")


def test_huge_layer_sizes_are_refused_before_allocating(tmp_path: Path) -> None:
    def change(config: dict[str, Any]) -> None:
        config["config"]["layers"][1]["config"]["units"] = 10**6
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, 10**6]

    with pytest.raises(LoadError, match="refusing to allocate"):
        load_keras(rewrite(tmp_path, "mlp", change))


def test_weights_declaring_more_than_they_store_are_refused(tmp_path: Path) -> None:
    import h5py

    buffer = io.BytesIO()
    with zipfile.ZipFile(MODELS / "mlp.keras") as archive:
        source = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(source, "r") as original, h5py.File(buffer, "w") as copy:
        for key in original:
            original.copy(original[key], copy, key)
        copy.create_dataset("layers/dense/vars/9", shape=(10**5, 10**5), dtype="float32")
    with pytest.raises(LoadError, match="declares shape"):
        load_keras(rewrite(tmp_path, "mlp", weights=buffer.getvalue()))


def test_custom_classes_come_only_from_custom_objects(tmp_path: Path) -> None:
    from lamina.layers import Layer

    class Halve(Layer):
        def call(self, x: Any) -> Any:
            return x * 0.5

    def change(config: dict[str, Any]) -> None:
        dropout = config["config"]["layers"][2]
        dropout.update(module="my_package.layers", class_name="Halve")
        dropout["registered_name"] = "my_package>Halve"
        dropout["config"] = {"name": "dropout", "trainable": True}

    path = rewrite(tmp_path, "mlp", change)
    with pytest.raises(LoadError, match="my_package>Halve"):
        load_keras(path)
    model = load_keras(path, custom_objects={"Halve": Halve})
    assert type(model.get_layer("dropout")) is Halve


def test_dropout_still_drops_in_training() -> None:
    import torch

    model = load_keras(MODELS / "mlp.keras")  # Keras recorded training=False on its node
    x = torch.ones(64, 6)
    assert not torch.equal(model(x, training=True), model(x, training=False))


def test_nothing_is_unmarshalled_unpickled_or_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import marshal
    import pickle

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"called with {args!r:.80}")

    for name in LOADABLE:  # first, so lamina's and torch's own lazy imports are done
        load_keras(MODELS / f"{name}.keras", custom_objects=OBJECTS)
    # Python's import system reads .pyc files with marshal.loads: patched, it also catches
    # any module imported from here on.
    monkeypatch.setattr(marshal, "loads", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(importlib, "import_module", refuse)
    with pytest.raises(LoadError, match="bytecode"):
        load_keras(MODELS / "lambda_bytecode.keras")
    for name in LOADABLE:
        load_keras(MODELS / f"{name}.keras", custom_objects=OBJECTS)


def test_keras2_training_config(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "compiled.h5"
    path.write_bytes((MODELS / "mlp_legacy.h5").read_bytes())
    training = {
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
        "optimizer_config": {
            "class_name": "Adam",
            "config": {"name": "Adam", "learning_rate": 0.002, "decay": 0.0, "beta_1": 0.9},
        },
    }
    with h5py.File(path, "r+") as file:
        file.attrs["training_config"] = json.dumps(training)
    model = load_keras(path)
    assert type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.learning_rate == pytest.approx(0.002)
    assert model.loss == "sparse_categorical_crossentropy"


def test_output_shape_function_is_left_to_lamina(tmp_path: Path) -> None:
    def change(config: dict[str, Any]) -> None:
        lambda_config = config["config"]["layers"][1]["config"]
        lambda_config["output_shape"] = {
            "class_name": "__lambda__",
            "config": {"code": "4wEAAAAA", "defaults": None, "closure": None},
        }

    model = load_keras(rewrite(tmp_path, "slicing", change), custom_objects=OBJECTS)
    x, y = expected("slicing")
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=1e-5)
