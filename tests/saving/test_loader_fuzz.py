"""Fuzzing `load_model`: mutated bytes of a valid file, and structurally mutated configs,
give a model or one of lamina's own errors, quickly; never another exception or a hang."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.saving import FunctionDeserializationError, LoadError, load_model
from saving.files_hostile import nested_reference_model, read_entries, reference_file, write_zip

OWN_ERRORS = (LoadError, FunctionDeserializationError)
SECONDS = 10.0

FOLDER = Path(tempfile.mkdtemp(prefix="lamina-fuzz-"))
atexit.register(shutil.rmtree, FOLDER, ignore_errors=True)
VALID = reference_file(FOLDER).read_bytes()
ENTRIES = read_entries(FOLDER / "reference.lamina")
WEIGHTS_AT = VALID.find(ENTRIES["model.safetensors"])

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

position = st.integers(min_value=0, max_value=len(VALID) - 1)
mutation = st.one_of(
    st.tuples(st.just("flip"), position, st.integers(1, 255)),
    st.tuples(st.just("truncate"), position, st.just(0)),
    st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), position, st.integers(1, 64)),
)


def mutate(data: bytes, changes: list[tuple[str, int, Any]]) -> bytes:
    buffer = bytearray(data)
    for kind, at, arg in changes:
        at %= max(len(buffer), 1)
        if kind == "flip" and buffer:
            buffer[at] ^= arg
        elif kind == "truncate":
            del buffer[at:]
        elif kind == "insert":
            buffer[at:at] = arg
        elif kind == "delete":
            del buffer[at : at + arg]
    return bytes(buffer)


def load_within_bounds(path: Path) -> Any:
    start = time.perf_counter()
    try:
        return load_model(path)
    except OWN_ERRORS as error:
        assert str(path) in str(error), error
        return None
    finally:
        assert time.perf_counter() - start < SECONDS


@FUZZ
@given(changes=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_bytes_give_a_model_or_a_lamina_error(changes: list[tuple[str, int, Any]]) -> None:
    path = FOLDER / "mutated.lamina"
    path.write_bytes(mutate(VALID, changes))
    load_within_bounds(path)


@FUZZ
@given(
    offset=st.integers(0, len(ENTRIES["model.safetensors"]) - 1),
    flip=st.integers(1, 255),
)
def test_any_flipped_weight_byte_is_caught_when_verifying(offset: int, flip: int) -> None:
    data = bytearray(VALID)
    data[WEIGHTS_AT + offset] ^= flip
    path = FOLDER / "flipped.lamina"
    path.write_bytes(bytes(data))
    with pytest.raises(LoadError):
        load_model(path, verify=True)
    # Unverified, a flip in a tensor's bytes loads as is; anywhere else it is an error.
    load_within_bounds(path)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["__tuple__", "__tensor__", "__function__", "Dense", "input_layer", "x"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


nested_reference_model().save(FOLDER / "nested.lamina")
NESTED = read_entries(FOLDER / "nested.lamina")
REFERENCES = {
    name: (entries, json.loads(entries["config.json"]))
    for name, entries in (("functional", ENTRIES), ("nested", NESTED))
}


def replace_at(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replace_at(value[path[0]], path[1:], new)  # type: ignore[index]
    return copy


@FUZZ
@given(data=st.data(), reference=st.sampled_from(sorted(REFERENCES)))
def test_mutated_configs_give_a_model_or_a_lamina_error(
    data: st.DataObject, reference: str
) -> None:
    entries, config = REFERENCES[reference]
    where = data.draw(st.lists(st.sampled_from(paths(config)[1:]), min_size=1, max_size=3))
    for path in where:
        try:
            config = replace_at(config, path, data.draw(json_values))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this path
    target = FOLDER / "config-mutated.lamina"
    write_zip(target, {**entries, "config.json": json.dumps(config).encode()})
    load_within_bounds(target)
