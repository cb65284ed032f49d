"""`save_model` (the `.lamina` file) and `save_weights` (a `.safetensors` file); `model_loader.py`
reads them back.

A `.lamina` file is a zip of three entries:

- `config.json`: `format_version`, `lamina_version`, `model` (the model's entry: class and
  config, see `graph.py`), `weights` (aliases of tensors stored once), for a compiled
  model, `compile_config` and `optimizer` (the non-tensor part of `optimizer.state_dict()`),
  and `checksums`, the xxh3_64 of every 8 MiB block of the weights (`checksums.py`; files
  written before them have none, and are checked with the zip's CRC-32). It is written
  after the weights, whose checksums are computed while they are written.
- `model.safetensors`, stored uncompressed: a safetensors file of the weights by
  `state_dict()` name, and the optimizer's tensors under `optimizer/`. No pickle anywhere.
  It is streamed from the tensors' memory (`archive.stream`), and any safetensors
  reader opens it: `safetensors.torch.load(zipfile.ZipFile(path).read("model.safetensors"))`.
- `metadata.json`: when and with which lamina, torch and Python it was written.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import zipfile
from typing import Any

import torch

from lamina.core.errors import warn
from lamina.saving import checksums, registry
from lamina.saving.archive import (
    CONFIG,
    METADATA,
    WEIGHTS,
    aligned_entry,
    atomic_write,
    stream,
    write_stored,
    zip_entry,
)
from lamina.saving.errors import SaveError
from lamina.saving.function_roles import trace_compile_config
from lamina.saving.graph import FORMAT_VERSION, serialize_layer
from lamina.saving.tensorfile import (
    layout_names,
    safetensors_chunks,
    safetensors_header,
)
from lamina.saving.values import encode_value
from lamina.saving.weights import (
    encode_optimizer_state,
    model_state,
    tensors_for_saving,
)

__all__ = ["save_model", "save_weights"]


_ALIASES_KEY = "lamina_aliases"
_ORDER_KEY = "lamina_order"
_CHECKSUMS_KEY = "lamina_checksums"


def _versions() -> dict[str, str]:
    from lamina import __version__

    return {
        "lamina_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }


def save_model(model: Any, filepath: str | os.PathLike[str], *, overwrite: bool = True) -> None:
    """Save the model's graph, weights and (if compiled) optimizer to a `.lamina` file.

    The write is atomic: a temporary file beside the target, flushed and fsynced, then
    renamed over it. Everything that can fail (a function that cannot be stored, a value with
    no JSON form) fails before anything is written, and any failure leaves an existing file
    untouched.

    Args:
        model: a functional model, a `Sequential`, or a registered model class.
        filepath: where to write, e.g. `"model.lamina"`.
        overwrite: replace an existing file; `False` raises `FileExistsError` instead.

    Raises:
        SaveError: naming the layer and why, when part of the model cannot be stored.

    Example:
        >>> import os, tempfile
        >>> from lamina import Input, Model, load_model
        >>> from lamina.layers import Dense
        >>> x = Input(shape=(3,))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.lamina")
        >>> Model(x, Dense(2)(x)).save(path)
        >>> load_model(path).output_shape
        (None, 2)
    """
    path = os.fspath(filepath)
    check_suffix(path, weights_only=False)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"'{path}' exists and overwrite=False; nothing was written.")
    try:
        config, state = _model_document(model)
        config_bytes = json.dumps(config).encode("utf-8")
        tensors = tensors_for_saving(state)
        header, weights_size = safetensors_header(tensors, None)
    except SaveError as error:
        raise SaveError(f"'{path}': nothing was written: {error}") from error
    metadata = {
        "format_version": FORMAT_VERSION,
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **_versions(),
    }
    with atomic_write(path) as handle, zipfile.ZipFile(handle, "w") as archive:
        # The weights first: their checksums, computed while they are written, go into
        # config.json after them (readers find entries by name, in any order).
        info, zip64 = aligned_entry(WEIGHTS, weights_size, handle.tell())
        with archive.open(info, "w", force_zip64=zip64) as entry:
            digests = write_stored(entry, safetensors_chunks(tensors, header))
        sums = checksums.encode(digests[0], dict(zip(layout_names(tensors), digests[1:])))
        # json.dumps of a dict ends with "}": the checksums are its last key.
        config_bytes = config_bytes[:-1] + b', "checksums": ' + json.dumps(sums).encode() + b"}"
        archive.writestr(zip_entry(CONFIG, compress=True), config_bytes)
        archive.writestr(zip_entry(METADATA, compress=True), json.dumps(metadata).encode("utf-8"))


def _model_document(model: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    from lamina.core.model import Model

    if not isinstance(model, Model):
        raise SaveError(f"expected a Model or Sequential, received {type(model).__name__}.")
    entry = serialize_layer(model)
    state, aliases = model_state(model)
    tensors = dict(state)
    config: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "lamina_version": _versions()["lamina_version"],
        "model": entry,
        # The names in state_dict() order: a model rebuilt by its own constructor may name
        # its layers differently, and is then matched by position (weights.match_weights).
        "weights": {"aliases": aliases, "order": [k for k in state if k not in aliases]},
    }
    compile_state = getattr(model, "_compile_state", None)
    compile_config = None if compile_state is None else compile_state.config
    if compile_config is not None:
        owner = f"Model '{model.name}' compile()"
        traced = trace_compile_config(model, compile_config, owner)
        config["compile_config"] = encode_value(_storable(traced, owner), owner)
        state_dict = getattr(getattr(model, "optimizer", None), "state_dict", None)
        if callable(state_dict):
            state_json, optimizer_tensors = encode_optimizer_state(state_dict())
            config["optimizer"] = state_json
            tensors.update(optimizer_tensors)
    return config, tensors


def check_suffix(path: str, *, weights_only: bool) -> None:
    """Refuse a file name that promises another format (as Keras 3 does): `model.save` writes
    a `.lamina` zip, `save_weights` a `.safetensors` file; an `.h5` or `.keras` name would
    make other tools, and people, expect what is not there."""
    wanted, other = (".safetensors", ".lamina") if weights_only else (".lamina", ".safetensors")
    if path.lower().endswith(wanted):
        return
    suffix = os.path.splitext(path)[1] or "no extension"
    if weights_only:
        hint = "the weights are a safetensors file: name it 'weights.safetensors'"
        if path.lower().endswith(other):
            hint += ", or use model.save(path) for the whole model"
    else:
        hint = "the model is a lamina zip: name it 'model.lamina'"
        if path.lower().endswith(other):
            hint += ", or use model.save_weights(path) for the weights alone"
    raise SaveError(
        f"'{path}': expected a file name ending in {wanted}, received {suffix}; {hint}."
    )


def _storable(value: Any, owner: str) -> Any:
    """The compile config with each function that cannot be stored by value (no source to
    read) replaced by its name, with a warning: the model still saves, and loads compiled
    when the function is passed in `custom_objects`."""
    if isinstance(value, dict):
        return {key: _storable(item, owner) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_storable(item, owner) for item in value)
    if callable(value) and not isinstance(value, type):
        try:
            encode_value(value, owner)
        except SaveError as error:
            name = registry.get_registered_name(value)
            warn(
                f"{owner}: the function '{name}' is saved by name only ({error}). Load the "
                f"model with custom_objects={{{name!r}: {name}}}, or with compile=False.",
            )
            return name
    return value


def save_weights(model: Any, filepath: str | os.PathLike[str]) -> None:
    """Save the model's weights to a `.safetensors` file (atomically), keyed by
    `state_dict()` names; any safetensors reader can open it.

    Example:
        >>> import os, tempfile
        >>> from lamina import Input, Model
        >>> from lamina.layers import Dense
        >>> x = Input(shape=(3,))
        >>> model = Model(x, Dense(2, name="d")(x))
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> model.save_weights(path)
        >>> from safetensors.torch import load_file
        >>> sorted(load_file(path))
        ['d.bias', 'd.kernel']
    """
    path = os.fspath(filepath)
    check_suffix(path, weights_only=True)
    if not model.built:
        raise ValueError(
            f"{type(model).__name__} '{model.name}' has not been built, so it has no weights "
            "to save yet; call it on a batch of data (or build it) before save_weights()."
        )
    state, aliases = model_state(model)
    metadata = {
        "format": "pt",
        _ALIASES_KEY: json.dumps(aliases),
        _ORDER_KEY: json.dumps([k for k in state if k not in aliases]),
        **_versions(),
    }
    tensors = tensors_for_saving(state)
    # The digests go in the header, so they are computed before it is written: one more
    # pass over weights in memory (xxh3 runs at tens of GB/s).
    digests = {
        name: checksums.block_digests(t.reshape(-1).view(torch.uint8).numpy().data)
        for name, t in tensors.items()
    }
    metadata[_CHECKSUMS_KEY] = json.dumps(checksums.encode(None, digests), separators=(",", ":"))
    header, _ = safetensors_header(tensors, metadata)
    with atomic_write(path) as handle:
        stream(handle, safetensors_chunks(tensors, header))
