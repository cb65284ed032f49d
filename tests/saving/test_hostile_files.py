"""A corpus of hostile `.lamina` files: each is refused with an error that names the file and
says why, and nothing in it runs (hostile code would create a sentinel file).

The function-level corpus (sources alone, without a file) is in `test_function_hostile.py`.
"""

from __future__ import annotations

import json
import pickle
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lamina
from lamina.saving import FunctionDeserializationError, LoadError, inspect_file
from saving.files_hostile import (
    expression,
    layer_entry,
    raw_safetensors,
    read_entries,
    reference_file,
    safetensors_bytes,
    set_function,
    with_config,
    write_zip,
)

REFUSED = (LoadError, FunctionDeserializationError)


@dataclass
class Case:
    name: str
    build: Callable[[Path, Path, str], Path]
    """(folder, reference file, sentinel path) -> the hostile file."""
    says: str
    """A fragment of the error message: why it was refused."""
    load_kwargs: dict[str, Any] = field(default_factory=dict)
    """Options `load_model` needs to refuse it (a flipped bit needs `verify=True`)."""


CASES: list[Case] = []


def case(
    name: str, says: str, **load_kwargs: Any
) -> Callable[[Callable[[Path, Path, str], Path]], Any]:
    def register(build: Callable[[Path, Path, str], Path]) -> Callable[[Path, Path, str], Path]:
        CASES.append(Case(name, build, says, load_kwargs))
        return build

    return register


def entries_plus(ref: Path, *extra: tuple[str, bytes]) -> list[tuple[str, bytes]]:
    return [*read_entries(ref).items(), *extra]


def function_case(case_name: str, source: str, says: str = "", **fields: Any) -> None:
    """A Lambda whose saved function is `source` (with `{S}` standing for the sentinel)."""

    def build(folder: Path, ref: Path, sentinel: str) -> Path:
        text = source.replace("{S}", sentinel)
        return with_config(
            ref, folder / "m.lamina", lambda c: set_function(c, expression(text, **fields))
        )

    CASES.append(Case(f"function-{case_name}", build, says))


def config_case(name: str, says: str, change: Callable[[dict[str, Any], str], None]) -> None:
    def build(folder: Path, ref: Path, sentinel: str) -> Path:
        return with_config(ref, folder / "m.lamina", lambda c: change(c, sentinel))

    CASES.append(Case(f"config-{name}", build, says))


# ------------------------------------------------------------------------------ the zip
@case("entry-dotdot", "unsafe zip entry name")
def _dotdot(folder: Path, ref: Path, sentinel: str) -> Path:
    return write_zip(folder / "m.lamina", entries_plus(ref, ("../../evil.py", b"import os")))


@case("entry-absolute", "unsafe zip entry name")
def _absolute(folder: Path, ref: Path, sentinel: str) -> Path:
    return write_zip(folder / "m.lamina", entries_plus(ref, (sentinel, b"x")))


@case("entry-backslash", "unsafe zip entry name")
def _backslash(folder: Path, ref: Path, sentinel: str) -> Path:
    return write_zip(folder / "m.lamina", entries_plus(ref, ("..\\evil.py", b"x")))


@case("entry-drive-letter", "unsafe zip entry name")
def _drive(folder: Path, ref: Path, sentinel: str) -> Path:
    return write_zip(folder / "m.lamina", entries_plus(ref, ("C:/evil.py", b"x")))


@case("entry-unexpected", "unexpected zip entry")
def _unexpected(folder: Path, ref: Path, sentinel: str) -> Path:
    return write_zip(folder / "m.lamina", entries_plus(ref, ("payload.py", b"import os")))


@case("entry-duplicate", "appears twice")
def _duplicate(folder: Path, ref: Path, sentinel: str) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it writes
        return write_zip(folder / "m.lamina", entries_plus(ref, ("config.json", b"{}")))


@case("entry-missing", "lacks")
def _missing(folder: Path, ref: Path, sentinel: str) -> Path:
    entries = read_entries(ref)
    del entries["model.safetensors"]
    return write_zip(folder / "m.lamina", entries)


@case("bomb-declared-ratio", "decompression bomb")
def _bomb(folder: Path, ref: Path, sentinel: str) -> Path:
    entries = read_entries(ref)
    entries["metadata.json"] = b"{}" + b" " * (30 << 20)
    return write_zip(folder / "m.lamina", entries)


@case("bomb-weights-deflated", "decompression bomb")
def _bomb_weights(folder: Path, ref: Path, sentinel: str) -> Path:
    entries = read_entries(ref)
    blob = safetensors_bytes({"dense.kernel": np.zeros((4096, 2048), np.float32)})
    path = folder / "m.lamina"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in {**entries, "model.safetensors": blob}.items():
            archive.writestr(name, data)
    return path


@case("bomb-lying-size", "cannot be read")
def _bomb_lying(folder: Path, ref: Path, sentinel: str) -> Path:
    # config.json really inflates to 4 MiB, but the archive claims 200 bytes.
    entries = read_entries(ref)
    entries["config.json"] = entries["config.json"] + b" " * (4 << 20)
    path = write_zip(folder / "m.lamina", entries)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.find(signature + (b"\x14\x00" if signature == b"PK\x03\x04" else b""))
        while start >= 0:
            name_field = 26 if signature == b"PK\x03\x04" else 28
            name_length = struct.unpack_from("<H", data, start + name_field)[0]
            header = 30 if signature == b"PK\x03\x04" else 46
            if data[start + header : start + header + name_length] == b"config.json":
                struct.pack_into("<L", data, start + offset, 200)
                break
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))
    return path


@case("json-deeply-nested", "nested")
def _deep(folder: Path, ref: Path, sentinel: str) -> Path:
    entries = read_entries(ref)
    entries["config.json"] = b"[" * 200_000 + b"]" * 200_000
    return write_zip(folder / "m.lamina", entries, compress=False)


@case("json-nested-past-limit", "nested more than")
def _deep_moderate(folder: Path, ref: Path, sentinel: str) -> Path:
    entries = read_entries(ref)
    config = json.loads(entries["config.json"])
    value: Any = 1
    for _ in range(400):
        value = {"a": value}
    config["model"]["config"]["extra"] = value
    entries["config.json"] = json.dumps(config).encode()
    return write_zip(folder / "m.lamina", entries)


@case("truncated-half", "damaged or truncated")
def _truncated(folder: Path, ref: Path, sentinel: str) -> Path:
    data = ref.read_bytes()
    (folder / "m.lamina").write_bytes(data[: len(data) // 2])
    return folder / "m.lamina"


@case("truncated-tail", "damaged or truncated")
def _truncated_tail(folder: Path, ref: Path, sentinel: str) -> Path:
    (folder / "m.lamina").write_bytes(ref.read_bytes()[:-10])
    return folder / "m.lamina"


@case("empty-file", "damaged or truncated")
def _empty(folder: Path, ref: Path, sentinel: str) -> Path:
    (folder / "m.lamina").write_bytes(b"")
    return folder / "m.lamina"


@case("keras-3-file", "Keras model file")
def _keras_file(folder: Path, ref: Path, sentinel: str) -> Path:
    entries = {"metadata.json": b"{}", "config.json": b"{}", "model.weights.h5": b"\x89HDF"}
    return write_zip(folder / "m.keras", entries)


@case("keras-2-h5-file", "HDF5 file")
def _h5_file(folder: Path, ref: Path, sentinel: str) -> Path:
    (folder / "m.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    return folder / "m.h5"


@case("text-file", "not a zip archive")
def _text(folder: Path, ref: Path, sentinel: str) -> Path:
    (folder / "m.lamina").write_text("import os; os.system('rm -rf /')")
    return folder / "m.lamina"


class _Payload:
    """Unpickling this would create the sentinel file."""

    def __init__(self, sentinel: str) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.sentinel, "w"))


@case("raw-pickle", "not a zip archive")
def _pickle(folder: Path, ref: Path, sentinel: str) -> Path:
    (folder / "m.lamina").write_bytes(pickle.dumps(_Payload(sentinel)))
    return folder / "m.lamina"


@case("torch-save-pickle", "unexpected zip entry")
def _torch_save(folder: Path, ref: Path, sentinel: str) -> Path:
    torch.save({"model": _Payload(sentinel)}, folder / "m.lamina")
    return folder / "m.lamina"


@case("weights-corrupted-crc", "checksum", verify=True)
def _crc(folder: Path, ref: Path, sentinel: str) -> Path:
    data = bytearray(ref.read_bytes())
    weights = read_entries(ref)["model.safetensors"]
    start = bytes(data).find(weights)
    data[start + len(weights) - 3] ^= 0xFF  # a byte of the last tensor
    (folder / "m.lamina").write_bytes(bytes(data))
    return folder / "m.lamina"


# ------------------------------------------------------------------------------ config.json
@case("format-version-newer", "upgrade lamina")
def _version(folder: Path, ref: Path, sentinel: str) -> Path:
    return with_config(ref, folder / "m.lamina", lambda c: c.update(format_version=2))


config_case("format-version-string", "must be an int", lambda c, s: c.update(format_version="1"))
config_case("format-version-missing", "must be an int", lambda c, s: c.pop("format_version"))


@case("config-not-object", "must hold a JSON object")
def _not_object(folder: Path, ref: Path, sentinel: str) -> Path:
    entries = read_entries(ref)
    entries["config.json"] = b"[1, 2, 3]"
    return write_zip(folder / "m.lamina", entries)


@case("config-not-json", "not valid JSON")
def _not_json(folder: Path, ref: Path, sentinel: str) -> Path:
    entries = read_entries(ref)
    entries["config.json"] = b"{'model': __import__('os')}"
    return write_zip(folder / "m.lamina", entries)


def _layer(config: dict[str, Any], name: str = "dense") -> dict[str, Any]:
    return layer_entry(config, name)


config_case(
    "class-unknown",
    "@lamina.saving.register_serializable",
    lambda c, s: _layer(c).update(class_name="EvilLayer"),
)
config_case(
    "class-os-system", "not a lamina layer", lambda c, s: _layer(c).update(class_name="os.system")
)
config_case(
    "class-registry-key", "not registered", lambda c, s: _layer(c).update(class_name="os>system")
)
config_case(
    "class-with-module",
    "saved from module 'os'",
    lambda c, s: _layer(c).update(class_name="system", module="os"),
)
config_case(
    "class-builtin-name-from-other-module",
    "saved from module 'subprocess'",
    lambda c, s: _layer(c).update(class_name="Dense", module="subprocess"),
)
config_case(
    "class-eval-builtin", "not a lamina layer", lambda c, s: _layer(c).update(class_name="eval")
)
config_case(
    "operation-unknown-op",
    "Unknown operation",
    lambda c, s: c["model"]["config"]["layers"][-1]["config"].update(op="system"),
)
config_case(
    "dtype-tag-not-a-dtype",
    "unknown dtype",
    lambda c, s: _layer(c)["config"].update(dtype={"__dtype__": "save"}),
)
config_case(
    "array-of-objects",
    "not numeric",
    lambda c, s: _layer(c, "scale")["config"].update(
        arguments={"factor": {"__array__": "ndarray", "dtype": "O", "shape": [1], "data": ""}}
    ),
)
config_case(
    "unknown-tag",
    "unknown tag",
    lambda c, s: _layer(c, "scale")["config"].update(
        arguments={"factor": {"__reduce__": ["os.system", [f"touch {s}"]]}}
    ),
)
config_case(
    "graph-cycle",
    "cycle",
    lambda c, s: _layer(c)["inbound_nodes"][0].update(inputs={"__tensor__": ["scale", 0, 0]}),
)
config_case(
    "graph-unknown-layer",
    "which the model lacks",
    lambda c, s: _layer(c)["inbound_nodes"][0].update(inputs={"__tensor__": ["ghost", 0, 0]}),
)
config_case(
    "graph-bad-reference",
    "tensor reference",
    lambda c, s: _layer(c)["inbound_nodes"][0].update(inputs={"__tensor__": "x"}),
)
config_case(
    "compile-optimizer-class",
    "compile settings",
    lambda c, s: c.update(
        compile_config={"optimizer": {"class_name": "os.system", "config": {}}, "loss": "mse"}
    ),
)


# ------------------------------------------------------------------------------ weights
def weights_case(name: str, says: str, make: Callable[[], bytes]) -> None:
    def build(folder: Path, ref: Path, sentinel: str) -> Path:
        entries = read_entries(ref)
        entries["model.safetensors"] = make()
        return write_zip(folder / "m.lamina", entries)

    CASES.append(Case(f"weights-{name}", build, says))


GOOD = {"dense.kernel": np.zeros((4, 3), np.float32), "dense.bias": np.zeros(3, np.float32)}
weights_case(
    "wrong-shape",
    "wrong shape",
    lambda: safetensors_bytes({**GOOD, "dense.kernel": np.zeros((3, 4), np.float32)}),
)
weights_case(
    "wrong-dtype",
    "float64",
    lambda: safetensors_bytes({**GOOD, "dense.bias": np.zeros(3, np.float64)}),
)
weights_case(
    "missing-weight", "1 missing", lambda: safetensors_bytes({"dense.kernel": GOOD["dense.kernel"]})
)
weights_case(
    "unexpected-weight",
    "1 unexpected",
    lambda: safetensors_bytes({**GOOD, "payload.code": np.zeros(1, np.uint8)}),
)
weights_case(
    "overlapping-offsets",
    "overlap",
    lambda: raw_safetensors(
        {
            "dense.kernel": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]},
            "dense.bias": {"dtype": "F32", "shape": [3], "data_offsets": [36, 48]},
        },
        bytes(48),
    ),
)
weights_case(
    "offsets-outside-data",
    "outside",
    lambda: raw_safetensors(
        {"dense.kernel": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 1 << 40]}},
        bytes(48),
    ),
)
weights_case("header-length-lies", "header claims", lambda: (1 << 60).to_bytes(8, "little") + b"{}")
weights_case(
    "unknown-dtype",
    "dtype",
    lambda: raw_safetensors(
        {"dense.kernel": {"dtype": "PICKLE", "shape": [48], "data_offsets": [0, 48]}}, bytes(48)
    ),
)
weights_case(
    "header-nested",
    "nested",
    lambda: (400_000).to_bytes(8, "little") + b"[" * 200_000 + b"]" * 200_000,
)
weights_case("truncated-header", "truncated", lambda: b"\x10\x00")


config_case(
    "weights-order-not-a-list",
    "weights.order must be a list",
    lambda c, s: c["weights"].update(order="x"),
)
config_case(
    "weights-order-not-names",
    "weights.order must be a list",
    lambda c, s: c["weights"].update(order=[1, 2]),
)


# ------------------------------------------------------------------------------ functions
def set_reference(config: dict[str, Any], reference: dict[str, Any]) -> None:
    set_function(config, reference)


config_case(
    "function-module-os-system",
    "safe mode does not import",
    lambda c, s: set_reference(
        c,
        {"kind": "module", "version": 1, "name": "system", "module": "os", "qualname": "system"},
    ),
)
config_case(
    "function-named-os-system",
    "os.system",
    lambda c, s: set_reference(
        c, {"kind": "named", "version": 1, "name": "s", "path": "os.system"}
    ),
)
config_case(
    "function-registered-os-system",
    "os>system",
    lambda c, s: set_reference(
        c, {"kind": "registered", "version": 1, "name": "s", "key": "os>system"}
    ),
)
config_case(
    "function-partial-of-os-system",
    "os",
    lambda c, s: set_reference(
        c,
        {
            "kind": "partial",
            "version": 1,
            "name": "p",
            "func": {"kind": "named", "version": 1, "name": "s", "path": "os.system"},
            "args": [f"touch {s}"],
            "keywords": {},
        },
    ),
)
config_case(
    "function-output-shape-hostile",
    "__import__",
    lambda c, s: _layer(c, "scale")["config"].update(
        output_shape={
            "__function__": expression(f"lambda shape: __import__('os').system('touch {s}')")
        }
    ),
)
function_case(
    "import-global",
    "lambda x, factor: os.system('touch {S}')",
    "import:os",
    globals={"os": "import:os"},
)
function_case(
    "numpy-global", "lambda x, factor: np.save('{S}', x)", "numpy", globals={"np": "numpy"}
)
function_case(
    "dunder-import", "lambda x, factor: __import__('os').system('touch {S}')", "__import__"
)
function_case("open", "lambda x, factor: open('{S}', 'w')", "open")
function_case("eval", "lambda x, factor: eval(\"open('{S}', 'w')\")", "eval")
function_case("exec", "lambda x, factor: exec(\"open('{S}', 'w')\")", "exec")
function_case("compile", "lambda x, factor: compile('1', 'f', 'eval')", "compile")
function_case(
    "subclasses-chain", "lambda x, factor: ().__class__.__base__.__subclasses__()", "__class__"
)
function_case(
    "globals-chain", "lambda x, factor: x.__init__.__globals__['os'].system('id')", "__init__"
)
function_case("getattr", "lambda x, factor: getattr(x, 'numpy')().tofile('{S}')", "getattr")
function_case("globals-call", "lambda x, factor: globals()['__builtins__']", "globals")
function_case("vars-call", "lambda x, factor: vars()", "vars")
function_case("type-call", "lambda x, factor: type(x).__mro__", "type")
function_case(
    "torch-save", "lambda x, factor: torch.save(x, '{S}')", "torch.save", globals={"torch": "torch"}
)
function_case(
    "torch-load", "lambda x, factor: torch.load('{S}')", "torch.load", globals={"torch": "torch"}
)
function_case(
    "torch-from-file",
    "lambda x, factor: torch.from_file('{S}')",
    "from_file",
    globals={"torch": "torch"},
)
function_case(
    "torch-hub",
    "lambda x, factor: torch.hub.load('a', 'b')",
    "torch.hub",
    globals={"torch": "torch"},
)
function_case("tofile", "lambda x, factor: x.numpy().tofile('{S}')", "numpy")
function_case("nested-lambda-smuggle", "lambda x, factor: (lambda: __import__('os'))()", "lambda")
function_case(
    "import-statement",
    "def f(x, factor):\n    import os\n    os.system('touch {S}')\n    return x\n",
    "import",
    name="f",
)
function_case("format-string", "lambda x, factor: '{0.__class__}'.format(x)", "format")
function_case("while-loop", "def f(x, factor):\n    while True:\n        pass\n", "while", name="f")
function_case("huge-power", "lambda x, factor: 10 ** 10 ** 10", "65536 bits")
function_case("breakpoint", "lambda x, factor: breakpoint()", "breakpoint")
function_case(
    "decorator", "@open('{S}', 'w')\ndef f(x, factor):\n    return x\n", "decorator", name="f"
)
function_case("builtins-name", "lambda x, factor: __builtins__", "__builtins__")
function_case("generator-frame", "lambda x, factor: (i for i in ()).gi_frame.f_globals", "gi_frame")


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reference_file(tmp_path_factory.mktemp("reference"))


def test_the_reference_file_loads(reference: Path) -> None:
    model = lamina.load_model(reference)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    original = lamina.models.Model  # the reference model is rebuilt from scratch here:
    assert isinstance(model, original)
    kernel, bias = model.get_layer("dense").get_weights()
    expected = (x @ kernel + bias) * 2.0
    np.testing.assert_allclose(model.predict(x, verbose=0), expected[:, :2] + 1.0, rtol=1e-6)


@pytest.mark.parametrize("hostile", CASES, ids=lambda c: c.name)
def test_hostile_file_is_refused_and_nothing_runs(
    hostile: Case, reference: Path, tmp_path: Path
) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = hostile.build(tmp_path, reference, str(sentinel))
    with pytest.raises(REFUSED) as caught:
        lamina.load_model(path, **hostile.load_kwargs)
    message = str(caught.value)
    assert str(path) in message, message
    if "function" in hostile.name and "older lamina" in message:
        # Source in a file is never parsed in safe mode any more: whatever it does, the
        # answer is the same refusal, which says how to load a trusted file.
        assert "safe_mode=False" in message, message
    else:
        assert hostile.says in message, message
    assert not sentinel.exists()


@pytest.mark.parametrize("hostile", CASES, ids=lambda c: c.name)
def test_inspecting_a_hostile_file_runs_nothing(
    hostile: Case, reference: Path, tmp_path: Path
) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = hostile.build(tmp_path, reference, str(sentinel))
    try:
        report = inspect_file(path, **hostile.load_kwargs)
    except LoadError as error:
        assert str(path) in str(error)
    else:
        if hostile.name.startswith("function-"):
            (scale,) = [f for f in report.functions if f.layer == "scale" and f.field == "function"]
            assert scale.loads != "op graph (safe)"
    assert not sentinel.exists()


def test_hostile_function_loads_nothing_even_with_trusted_modules(
    reference: Path, tmp_path: Path
) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = with_config(
        reference,
        tmp_path / "m.lamina",
        lambda c: set_function(
            c, expression(f"lambda x, factor: open('{sentinel}', 'w')", globals={})
        ),
    )
    with pytest.raises(REFUSED, match="safe_mode=False"):
        lamina.load_model(path, trusted_modules=["os", "builtins"])
    assert not sentinel.exists()


def test_nothing_is_extracted_next_to_the_file(reference: Path, tmp_path: Path) -> None:
    path = write_zip(tmp_path / "m.lamina", entries_plus(reference, ("evil.txt", b"x")))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(LoadError):
        lamina.load_model(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_decompression_bomb_is_refused_before_inflating(reference: Path, tmp_path: Path) -> None:
    path = _bomb(tmp_path, reference, "")
    # Refused from the sizes in the directory alone: nothing near 30 MiB is ever inflated.
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("metadata.json")
    assert info.file_size > 1000 * info.compress_size
    with pytest.raises(LoadError, match="decompression bomb"):
        lamina.load_model(path)


def test_a_flipped_bit_in_the_weights_is_an_error_by_default(
    reference: Path, tmp_path: Path
) -> None:
    """A default load checks the checksums: the damaged byte is refused, naming the file
    and the tensor; `verify=False` skips the check and takes the damaged value as is."""
    path = _crc(tmp_path, reference, "")
    with pytest.raises(LoadError, match=r"is corrupt: tensor .*xxh3_64 checksum") as caught:
        lamina.load_model(path)
    assert str(path) in str(caught.value)
    good, bad = lamina.load_model(reference), lamina.load_model(path, verify=False)
    differing = [
        name
        for (name, a), b in zip(good.state_dict().items(), bad.state_dict().values())
        if not torch.equal(a, b)
    ]
    assert len(differing) == 1
    assert inspect_file(reference, verify=True).weights_verified
    assert not inspect_file(path).weights_verified
    with pytest.raises(LoadError, match=r"is corrupt: tensor .*xxh3_64 checksum"):
        inspect_file(path, verify=True)
    with pytest.raises(LoadError, match=r"is corrupt: tensor .*xxh3_64 checksum"):
        good.load_weights(path)
    good.load_weights(path, verify=False)  # unverified: the damaged value is taken as is
    assert not torch.equal(
        good.state_dict()[differing[0]], lamina.load_model(reference).state_dict()[differing[0]]
    )


def test_a_file_without_checksums_is_checked_with_its_crc(reference: Path, tmp_path: Path) -> None:
    """A file written before lamina kept checksums still loads, checked with the zip's
    CRC-32; a damaged byte in it is refused."""
    old = with_config(reference, tmp_path / "old.lamina", lambda c: c.pop("checksums"))
    model = lamina.load_model(old)
    expected = lamina.load_model(reference).state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())
    damaged = _crc(tmp_path, old, "")
    with pytest.raises(LoadError, match="CRC-32"):
        lamina.load_model(damaged)
    lamina.load_model(damaged, verify=False)


# ------------------------------------------------------------------------------ Model subclasses
@lamina.saving.register_serializable(package="hostile_tests")
class Probe(lamina.Model):
    """A registered subclassed model, built by its first call."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = lamina.layers.Dense(2)

    def call(self, inputs: Any) -> Any:
        return self.dense(inputs)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


def test_a_subclass_named_in_a_file_is_never_imported(reference: Path, tmp_path: Path) -> None:
    path = with_config(
        reference,
        tmp_path / "m.lamina",
        lambda c: c["model"].update(
            subclass={"class_name": "Payload", "module": "lamina_hostile_payload_module"}
        ),
    )
    with pytest.warns(UserWarning, match=r"'Payload'.*not registered.*plain Model"):
        model = lamina.load_model(path)
    assert type(model) is lamina.Model
    assert "lamina_hostile_payload_module" not in sys.modules


@pytest.mark.parametrize(
    ("specs", "says"),
    [
        (["spec", [None, 1 << 40], "float32"], "LoadLimits.max_build_bytes"),
        (["spec", [None, 1 << 26], "complex128"], "LoadLimits.max_build_bytes"),
        (["spec", [None, 3], "no_such_dtype"], "must hold the input specs"),
        ("not specs", "must hold the input specs"),
    ],
)
def test_a_hostile_build_config_is_refused_before_allocating(
    tmp_path: Path, specs: Any, says: str
) -> None:
    probe = Probe()
    probe(torch.ones(1, 3))
    probe.save(tmp_path / "probe.lamina")
    path = with_config(
        tmp_path / "probe.lamina",
        tmp_path / "m.lamina",
        lambda c: c["model"].update(build_config={"input_specs": specs}),
    )
    with pytest.raises(LoadError, match=says) as caught:
        lamina.load_model(path)
    assert str(path) in str(caught.value)


def test_max_build_bytes_counts_what_the_file_does_not_pay_for(
    reference: Path, tmp_path: Path
) -> None:
    """The file's own tensor bytes pay for the weights they fill, so a real model loads with
    no allowance at all; a weight the file cannot fill is refused before it is made, naming
    the layer and the limit, and loads once the limit is raised."""
    from lamina.saving import LoadLimits

    lamina.load_model(reference, limits=LoadLimits(max_build_bytes=0))
    wide = with_config(
        reference, tmp_path / "wide.lamina", lambda c: _units(c, 100_000)
    )  # a 4 x 100,000 float32 kernel: 1.6 MB, in a file of a few hundred bytes
    with pytest.raises(LoadError, match=r"Dense 'dense'.*LoadLimits.max_build_bytes") as caught:
        lamina.load_model(wide, limits=LoadLimits(max_build_bytes=1 << 20))
    assert str(wide) in str(caught.value)
    assert "load_model(..., limits=LoadLimits(max_build_bytes=...))" in str(caught.value)
    # Within the limit the build goes on, and the file's weights are what do not match.
    with pytest.raises(LoadError, match="does not match the model"):
        lamina.load_model(wide, limits=LoadLimits(max_build_bytes=4 << 20))


def _units(config: dict[str, Any], units: int) -> None:
    layer_entry(config, "dense")["config"]["units"] = units


@pytest.mark.parametrize("value", [{}, {"__lamina__": "nope"}, {"__lamina__": "tuple"}])
def test_a_malformed_function_argument_names_the_file(
    reference: Path, tmp_path: Path, value: Any
) -> None:
    # Found by the loader fuzz test: a value decoder's error reached the user without the
    # file's name or the function's.
    def change(config: dict[str, Any]) -> None:
        function = layer_entry(config, "scale")["config"]["function"]["__function__"]
        function["arguments"] = {"factor": value}

    path = with_config(reference, tmp_path / "argument.lamina", change)
    with pytest.raises(FunctionDeserializationError) as error:
        lamina.load_model(path)
    assert str(path) in str(error.value) and "argument factor" in str(error.value)
