"""`save_weights` / `load_weights` against the safetensors library (the reference reader and
writer) and NumPy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from lamina import Input, Model, Sequential
from lamina.layers import Dense, Layer
from lamina.saving import SaveError, WeightsMismatchError, load_weights
from lamina.saving.tensorfile import safetensors_chunks, safetensors_header
from lamina.saving.weights import tensors_for_saving


def mlp(units: int = 3, *, name: str = "mlp") -> Model:
    x = Input(shape=(4,), name="x")
    h = Dense(units, activation="relu", name="hidden")(x)
    return Model(x, Dense(2, name="out")(h), name=name)


def test_save_weights_writes_plain_safetensors_in_keras_layout(tmp_path: Path) -> None:
    model = mlp()
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    loaded = safetensors.torch.load_file(path)
    assert sorted(loaded) == ["hidden.bias", "hidden.kernel", "out.bias", "out.kernel"]
    assert loaded["hidden.kernel"].shape == (4, 3)  # Keras layout: (input_dim, units)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded[key], value)
    with safetensors.safe_open(path, "pt") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "pt" and json.loads(metadata["lamina_aliases"]) == {}


def test_load_weights_restores_predictions(tmp_path: Path) -> None:
    source, target = mlp(), mlp()
    path = tmp_path / "w.safetensors"
    source.save_weights(path)
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    assert not np.allclose(target.predict(x, verbose=0), source.predict(x, verbose=0))
    target.load_weights(path)
    w1, b1 = source.get_layer("hidden").get_weights()
    w2, b2 = source.get_layer("out").get_weights()
    reference = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    np.testing.assert_allclose(target.predict(x, verbose=0), reference, rtol=1e-5, atol=1e-6)


def test_load_weights_from_a_lamina_file(tmp_path: Path) -> None:
    source, target = mlp(), mlp()
    source.save(tmp_path / "m.lamina")
    load_weights(target, tmp_path / "m.lamina")
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)


def test_reads_files_written_by_the_safetensors_library(tmp_path: Path) -> None:
    kernel = np.arange(12, dtype=np.float32).reshape(4, 3)
    tensors = {
        "hidden.kernel": torch.from_numpy(kernel),
        "hidden.bias": torch.ones(3),
        "out.kernel": torch.zeros(3, 2),
        "out.bias": torch.full((2,), 5.0),
    }
    safetensors.torch.save_file(tensors, tmp_path / "w.safetensors")
    model = mlp()
    model.load_weights(tmp_path / "w.safetensors")
    x = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), [[5.0, 5.0]])
    np.testing.assert_array_equal(model.get_layer("hidden").get_weights()[0], kernel)


def test_save_weights_keeps_checksums_that_load_weights_checks(tmp_path: Path) -> None:
    source, target = mlp(), mlp()
    path = tmp_path / "w.safetensors"
    source.save_weights(path)
    with safetensors.safe_open(path, "pt") as handle:
        sums = json.loads(handle.metadata()["lamina_checksums"])
        offset = 8 + int.from_bytes(path.read_bytes()[:8], "little")
    assert sums["algorithm"] == "xxh3_64" and set(sums["tensors"]) == set(source.state_dict())
    import xxhash

    kernel = source.get_layer("out").kernel.detach().numpy().tobytes()
    assert sums["tensors"]["out.kernel"] == f"{xxhash.xxh3_64_intdigest(kernel):016x}"
    data = bytearray(path.read_bytes())
    start = offset + json.loads(data[8:offset])["out.kernel"]["data_offsets"][0]
    data[start + 5] ^= 0x10  # one bit of out.kernel
    path.write_bytes(bytes(data))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(Exception, match=r"w\.safetensors.*corrupt: tensor 'out\.kernel'"):
        target.load_weights(path)
    for key, value in target.state_dict().items():
        assert torch.equal(value, before[key])  # nothing changed
    target.load_weights(path, verify=False)  # skips the check: loads the damaged weights
    assert not torch.equal(target.get_layer("out").kernel, source.get_layer("out").kernel)
    assert torch.equal(target.get_layer("hidden").kernel, source.get_layer("hidden").kernel)


def test_malformed_checksums_metadata_is_a_clear_error(tmp_path: Path) -> None:
    model = mlp()
    tensors = tensors_for_saving(model.state_dict())
    sums = {"algorithm": "xxh3_64", "block": 8 << 20, "tensors": {"out.bias": "00"}}
    header, _ = safetensors_header(tensors, {"lamina_checksums": json.dumps(sums)})
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"".join(bytes(c) for c in safetensors_chunks(tensors, header)))
    with pytest.raises(Exception, match=r"metadata: checksums: 'tensors' must name exactly"):
        model.load_weights(path)
    model.load_weights(path, verify=False)


def test_writer_matches_the_safetensors_library_for_mixed_dtypes() -> None:
    tensors = {
        "a": torch.arange(3, dtype=torch.float16),
        "b": torch.randn(2, 3, dtype=torch.float64),
        "c": torch.tensor([True, False, True]),
        "d": torch.arange(5, dtype=torch.int64),
        "e": torch.randn(4).to(torch.bfloat16),
        "f": torch.zeros(0, 3),
        "g": torch.tensor(7.0),
    }
    header, size = safetensors_header(tensors, {"k": "v"})
    blob = b"".join(bytes(chunk) for chunk in safetensors_chunks(tensors, header))
    assert len(blob) == size
    loaded = safetensors.torch.load(blob)
    assert sorted(loaded) == sorted(tensors)
    for key, value in tensors.items():
        assert loaded[key].dtype == value.dtype and torch.equal(loaded[key], value), key
    # Largest elements first, so every tensor is aligned for zero-copy readers.
    offsets = json.loads(blob[8 : 8 + int.from_bytes(blob[:8], "little")])
    assert offsets["b"]["data_offsets"][0] == 0 and offsets["__metadata__"] == {"k": "v"}


def test_shape_mismatch_names_file_layer_and_weight_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    mlp(units=5).save_weights(path)
    target = mlp(units=3)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(WeightsMismatchError) as caught:
        target.load_weights(path)
    message = str(caught.value)
    assert str(path) in message
    assert "layer 'hidden' weight 'kernel': the file has (4, 5) float32" in message
    assert "the model expects (4, 3) float32" in message
    for key, value in target.state_dict().items():
        assert torch.equal(value, before[key])


def test_another_dtype_is_cast_as_keras_does(tmp_path: Path) -> None:
    tensors = {k: torch.randn_like(v).double() for k, v in mlp().state_dict().items()}
    safetensors.torch.save_file(tensors, tmp_path / "w.safetensors")
    target = mlp()
    target.load_weights(tmp_path / "w.safetensors")
    bias = target.get_layer("out").bias
    assert bias.dtype == torch.float32
    assert torch.equal(bias, tensors["out.bias"].float())


def test_missing_and_unexpected_weights_strict_and_not(tmp_path: Path) -> None:
    source = mlp()
    tensors = {k: v for k, v in source.state_dict().items() if k != "out.bias"}
    tensors["extra.kernel"] = torch.zeros(2)
    safetensors.torch.save_file(tensors, tmp_path / "w.safetensors")
    target = mlp()
    with pytest.raises(WeightsMismatchError) as caught:
        target.load_weights(tmp_path / "w.safetensors")
    message = str(caught.value)
    assert "1 missing: layer 'out' weight 'bias' (2,) float32" in message
    assert "1 unexpected: layer 'extra' weight 'kernel' (2,) float32" in message
    bias_before = target.get_layer("out").bias.detach().clone()
    target.load_weights(tmp_path / "w.safetensors", strict=False)
    assert torch.equal(target.get_layer("hidden").kernel, source.get_layer("hidden").kernel)
    assert torch.equal(target.get_layer("out").bias, bias_before)


def test_unbuilt_model_gets_a_clear_error(tmp_path: Path) -> None:
    mlp().save_weights(tmp_path / "w.safetensors")
    lazy = Sequential([Dense(3), Dense(2)])
    with pytest.raises(ValueError, match=r"has no weights yet.*Build it first"):
        lazy.load_weights(tmp_path / "w.safetensors")


def test_not_a_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00[1,2]")
    with pytest.raises(ValueError, match="header must be a JSON object") as caught:
        mlp().load_weights(path)
    assert str(path) in str(caught.value)


def test_tied_and_captured_weights_are_stored_once(tmp_path: Path) -> None:
    shared = torch.nn.Parameter(torch.ones(3))

    class Uses(Layer):
        def __init__(self, weight: torch.nn.Parameter, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.weight = weight

        def call(self, inputs: torch.Tensor) -> torch.Tensor:
            return inputs * self.weight

    x = Input(shape=(3,))
    model = Model(x, Uses(shared, name="second")(Uses(shared, name="first")(x)))
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    assert sorted(safetensors.torch.load_file(path)) == ["first.weight"]
    with torch.no_grad():
        shared.fill_(0.0)
    model.load_weights(path)
    assert torch.equal(shared, torch.ones(3))


def test_tensors_for_saving_separates_views_of_one_storage() -> None:
    base = torch.arange(6.0)
    out = tensors_for_saving({"a": base[:3], "b": base[3:], "c": base.view(2, 3).t()})
    assert out["c"].is_contiguous() and torch.equal(out["c"], base.view(2, 3).t())
    blob = safetensors.torch.save(out)  # the library refuses tensors that share memory
    assert torch.equal(safetensors.torch.load(blob)["b"], base[3:])


@pytest.mark.parametrize("kind", ["weights", "model"])
def test_a_write_that_fails_midway_leaves_the_old_file(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lamina.saving import model_saver, tensorfile

    path = tmp_path / ("w.safetensors" if kind == "weights" else "m.lamina")
    path.write_bytes(b"old")

    def half_then_fail(tensors, header):  # type: ignore[no-untyped-def]
        yield header
        raise OSError("disk full")

    monkeypatch.setattr(model_saver, "safetensors_chunks", half_then_fail)
    monkeypatch.setattr(tensorfile, "safetensors_chunks", half_then_fail)
    model = mlp()
    with pytest.raises(OSError, match="disk full"):
        model.save_weights(path) if kind == "weights" else model.save(path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_dtype_safetensors_cannot_store_fails_before_writing(tmp_path: Path) -> None:
    model = mlp()
    model.register_buffer("phase", torch.ones(2, dtype=torch.complex128))
    with pytest.raises(SaveError, match=r"'phase' has dtype torch.complex128.*cast it"):
        model.save(tmp_path / "m.lamina")
    with pytest.raises(SaveError, match="complex128"):
        model.save_weights(tmp_path / "w.safetensors")
    assert list(tmp_path.iterdir()) == []
