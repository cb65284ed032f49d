"""`load_model` (a `.lamina` file) and `load_weights` (a `.safetensors` file); see
`model_saver.py` for what the files hold.

Loading builds the model on the `meta` device (no memory, no initialization) when it is made of
lamina's own layers, while a worker thread reads the tensors straight into the memory the
model will keep; every weight's name, shape and dtype is checked against the file's header
before the tensors are put in place. The weights' checksums are checked by default, a few
percent of a load (`verify=False` skips them; see `checksums.py`); every size and count read
from the file is bounded by `LoadLimits`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from lamina.saving import registry
from lamina.saving.archive import (
    CONFIG,
    METADATA,
    Archive,
)
from lamina.saving.checksums import Checksums
from lamina.saving.functions import FunctionDeserializationError
from lamina.saving.limits import LoadLimits, build_budget, count_layers
from lamina.saving.model_saver import _ALIASES_KEY, _CHECKSUMS_KEY, _ORDER_KEY
from lamina.saving.rebuild import build_model, check_format_version
from lamina.saving.tensorfile import (
    WeightsFile,
    open_weights_file,
)
from lamina.saving.values import FUNCTION, LAYER, LoadContext, decode_value, parse_json
from lamina.saving.weights import (
    apply_weights,
    copy_weights,
    decode_optimizer_state,
    leftover_meta_tensors,
    match_weights,
    model_state,
)

__all__ = ["load_model", "load_weights"]


def load_model(
    filepath: str | os.PathLike[str],
    *,
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
    compile: bool = True,
    trusted_modules: Sequence[str] = (),
    verify: bool = True,
    limits: LoadLimits | None = None,
    device: str | torch.device | None = None,
    map_location: str | torch.device | None = None,
) -> Any:
    """Load a model saved by `save_model`.

    In safe mode (the default) nothing in the file is run, imported or unpickled: classes come
    from lamina, the registry and `custom_objects`; functions load as op graphs of ops from a
    fixed table, or by name; saved source is never parsed or run. The file is read in
    memory, never extracted.

    Args:
        filepath: the `.lamina` file.
        custom_objects: classes and functions by name (or registered key), tried first.
        safe_mode: refuse functions that are not op graphs or known by name; `False` only for files
            you trust (their functions' source is then run with `exec`).
        compile: restore the compile settings and optimizer state, when saved.
        trusted_modules: modules whose functions may be imported even in safe mode.
        verify: check the weights' xxh3_64 checksums, so a changed byte is an error naming
            the tensor (on by default, a few percent of a load; `False` skips it). A file
            written before lamina kept checksums is checked with its zip CRC-32, which costs
            about as much as the load. The zip directory, the weights' header, offsets,
            sizes, names, shapes and dtypes are always checked.
        limits: bounds on sizes and counts read from the file (`LoadLimits()` by default).
        device: the device the weights go to, straight from the file (`"cuda"`); the CPU by
            default. `map_location` is the same, under `torch.load`'s name.

    Returns:
        The model, with the saved weights.

    Raises:
        LoadError: naming the file, for anything malformed, hostile or not matching
            (`UnknownClassError`, `WeightsMismatchError` are kinds of it).
        UnsafeFunctionError: when safe mode refuses a function; says how to load it anyway.
    """
    path = os.fspath(filepath)
    ctx = _context(path, custom_objects, safe_mode, trusted_modules, limits)
    with open(path, "rb") as handle:
        archive = Archive(handle, ctx)
        weights = archive.weights()
        config = _read_config(archive, ctx)
        sums = _checksums(config, weights, ctx) if verify else None
        # The tensors are read on a worker thread while the graph is rebuilt here (the
        # read releases the GIL throughout); nothing uses them before every weight's name,
        # shape and dtype is checked against the file's header.
        with weights.read_in_background(verify=verify, checksums=sums) as read:
            archive.read_json(METADATA)
            file_aliases, order = _file_aliases(config, ctx), _saved_order(config, ctx)
            budget = build_budget(ctx.limits, weights.data_size)
            with budget.active():
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
    target = device if device is not None else map_location
    if target is not None:
        loaded = {key: tensor.to(target) for key, tensor in loaded.items()}
    apply_weights(model, expected, loaded, sources, file_aliases, model_aliases)
    if leftover_meta_tensors(model):
        # Tensors a custom layer made outside its state, which the file cannot fill: built
        # again for real (no data runs through it), under a budget of its own.
        with build_budget(ctx.limits, weights.data_size).active():
            model = build_model(config["model"], ctx)
        expected, model_aliases = model_state(model)
        apply_weights(model, expected, loaded, sources, file_aliases, model_aliases)
    compile_config = config.get("compile_config") if compile else None
    if compile_config is not None:
        optimizer_json = config.get("optimizer")
        with build_budget(ctx.limits, 0).active():
            _restore_compile(model, compile_config, optimizer_json, loaded, ctx)
    if target is not None:
        model.to(target)  # what the file does not hold (non-persistent buffers) follows
    return model


def _context(
    path: str,
    custom_objects: Mapping[str, Any] | None,
    safe_mode: bool,
    trusted: Sequence[str],
    limits: LoadLimits | None = None,
) -> LoadContext:
    return LoadContext(
        source=path,
        safe_mode=bool(safe_mode),
        custom_objects=dict(custom_objects or {}),
        trusted_modules=(trusted,) if isinstance(trusted, str) else tuple(trusted),
        limits=limits or LoadLimits(),
    )


def _read_config(archive: Archive, ctx: LoadContext) -> dict[str, Any]:
    config = archive.read_json(CONFIG)
    if not isinstance(config, dict):
        raise ctx.error(f"'{CONFIG}' must hold a JSON object.")
    check_format_version(config.get("format_version"), ctx)
    if not isinstance(config.get("model"), dict):
        raise ctx.error(f"'{CONFIG}' has no model entry.")
    layers = count_layers(config["model"])
    if layers > ctx.limits.max_layers:
        raise ctx.error(
            f"'{CONFIG}' holds {layers} layers, over the limit of {ctx.limits.max_layers}; for "
            "a file you trust: load_model(..., limits=LoadLimits(max_layers=...))."
        )
    return config


def _checksums(config: dict[str, Any], weights: WeightsFile, ctx: LoadContext) -> Checksums | None:
    """The weights' checksums `config.json` records, checked; None for a file written before
    lamina kept them (its zip CRC-32 is checked instead)."""
    value = config.get("checksums")
    if value is None:
        return None
    sizes = {info.name: info.end - info.begin for info in weights.tensors.values()}
    return Checksums.parse(value, sizes, weights.data_start, ctx)


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
    """Whether no class in the config is the user's own (from `custom_objects` or the
    registry), whose `__init__` or `build` might keep a tensor that loading cannot fill; a
    name that is neither the user's nor lamina's is no reason to build for real (it is an
    unknown class, or a plain dict value)."""
    stack = [entry]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if FUNCTION in item:
                continue
            name = item.get("class_name")
            if (
                isinstance(name, str)
                and registry.get_registered_object(name, ctx.custom_objects) is not None
            ):
                return False
            stack.extend(item.values())
    return True


def _build(entry: dict[str, Any], ctx: LoadContext) -> Any:
    """The model with no weights yet: on the meta device (no memory, no initialization)
    unless it holds the user's own classes, which are built for real (their weights counted
    against `LoadLimits.max_build_bytes`); never run on data. A model of lamina's classes
    that cannot be built on meta is an error, not a real build."""
    if not _meta_safe(entry, ctx):
        return build_model(entry, ctx)
    with torch.device("meta"):
        return build_model(entry, ctx)


def _restore_compile(
    model: Any,
    compile_config: Any,
    optimizer_json: Any,
    loaded: dict[str, torch.Tensor],
    ctx: LoadContext,
) -> None:
    from lamina.training import compile_from_config

    if _holds(compile_config, LAYER):
        raise ctx.error(
            "the compile config holds a layer ('__layer__'), which lamina never saves there "
            "(it would be built for real while loading). Load with compile=False."
        )
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


def _holds(value: Any, key: str) -> bool:
    """Whether a JSON value holds a dict with `key`, at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if key in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def load_weights(
    model: Any,
    filepath: str | os.PathLike[str],
    *,
    strict: bool = True,
    verify: bool = True,
    skip_mismatch: bool = False,
    limits: LoadLimits | None = None,
) -> None:
    """Load weights saved by `save_weights` (a `.safetensors` file) or `save` (a `.lamina`
    file) into `model`, which must have the same architecture.

    Nothing is changed unless every weight matches: names and shapes are checked from the
    file's header first; a weight stored in another dtype is cast, as Keras does. When the
    names differ but the file (written by lamina) holds the same weights in the same order,
    each of the same shape, they are matched by position, as Keras does: a model built again
    by the same code in the same program gets new layer names (`dense_7` for `dense_3`).

    Args:
        model: a built model.
        filepath: the file.
        strict: require every weight of the model in the file and nothing else; `False`
            skips missing and unexpected weights (shapes and dtypes are always checked).
        skip_mismatch: leave the weights whose shape differs from the file's as they are,
            with a warning, instead of raising (Keras's argument).
        verify: check the checksums of the weights (see `load_model`): a `.lamina` file's
            in its `config.json`, a `.safetensors` file's in its header's metadata (a file
            without them, such as one another program wrote, loads unchecked).
        limits: bounds on sizes and counts read from the file (`LoadLimits()` by default).

    Raises:
        WeightsMismatchError: naming the file, each layer and weight that does not match.
    """
    path = os.fspath(filepath)
    ctx = _context(path, None, True, (), limits)
    with open(path, "rb") as handle:
        is_zip = handle.read(4) == b"PK\x03\x04"
        handle.seek(0)
        if is_zip:
            archive = Archive(handle, ctx)
            config = _read_config(archive, ctx)
            file_aliases, order = _file_aliases(config, ctx), _saved_order(config, ctx)
            weights = archive.weights()
            sums = _checksums(config, weights, ctx) if verify else None
        else:
            weights = open_weights_file(handle, ctx)
            sums = _metadata_checksums(weights, ctx) if verify else None
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
            cast=True,
            skip_mismatch=skip_mismatch,
        )
        loaded = weights.read(set(sources.values()), verify=verify, checksums=sums)
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


def _metadata_checksums(weights: WeightsFile, ctx: LoadContext) -> Checksums | None:
    value = _metadata_json(weights, _CHECKSUMS_KEY, "the weights' checksums metadata", ctx)
    if value is None:
        return None
    sizes = {info.name: info.end - info.begin for info in weights.tensors.values()}
    return Checksums.parse(value, sizes, None, ctx, source="the header's metadata")


def _metadata_json(weights: WeightsFile, key: str, what: str, ctx: LoadContext) -> Any:
    """A JSON value lamina keeps in the safetensors header's string metadata, or None."""
    text = weights.metadata.get(key)
    return None if text is None else parse_json(text, what, ctx)
