"""`save_model` / `load_model` (the `.lamina` file) and `save_weights` / `load_weights` (a
`.safetensors` file).

A `.lamina` file is a zip of three entries:

- `config.json`: `format_version`, `lamina_version`, `model` (the model's entry: class and
  config, see `graph.py`), `weights` (aliases of tensors stored once), and, for a compiled
  model, `compile_config` and `optimizer` (the non-tensor part of `optimizer.state_dict()`).
- `model.safetensors`, stored uncompressed: a safetensors file of the weights by
  `state_dict()` name, and the optimizer's tensors under `optimizer/`. No pickle anywhere.
  It is streamed from the tensors' memory (`archive.stream`), and any safetensors
  reader opens it: `safetensors.torch.load(zipfile.ZipFile(path).read("model.safetensors"))`.
- `metadata.json`: when and with which lamina, torch and Python it was written.

Loading builds the model on the `meta` device (no memory, no initialization) when it is made of
lamina's own layers, while a worker thread reads the tensors straight into the memory the
model will keep; every weight's name, shape and dtype is checked against the file's header
before the tensors are put in place. The weights' CRC-32 is checked only on request
(`verify=True`), as `torch.load` does not check it at all: it would cost 10 ms per 40 MB, more
than the read itself.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from lamina.core.errors import warn
from lamina.saving import registry
from lamina.saving.archive import (
    CONFIG,
    METADATA,
    WEIGHTS,
    Archive,
    aligned_entry,
    atomic_write,
    stream,
    write_stored,
    zip_entry,
)
from lamina.saving.errors import LoadError, SaveError, UnknownClassError
from lamina.saving.functions import FunctionDeserializationError
from lamina.saving.graph import FORMAT_VERSION, builtin_classes, serialize_layer
from lamina.saving.rebuild import build_model, check_format_version
from lamina.saving.tensorfile import (
    WeightsFile,
    open_weights_file,
    safetensors_chunks,
    safetensors_header,
)
from lamina.saving.values import FUNCTION, LoadContext, decode_value, encode_value, parse_json
from lamina.saving.weights import (
    apply_weights,
    copy_weights,
    decode_optimizer_state,
    encode_optimizer_state,
    leftover_meta_tensors,
    match_weights,
    model_state,
    tensors_for_saving,
)

__all__ = [
    "load_model",
    "load_weights",
    "save_model",
    "save_weights",
]

_ALIASES_KEY = "lamina_aliases"
_ORDER_KEY = "lamina_order"


def _versions() -> dict[str, str]:
    from lamina import __version__

    return {
        "lamina_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }


# ------------------------------------------------------------------------------ saving
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
        archive.writestr(zip_entry(CONFIG, compress=True), config_bytes)
        archive.writestr(zip_entry(METADATA, compress=True), json.dumps(metadata).encode("utf-8"))
        info, zip64 = aligned_entry(WEIGHTS, weights_size, handle.tell())
        with archive.open(info, "w", force_zip64=zip64) as entry:
            write_stored(entry, safetensors_chunks(tensors, header))


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
        config["compile_config"] = encode_value(_storable(compile_config, owner), owner)
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
    state, aliases = model_state(model)
    metadata = {
        "format": "pt",
        _ALIASES_KEY: json.dumps(aliases),
        _ORDER_KEY: json.dumps([k for k in state if k not in aliases]),
        **_versions(),
    }
    tensors = tensors_for_saving(state)
    header, _ = safetensors_header(tensors, metadata)
    with atomic_write(path) as handle:
        stream(handle, safetensors_chunks(tensors, header))


# ------------------------------------------------------------------------------ loading
def load_model(
    filepath: str | os.PathLike[str],
    *,
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
    compile: bool = True,
    trusted_modules: Sequence[str] = (),
    verify: bool = False,
) -> Any:
    """Load a model saved by `save_model`.

    In safe mode (the default) nothing in the file is run, imported or unpickled: classes come
    from lamina, the registry and `custom_objects`; functions load as safe expressions run by
    lamina's own evaluator, or by name. The file is read in memory, never extracted.

    Args:
        filepath: the `.lamina` file.
        custom_objects: classes and functions by name (or registered key), tried first.
        safe_mode: refuse functions that are not safe expressions; `False` only for files
            you trust (their functions' source is then run with `exec`).
        compile: restore the compile settings and optimizer state, when saved.
        trusted_modules: modules whose functions may be imported even in safe mode.
        verify: also check the weights' CRC-32 (about 10 ms per 40 MB; `lamina inspect
            --verify` does the same). Off by default, as in `torch.load`: the zip directory,
            the weights' header, offsets, sizes, names, shapes and dtypes are always checked,
            which catches truncated and mismatched files, not a flipped bit.

    Returns:
        The model, with the saved weights.

    Raises:
        LoadError: naming the file, for anything malformed, hostile or not matching
            (`UnknownClassError`, `WeightsMismatchError` are kinds of it).
        UnsafeFunctionError: when safe mode refuses a function; says how to load it anyway.
    """
    path = os.fspath(filepath)
    ctx = _context(path, custom_objects, safe_mode, trusted_modules)
    with open(path, "rb") as handle:
        archive = Archive(handle, ctx)
        weights = archive.weights()
        # The tensors are read on a worker thread while the graph is rebuilt here (the
        # read releases the GIL throughout); nothing uses them before every weight's name,
        # shape and dtype is checked against the file's header.
        with weights.read_in_background(verify=verify) as read:
            config = _read_config(archive, ctx)
            archive.read_json(METADATA)
            file_aliases, order = _file_aliases(config, ctx), _saved_order(config, ctx)
            model = _build(config["model"], ctx)
            expected, model_aliases = model_state(model)
            sources = match_weights(
                expected,
                model_aliases,
                weights,
                file_aliases,
                ctx,
                saved_order=order if _own_class(config) else None,
            )
            loaded = read()
    apply_weights(model, expected, loaded, sources, file_aliases)
    if leftover_meta_tensors(model):
        model = build_model(config["model"], ctx)
        expected, _ = model_state(model)
        apply_weights(model, expected, loaded, sources, file_aliases)
    compile_config = config.get("compile_config") if compile else None
    if compile_config is not None:
        optimizer_json = config.get("optimizer")
        _restore_compile(model, compile_config, optimizer_json, loaded, ctx)
    return model


def _context(
    path: str, custom_objects: Mapping[str, Any] | None, safe_mode: bool, trusted: Sequence[str]
) -> LoadContext:
    return LoadContext(
        source=path,
        safe_mode=bool(safe_mode),
        custom_objects=dict(custom_objects or {}),
        trusted_modules=(trusted,) if isinstance(trusted, str) else tuple(trusted),
    )


def _read_config(archive: Archive, ctx: LoadContext) -> dict[str, Any]:
    config = archive.read_json(CONFIG)
    if not isinstance(config, dict):
        raise ctx.error(f"'{CONFIG}' must hold a JSON object.")
    check_format_version(config.get("format_version"), ctx)
    if not isinstance(config.get("model"), dict):
        raise ctx.error(f"'{CONFIG}' has no model entry.")
    return config


def _file_aliases(config: dict[str, Any], ctx: LoadContext) -> dict[str, str]:
    weights = config.get("weights", {})
    aliases = weights.get("aliases", {}) if isinstance(weights, dict) else None
    if not isinstance(aliases, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()
    ):
        raise ctx.error(f"'{CONFIG}': weights.aliases must map names to names.")
    return aliases


def _own_class(config: dict[str, Any]) -> bool:
    """Whether the model is rebuilt by its own class (`cls(**config)`), which names its
    layers anew, rather than from lamina's graph, which keeps the saved names."""
    return config["model"].get("class_name") not in ("Functional", "Sequential")


def _saved_order(config: dict[str, Any], ctx: LoadContext) -> list[str] | None:
    """The saved weight names in state_dict() order (None in files from before it was kept),
    to match a model whose layers are named differently by position."""
    order = config["weights"].get("order") if isinstance(config.get("weights"), dict) else None
    return _checked_order(order, f"'{CONFIG}': weights.order", ctx)


def _checked_order(order: Any, what: str, ctx: LoadContext) -> list[str] | None:
    if order is not None and (
        not isinstance(order, list) or not all(isinstance(name, str) for name in order)
    ):
        raise ctx.error(f"{what} must be a list of names.")
    return order


def _meta_safe(entry: Any, ctx: LoadContext) -> bool:
    """Whether every layer is one of lamina's own classes, whose building is known to work on
    the `meta` device (a custom layer's `__init__` or `build` might keep a tensor that
    loading cannot fill)."""
    builtin = builtin_classes()
    stack = [entry]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if FUNCTION in item:
                continue
            name = item.get("class_name")
            if isinstance(name, str) and (
                name not in builtin
                or "module" in item
                or registry.get_registered_object(name, ctx.custom_objects) is not None
            ):
                return False
            stack.extend(item.values())
    return True


def _build(entry: dict[str, Any], ctx: LoadContext) -> Any:
    """The model with no weights yet: on the meta device (no memory, no initialization) when
    every layer is lamina's own, else for real."""
    if _meta_safe(entry, ctx):
        try:
            with torch.device("meta"):
                return build_model(entry, ctx)
        except UnknownClassError:
            raise
        except LoadError:
            pass  # a layer that cannot be built on meta: build it for real
    return build_model(entry, ctx)


def _restore_compile(
    model: Any,
    compile_config: Any,
    optimizer_json: Any,
    loaded: dict[str, torch.Tensor],
    ctx: LoadContext,
) -> None:
    from lamina.training import compile_from_config

    try:
        settings = decode_value(compile_config, ctx, "compile config")
    except FunctionDeserializationError as error:
        # Same kind of error, with the way out that keeps the model.
        error.args = (
            f"{error} Or load with compile=False and call model.compile(...) yourself.",
            *error.args[1:],
        )
        raise
    try:
        compile_from_config(model, settings, custom_objects=dict(ctx.custom_objects))
    except Exception as error:
        raise ctx.error(
            f"restoring the compile settings failed: {type(error).__name__}: {error}. Load "
            "with compile=False and call model.compile(...) yourself."
        ) from error
    load_state_dict = getattr(getattr(model, "optimizer", None), "load_state_dict", None)
    if optimizer_json is None or not callable(load_state_dict):
        return
    state = decode_optimizer_state(optimizer_json, loaded, ctx)
    try:
        load_state_dict(state)
    except Exception as error:
        raise ctx.error(
            f"the saved optimizer state does not fit the model's optimizer: "
            f"{type(error).__name__}: {error}. Load with compile=False to skip it."
        ) from error


def load_weights(
    model: Any, filepath: str | os.PathLike[str], *, strict: bool = True, verify: bool = False
) -> None:
    """Load weights saved by `save_weights` (a `.safetensors` file) or `save` (a `.lamina`
    file) into `model`, which must have the same architecture.

    Nothing is changed unless every weight matches: names, shapes and dtypes are checked from
    the file's header first. When the names differ but the file (written by lamina) holds
    the same weights in the same order, each of the same shape and dtype, they are matched
    by position, as Keras does: a model built again by the same code in the same program
    gets new layer names (`dense_7` for `dense_3`).

    Args:
        model: a built model.
        filepath: the file.
        strict: require every weight of the model in the file and nothing else; `False`
            skips missing and unexpected weights (shapes and dtypes are always checked).
        verify: also check the CRC-32 of a `.lamina` file's weights (see `load_model`); a
            `.safetensors` file has no checksum to check.

    Raises:
        WeightsMismatchError: naming the file, each layer and weight that does not match.
    """
    path = os.fspath(filepath)
    ctx = _context(path, None, True, ())
    with open(path, "rb") as handle:
        is_zip = handle.read(4) == b"PK\x03\x04"
        handle.seek(0)
        if is_zip:
            archive = Archive(handle, ctx)
            config = _read_config(archive, ctx)
            file_aliases, order = _file_aliases(config, ctx), _saved_order(config, ctx)
            weights = archive.weights()
        else:
            weights = open_weights_file(handle, ctx)
            file_aliases = _metadata_aliases(weights, ctx)
            order = _metadata_order(weights, ctx)
        expected, model_aliases = model_state(model)
        if not expected and weights.tensors:
            raise ctx.error(
                f"model '{getattr(model, 'name', '?')}' has no weights yet, so none of the "
                f"file's {len(weights.tensors)} tensors can go anywhere. Build it first (call "
                "it on data, or give the first layer input_shape=).",
            )
        sources = match_weights(
            expected,
            model_aliases,
            weights,
            file_aliases,
            ctx,
            strict=strict,
            saved_order=order,
        )
        loaded = weights.read(set(sources.values()), verify=verify)
    copy_weights(expected, loaded, sources)


def _metadata_order(weights: WeightsFile, ctx: LoadContext) -> list[str] | None:
    what = "the weights' order metadata"
    return _checked_order(_metadata_json(weights, _ORDER_KEY, what, ctx), what, ctx)


def _metadata_aliases(weights: WeightsFile, ctx: LoadContext) -> dict[str, str]:
    what = "the weights' alias metadata"
    aliases = _metadata_json(weights, _ALIASES_KEY, what, ctx)
    if aliases is None:
        return {}
    if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
        raise ctx.error(f"{what} must map names to names.")
    return aliases


def _metadata_json(weights: WeightsFile, key: str, what: str, ctx: LoadContext) -> Any:
    """A JSON value lamina keeps in the safetensors header's string metadata, or None."""
    text = weights.metadata.get(key)
    return None if text is None else parse_json(text, what, ctx)
