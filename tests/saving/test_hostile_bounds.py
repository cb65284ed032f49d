"""Hostile files against the loader's bounds and integrity checks, each built by hand here.

All files load in one fresh subprocess under CPU-time and memory limits (`resource.setrlimit`),
so a file that slipped past a bound would show as a timeout or a MemoryError, not a slow test
run; for each file the child records the outcome, the seconds it took, which modules the load
imported (`sys.modules` before and after) and whether the sentinel file was written.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from saving.files_hostile import (
    layer_entry,
    read_entries,
    reference_file,
    safetensors_bytes,
    write_zip,
)

SECONDS = 2.0
"""Most time one refused load may take (each takes milliseconds when the bound holds)."""

CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, threading, time
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    import numpy as np
    import lamina
    from lamina.cli.main import _plain
    from lamina.saving import inspect_file

    cases, sentinel = json.loads(sys.argv[1]), sys.argv[2]
    # Warm up: what any load imports the first time is not the hostile file's doing.
    inspect_file(sys.argv[3])
    lamina.load_model(sys.argv[3])
    lamina.load_model(sys.argv[4]).fit(
        np.zeros((8, 4), "float32"), np.zeros((8, 3), "float32"), verbose=0
    )
    results = {}
    for name, (path, how) in cases.items():
        print(name, file=sys.stderr, flush=True)  # names the file if the process dies
        before = set(sys.modules)
        start = time.perf_counter()
        outcome = {}
        try:
            if how == "truncate":  # the file shrinks under the first read of tensor data
                preadv, cut = os.preadv, int(path.rsplit("_", 1)[1].split(".")[0])
                once = []

                def shrinking(fd, buffers, offset):
                    if not once and threading.current_thread() is not threading.main_thread():
                        once.append(os.truncate(path, min(cut, offset + 7)))
                    return preadv(fd, buffers, offset)

                os.preadv = shrinking
                try:
                    lamina.load_model(path)
                finally:
                    os.preadv = preadv
            elif how == "inspect":
                report = inspect_file(path)
                outcome["text"] = str(report) + json.dumps(_plain(report))
            else:
                model = lamina.load_model(path)
                params = list(model.parameters())
                outcome["distinct"] = len({id(p) for p in params}) == len(params)
                if how == "fit":
                    x = np.zeros((8, 4), "float32")
                    model.fit(x, np.zeros((8, 3), "float32"), verbose=0)
            outcome["result"] = "loaded"
        except Exception as error:
            outcome["result"] = type(error).__name__
            outcome["message"] = str(error)[-600:]
        outcome["seconds"] = time.perf_counter() - start
        outcome["imported"] = sorted(set(sys.modules) - before)[:20]
        outcome["sentinel"] = os.path.exists(sentinel)
        results[name] = outcome
    print(json.dumps(results))
    """
)

Builder = Callable[[Path, Path], Path]
CASES: dict[str, tuple[str, str, str, Builder]] = {}
"""name -> (category, how to load, what the error says, builder(folder, reference))."""


def case(category: str, says: str, how: str = "load") -> Callable[[Builder], Builder]:
    def register(build: Builder) -> Builder:
        CASES[build.__name__.lstrip("_")] = (category, how, says, build)
        return build

    return register


def _entries_with(ref: Path, **changes: bytes) -> dict[str, bytes]:
    entries = read_entries(ref)
    entries.update({k.replace("_", "."): v for k, v in changes.items()})
    return entries


def _config(ref: Path) -> dict[str, Any]:
    return json.loads(read_entries(ref)["config.json"])


def _with_config(folder: Path, ref: Path, name: str, config: dict[str, Any]) -> Path:
    entries = read_entries(ref)
    entries["config.json"] = json.dumps(config).encode()
    return write_zip(folder / f"{name}.lamina", entries)


# ------------------------------------------------------------ imports from file strings
@case("imports", "dtype")
def _dtype_field(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    layer_entry(config, "dense")["config"]["dtype"] = "_dynamo"
    return _with_config(folder, ref, "dtype_field", config)


@case("imports", "")  # refused, or loaded and refused when called: never an import
def _cast_node(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    layers = config["model"]["config"]["layers"]
    layers.insert(
        2,
        {
            "class_name": "Operation",
            "config": {
                "name": "cast",
                "op": "cast",
                "args": {"__tuple__": [{"__slot__": 0}, "_inductor"]},
                "kwargs": {},
            },
            "inbound_nodes": [
                {
                    "inputs": {"__tensor__": ["dense", 0, 0]},
                    "kwargs": {},
                    "outputs": ["spec", [None, 3], "float32"],
                }
            ],
        },
    )
    return _with_config(folder, ref, "cast_node", config)


@case("imports", "dtype")
def _dtype_tag(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    layer_entry(config, "dense")["config"]["dtype"] = {"__dtype__": "_inductor"}
    return _with_config(folder, ref, "dtype_tag", config)


# ------------------------------------------------------------------- memory and CPU
@case("memory", "JSON values")
def _json_lists(folder: Path, ref: Path) -> Path:
    text = b'{"model": [' + b"[]," * 3_000_000 + b"[]]}"
    entries = _entries_with(ref, config_json=text)
    return write_zip(folder / "json_lists.lamina", entries, compress=False)


@case("memory", "JSON values")
def _header_lists(folder: Path, ref: Path) -> Path:
    header = b'{"__metadata__": {}, "x": [' + b"[]," * 3_000_000 + b"[]]}"
    header += b" " * (-len(header) % 8)
    weights = len(header).to_bytes(8, "little") + header
    return write_zip(folder / "header_lists.lamina", _entries_with(ref, model_safetensors=weights))


@case("memory", "tensors")
def _many_tensors(folder: Path, ref: Path) -> Path:
    entry = b'"t%d": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}'
    header = b"{" + b", ".join(entry % i for i in range(300_000)) + b"}"
    header += b" " * (-len(header) % 8)
    weights = len(header).to_bytes(8, "little") + header
    entries = _entries_with(ref, model_safetensors=weights)
    return write_zip(folder / "many_tensors.lamina", entries, compress=False)


@case("memory", "compressed")
def _deflated_weights(folder: Path, ref: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in read_entries(ref).items():
            archive.writestr(name, data)
    path = folder / "deflated_weights.lamina"
    path.write_bytes(buffer.getvalue())
    return path


@case("memory", "layers")
def _many_layers(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    dense = '{"class_name": "Dense", "config": {"name": "d%d", "units": 1}}'
    copies = ", ".join(dense % i for i in range(60_000))
    text = json.dumps(config).replace('"layers": [', '"layers": [' + copies + ", ", 1)
    entries = _entries_with(ref, config_json=text.encode())
    return write_zip(folder / "many_layers.lamina", entries, compress=False)


def _auc_file(folder: Path, name: str, value: Any) -> Path:
    from lamina import Input, Model
    from lamina.layers import Dense
    from lamina.metrics import AUC

    x = Input(shape=(4,), name="x")
    model = Model(x, Dense(3, name="dense")(x))
    model.compile(optimizer="sgd", loss="mse", metrics=[AUC(num_thresholds=123)])
    path = folder / f"{name}.lamina"
    model.save(path)
    entries = read_entries(path)
    text = entries["config.json"].decode()
    assert '"num_thresholds": 123' in text
    entries["config.json"] = text.replace('"num_thresholds": 123', f'"num_thresholds": {value}')
    return write_zip(path, entries)


@case("memory", "num_thresholds")
def _auc_float_thresholds(folder: Path, ref: Path) -> Path:
    return _auc_file(folder, "auc_float_thresholds", "1.5e8")


@case("memory", "num_thresholds")
def _auc_many_thresholds(folder: Path, ref: Path) -> Path:
    return _auc_file(folder, "auc_many_thresholds", "150000000")


# ----------------------------------------------------------------------------- crashes
def _optimizer_file(folder: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    from lamina import Input, Model
    from lamina.layers import Dense

    x = Input(shape=(4,), name="x")
    model = Model(x, Dense(3, name="dense")(x))
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((8, 4), "float32"), np.zeros((8, 3), "float32"), verbose=0)
    path = folder / f"{name}.lamina"
    model.save(path)
    entries = read_entries(path)
    from safetensors.torch import load

    tensors = load(entries["model.safetensors"])
    change(tensors)
    entries["model.safetensors"] = safetensors_bytes(tensors)
    return write_zip(path, entries)


@case("crashes", "state", how="fit")
def _state_one_element(folder: Path, ref: Path) -> Path:
    import torch

    def change(tensors: dict[str, Any]) -> None:
        tensors["optimizer/state/0/exp_avg"] = torch.zeros(1)

    return _optimizer_file(folder, "state_one_element", change)


@case("crashes", "state", how="fit")
def _state_wrong_dtype(folder: Path, ref: Path) -> Path:
    import torch

    def change(tensors: dict[str, Any]) -> None:
        tensors["optimizer/state/0/exp_avg_sq"] = torch.zeros(4, 3, dtype=torch.float64)

    return _optimizer_file(folder, "state_wrong_dtype", change)


# ------------------------------------------------------------- silently wrong weights
def _flip(folder: Path, ref: Path, name: str, position: int) -> Path:
    entries = read_entries(ref)
    weights = bytearray(entries["model.safetensors"])
    weights[position] ^= 0x10
    entries["model.safetensors"] = bytes(weights)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    raw = bytearray(buffer.getvalue())
    # Put back the CRC of the original bytes: the zip says the file is as saved.
    original = read_entries(ref)["model.safetensors"]
    info = zipfile.ZipFile(io.BytesIO(bytes(raw))).getinfo("model.safetensors")
    crc = zipfile.crc32(original).to_bytes(4, "little")  # type: ignore[attr-defined]
    new = zipfile.crc32(bytes(weights)).to_bytes(4, "little")  # type: ignore[attr-defined]
    raw = raw.replace(new, crc)
    assert int.from_bytes(crc, "little") != info.CRC
    path = folder / f"{name}.lamina"
    path.write_bytes(bytes(raw))
    return path


@case("wrong", "tensor 'dense.bias', bytes 0-12, has the xxh3_64 checksum")
def _last_byte(folder: Path, ref: Path) -> Path:
    return _flip(folder, ref, "last_byte", -1)


@case("wrong", "tensor 'dense.kernel', bytes 0-48, has the xxh3_64 checksum")
def _first_weight_byte(folder: Path, ref: Path) -> Path:
    weights = read_entries(ref)["model.safetensors"]
    return _flip(folder, ref, "first_weight_byte", 8 + int.from_bytes(weights[:8], "little"))


def _without_checksums(folder: Path, ref: Path, name: str) -> Path:
    """`ref` as lamina wrote it before it kept checksums: only the zip's CRC-32."""
    config = _config(ref)
    del config["checksums"]
    return _with_config(folder, ref, name, config)


@case("wrong", "CRC-32")
def _old_file_last_byte(folder: Path, ref: Path) -> Path:
    return _flip(folder, _without_checksums(folder, ref, "old"), "old_file_last_byte", -1)


@case("wrong", "CRC-32")
def _old_file_first_weight_byte(folder: Path, ref: Path) -> Path:
    old = _without_checksums(folder, ref, "old_first")
    weights = read_entries(old)["model.safetensors"]
    return _flip(
        folder, old, "old_file_first_weight_byte", 8 + int.from_bytes(weights[:8], "little")
    )


@case("wrong", "")
def _alias_kernel_to_bias(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    config["weights"]["aliases"] = {"dense.bias": "dense.kernel"}
    return _with_config(folder, ref, "alias_kernel_to_bias", config)


@case("wrong", "")
def _alias_bias_to_kernel(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    config["weights"]["aliases"] = {"dense.kernel": "dense.bias"}
    return _with_config(folder, ref, "alias_bias_to_kernel", config)


@case("crashes", "bytes early, in tensor 'dense.kernel'", how="truncate")
def _truncated_mid_tensor_999999(folder: Path, ref: Path) -> Path:
    """Truncated inside the first tensor while it is read (a mapped copy died of SIGBUS)."""
    return write_zip(folder / "truncated_mid_tensor_999999.lamina", read_entries(ref))


@case("crashes", "was it truncated or replaced while loading", how="truncate")
def _truncated_to_nothing_0(folder: Path, ref: Path) -> Path:
    return write_zip(folder / "truncated_to_nothing_0.lamina", read_entries(ref))


# ---------------------------------------------- real builds and the bytes builds make
def _huge_dense(config: dict[str, Any]) -> None:
    layer_entry(config, "dense")["config"]["units"] = 1 << 30


@case("build", "max_build_bytes")
def _unknown_class_in_model_config(folder: Path, ref: Path) -> Path:
    """An unknown class_name anywhere used to force a real build, which then allocated the
    huge kernel: now the build stays on meta, and the kernel is refused before it is made."""
    config = _config(ref)
    config["model"]["config"]["extra"] = {"class_name": "NoSuchClass", "config": {}}
    _huge_dense(config)
    return _with_config(folder, ref, "unknown_class_in_model_config", config)


@case("build", "max_build_bytes")
def _unknown_class_in_layer_entry(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    layer_entry(config, "dense")["extra"] = [{"class_name": "Nope", "module": "os"}]
    _huge_dense(config)
    return _with_config(folder, ref, "unknown_class_in_layer_entry", config)


@case("build", "Dense 'dense': weight 'kernel' of shape (4, 1000000000)")
def _dense_of_a_billion(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    layer_entry(config, "dense")["config"]["units"] = 10**9
    return _with_config(folder, ref, "dense_of_a_billion", config)


@case("build", "Embedding 'dense': weight 'embeddings'")
def _embedding_of_a_terabyte(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    entry = layer_entry(config, "dense")
    entry["class_name"] = "Embedding"
    entry["config"] = {"name": "dense", "input_dim": 10**11, "output_dim": 3}
    return _with_config(folder, ref, "embedding_of_a_terabyte", config)


def _build_config(folder: Path, ref: Path, name: str, specs: Any) -> Path:
    config = _config(ref)
    layer_entry(config, "dense")["build_config"] = {"input_specs": specs}
    return _with_config(folder, ref, name, config)


@case("build", "max_build_bytes")
def _complex128_build_input(folder: Path, ref: Path) -> Path:
    """1 << 27 values: within the old cap on elements, 2 GiB as complex128."""
    return _build_config(
        folder, ref, "complex128_build_input", ["spec", [None, 1 << 27], "complex128"]
    )


@case("build", "max_build_bytes")
def _complex128_build_inputs(folder: Path, ref: Path) -> Path:
    spec = ["spec", [None, 1 << 25], "complex128"]
    return _build_config(folder, ref, "complex128_build_inputs", {"list": [spec, spec, spec]})


@case("build", "no valid output spec")
def _node_without_spec(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    del layer_entry(config, "dense")["inbound_nodes"][0]["outputs"]
    return _with_config(folder, ref, "node_without_spec", config)


@case("build", "no valid output spec")
def _node_with_bad_spec(folder: Path, ref: Path) -> Path:
    config = _config(ref)
    layer_entry(config, "scale")["inbound_nodes"][0]["outputs"] = ["spec", [None, -1], "float32"]
    return _with_config(folder, ref, "node_with_bad_spec", config)


def _compiled_with(folder: Path, name: str, key: str, value: Any) -> Path:
    path = _optimizer_file(folder, name, lambda t: None)
    config = _config(path)
    config["compile_config"][key] = value
    return _with_config(folder, path, name, config)


_HUGE_LAYER = {
    "__layer__": {"class_name": "Dense", "config": {"name": "big", "units": 1 << 30}},
}


@case("build", "compile config holds a layer")
def _layer_as_loss(folder: Path, ref: Path) -> Path:
    return _compiled_with(folder, "layer_as_loss", "loss", _HUGE_LAYER)


@case("build", "compile config holds a layer")
def _layer_in_metrics(folder: Path, ref: Path) -> Path:
    return _compiled_with(folder, "layer_in_metrics", "metrics", ["mae", [_HUGE_LAYER]])


# ----------------------------------------------------------------------------- terminal
def _renamed(folder: Path, ref: Path, name: str, new: str) -> Path:
    entries = read_entries(ref)
    text = entries["config.json"].decode().replace('"dense"', json.dumps(new))
    entries["config.json"] = text.encode()
    return write_zip(folder / f"{name}.lamina", entries)


@case("terminal", "", how="inspect")
def _escape_in_name(folder: Path, ref: Path) -> Path:
    return _renamed(folder, ref, "escape_in_name", "dense\x1b[2K\r\x1b[1A safe, no trust needed")


@case("terminal", "", how="inspect")
def _bidi_in_name(folder: Path, ref: Path) -> Path:
    return _renamed(folder, ref, "bidi_in_name", "dense\u202e\u0007\x9b")


# --------------------------------------------------------------------------------- run
@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("bounds")
    ref = reference_file(folder)
    files = {name: (str(build(folder, ref)), how) for name, (_, how, _, build) in CASES.items()}
    sentinel, compiled = folder / "sentinel", _optimizer_file(folder, "compiled", lambda t: None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(files), str(sentinel), str(ref), str(compiled)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"OMP_NUM_THREADS": "1", "PATH": "", "PYTHONPATH": ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_every_category_has_two_attacks() -> None:
    categories = [category for category, *_ in CASES.values()]
    for category in ("imports", "memory", "crashes", "wrong", "build", "terminal"):
        assert categories.count(category) >= 2, category


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file(name: str, outcomes: dict[str, dict[str, Any]]) -> None:
    category, _, says, _ = CASES[name]
    outcome = outcomes[name]
    assert not outcome["sentinel"]
    assert outcome["imported"] == []
    assert outcome["seconds"] < SECONDS
    if category == "imports" and not says:
        assert outcome["result"] in ("loaded", "LoadError")
    elif category == "wrong" and not says:  # aliases: loads, but ties nothing new
        assert outcome["result"] == "loaded" and outcome["distinct"]
    elif category == "terminal":
        assert outcome["result"] == "loaded"
        text = outcome["text"]
        assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text)
        assert ("\u202e" not in text and "\\x1b" in text) or "\\u202e" in text
    else:
        assert outcome["result"] in ("LoadError", "WeightsMismatchError"), outcome
        assert says.lower() in outcome["message"].lower(), outcome["message"]
