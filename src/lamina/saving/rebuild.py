"""Rebuilding models from configs (see `graph.py` for the format), trusting nothing in them.

Classes are looked up in `custom_objects`, the registry (`@register_serializable`) and
lamina's own layers, in that order, and nowhere else (`class_lookup.py`); every value is
checked before it is used (`specs.py` decodes what nodes store), and a functional graph is
replayed call by call in its saved order (a hostile cycle is an error, never a hang).
"""

from __future__ import annotations

import contextlib
import heapq
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from lamina.core.layer import Layer
from lamina.core.tensor import SymbolicTensor, flatten
from lamina.saving import registry
from lamina.saving.class_lookup import _model_subclass, resolve_class
from lamina.saving.errors import LoadError
from lamina.saving.functions import FunctionDeserializationError
from lamina.saving.graph import FORMAT_VERSION
from lamina.saving.specs import _build_by_calling, _decode_struct, _struct_refs, decode_specs
from lamina.saving.values import LoadContext, check_depth, decode_value, parse_json

__all__ = [
    "build_model",
    "check_format_version",
    "deserialize_layer",
    "model_from_config",
    "model_from_json_text",
    "quiet_rebuild",
]

_MODEL_CLASSES = ("Functional", "Sequential")


@contextlib.contextmanager
def quiet_rebuild() -> Iterator[None]:
    """Silence the Lambda warning about a wrong declared `output_shape` while rebuilding: it
    was given when the model was defined, and the inferred shape is what was saved."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Lambda '.*': output_shape=", category=UserWarning
        )
        yield


def model_from_config(
    config: Mapping[str, Any],
    *,
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
    trusted_modules: Sequence[str] = (),
    model_class: type | None = None,
) -> Any:
    """Rebuild a model (with fresh weights) from `model_config()` or a `{"class_name",
    "config"}` entry.

    Args:
        config: the config.
        custom_objects: classes and functions by name (or registered key), tried first.
        safe_mode: refuse functions that are not op graphs or known by name (see
            `lamina.saving.functions.deserialize_function`).
        trusted_modules: modules whose functions may be imported even in safe mode.
        model_class: the `Model` or `Sequential` subclass to rebuild a graph config as
            (what `SubClass.from_config(config)` passes).

    Raises:
        LoadError: for a malformed config, naming the layer; `UnknownClassError` for a class
            that is not known.
        UnsafeFunctionError: when safe mode refuses a function.

    Example:
        >>> from lamina import Input, Model
        >>> from lamina.layers import Dense
        >>> x = Input(shape=(3,))
        >>> model = Model(x, Dense(2)(x))
        >>> model_from_config(model.get_config()).output_shape
        (None, 2)
    """
    if isinstance(trusted_modules, str):
        trusted_modules = (trusted_modules,)
    ctx = LoadContext(
        safe_mode=bool(safe_mode),
        custom_objects=dict(custom_objects or {}),
        trusted_modules=tuple(trusted_modules),
    )
    if not isinstance(config, Mapping):
        raise ctx.error(f"expected a dict, received {type(config).__name__}.")
    config = dict(config)
    check_depth(config, "the config", ctx)
    if "class_name" in config and "config" in config:
        entry = config
    elif "input_layers" in config:
        entry = {"class_name": "Functional", "config": config}
    elif "layers" in config:
        entry = {"class_name": "Sequential", "config": config}
    else:
        raise ctx.error(
            f"not a model config: expected 'class_name' and 'config', or 'layers', found keys "
            f"{sorted(config)[:10]}."
        )
    if model_class is not None and entry["class_name"] in _MODEL_CLASSES:
        body = entry["config"]
        if not isinstance(body, dict):
            raise ctx.error(f"model of class '{model_class.__name__}' has no config dict.")
        builder = _graph_builder(entry["class_name"])
        with quiet_rebuild():
            return builder(body, ctx, f"{model_class.__name__} '{body.get('name')}'", model_class)
    return build_model(entry, ctx)


def model_from_json_text(text: str | bytes, ctx: LoadContext) -> Any:
    """The model described by `model_to_json` text."""
    document = parse_json(text, "the JSON text", ctx)
    if not isinstance(document, dict):
        raise ctx.error("the JSON text must hold an object.")
    version = document.pop("format_version", FORMAT_VERSION)
    check_format_version(version, ctx)
    document.pop("lamina_version", None)
    return build_model(document, ctx)


def check_format_version(version: Any, ctx: LoadContext) -> None:
    if type(version) is not int:
        raise ctx.error(f"format_version must be an int, found {str(version)[:40]!r}.")
    if version > FORMAT_VERSION:
        raise ctx.error(
            f"written with format version {version}, but this lamina reads version "
            f"{FORMAT_VERSION} and older; upgrade lamina (pip install -U lamina)."
        )
    if version < 1:
        raise ctx.error(f"unknown format version {version}; expected 1 to {FORMAT_VERSION}.")


def build_model(entry: Any, ctx: LoadContext) -> Any:
    """The layer or model of `entry`, built with fresh weights."""
    from lamina.core.model import Model

    with quiet_rebuild():
        layer = deserialize_layer(entry, ctx)
    if not isinstance(layer, Model):
        raise ctx.error(f"the top-level entry is a {type(layer).__name__}, not a model.")
    return layer


def deserialize_layer(entry: Any, ctx: LoadContext) -> Layer:
    """The layer of one entry; models recursively."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ctx.error(
            f"a layer entry must be a dict with a 'class_name', found {str(entry)[:80]}."
        )
    class_name, module = entry["class_name"], entry.get("module")
    config = entry.get("config")
    if not isinstance(config, dict):
        raise ctx.error(f"layer of class '{class_name[:60]}' has no config dict.")
    # A get_config() without 'name' (Keras allows it): the entry stores the name beside it.
    name = config.get("name", entry.get("name"))
    owner = f"{class_name[:60]} '{str(name)[:60]}'"
    if not isinstance(name, str) or not name or "." in name:
        raise ctx.error(f"layer {owner}: 'name' must be a non-empty string without '.'.")
    if (
        class_name in _MODEL_CLASSES
        and module is None
        and ctx.custom_objects.get(class_name) is None
    ):
        builder = _graph_builder(class_name)
        return builder(config, ctx, owner, _model_subclass(entry, class_name, ctx, owner))
    cls = resolve_class(class_name, module, ctx, owner)
    kwargs = decode_value(config, ctx, owner)
    try:
        # Objects in the config that layers resolve themselves (regularizers, constraints,
        # initializers) find the caller's custom_objects too.
        with registry.custom_object_scope(ctx.custom_objects):
            layer = cls.from_config(kwargs)
    except (LoadError, FunctionDeserializationError):
        raise
    except Exception as error:
        raise ctx.error(
            f"layer {owner} could not be rebuilt from its config: {type(error).__name__}: {error}"
        ) from error
    if isinstance(layer, Layer) and "name" not in config:
        layer.name = name
    if not isinstance(layer, Layer) or layer.name != name:
        raise ctx.error(
            f"layer {owner}: {cls.__name__}.from_config returned {type(layer).__name__} "
            f"'{str(getattr(layer, 'name', '?'))[:60]}', expected a layer named '{name[:60]}'."
        )
    if "build_config" in entry:
        _build_by_calling(layer, entry["build_config"], ctx, owner)
    return layer


def _graph_builder(kind: str) -> Callable[..., Layer]:
    """The builder of a "Functional" or "Sequential" config."""
    return _functional_from_config if kind == "Functional" else _sequential_from_config


def _check_header(config: dict[str, Any], ctx: LoadContext, owner: str) -> tuple[str, bool]:
    name, trainable = config.get("name"), config.get("trainable", True)
    if not isinstance(name, str) or not name or "." in name:
        raise ctx.error(f"model {owner}: 'name' must be a non-empty string without '.'.")
    if not isinstance(trainable, bool):
        raise ctx.error(f"model {owner}: 'trainable' must be true or false.")
    return name, trainable


def _sequential_from_config(
    config: dict[str, Any], ctx: LoadContext, owner: str, model_class: Any = None
) -> Layer:
    from lamina.core.sequential import Sequential
    from lamina.layers.core import InputLayer

    name, trainable = _check_header(config, ctx, owner)
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise ctx.error(f"Sequential {owner}: 'layers' must be a list.")
    model = (model_class or Sequential)(name=name)
    source = config.get("input")
    try:
        if source is not None:
            if not isinstance(source, dict) or not isinstance(source.get("name"), str):
                raise TypeError(f"'input' must be an InputLayer config, found {str(source)[:60]}")
            model.add(InputLayer(**decode_value(source, ctx, owner)))
        stored = config.get("outputs")
        specs = stored if isinstance(stored, list) and len(stored) == len(entries) else []
        for i, entry in enumerate(entries):
            spec = decode_specs(specs[i]) if specs and source is not None else None
            if spec is None and source is not None and ctx.source:
                raise ctx.error(
                    f"Sequential {owner}: layer {i} has no valid output spec in 'outputs'; a "
                    "saved file stores one per layer, and loading never runs a layer to find it."
                )
            model._add(deserialize_layer(entry, ctx), spec)
    except (LoadError, FunctionDeserializationError):
        raise
    except Exception as error:
        raise ctx.error(
            f"Sequential {owner} could not be rebuilt: {type(error).__name__}: {error}"
        ) from error
    model._trainable = trainable
    return model


def _functional_from_config(
    config: dict[str, Any], ctx: LoadContext, owner: str, model_class: Any = None
) -> Layer:
    from lamina.core.model import Model
    from lamina.layers.core import InputLayer

    name, trainable = _check_header(config, ctx, owner)
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise ctx.error(f"model {owner}: 'layers' must be a list.")
    layers: list[Layer] = []
    position: dict[str, int] = {}
    outputs: dict[str, list[list[SymbolicTensor]]] = {}
    pending: list[list[dict[str, Any]]] = []
    for entry in entries:
        layer = deserialize_layer(entry, ctx)
        if layer.name in position:
            raise ctx.error(f"model {owner}: two layers are named '{layer.name[:60]}'.")
        nodes = entry.get("inbound_nodes", [])
        if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
            raise ctx.error(f"layer '{layer.name[:60]}': 'inbound_nodes' must be a list of dicts.")
        position[layer.name] = len(layers)
        layers.append(layer)
        outputs[layer.name] = [[layer.output]] if isinstance(layer, InputLayer) else []
        pending.append(nodes)

    calls = {
        layer.name: len(outputs[layer.name]) + len(pending[i]) for i, layer in enumerate(layers)
    }

    def tensor_at(ref: Any, where: str) -> tuple[str, int, int]:
        if (
            not isinstance(ref, list)
            or len(ref) != 3
            or not isinstance(ref[0], str)
            or type(ref[1]) is not int
            or type(ref[2]) is not int
        ):
            raise ctx.error(
                f"{where}: a tensor reference must be [layer, node, index], found {str(ref)[:80]}."
            )
        layer_name, node, index = ref
        if layer_name not in position:
            raise ctx.error(f"{where}: refers to layer '{layer_name[:60]}', which the model lacks.")
        made = calls[layer_name]
        if not 0 <= node < made or index < 0:
            raise ctx.error(
                f"{where}: refers to call {node} of layer '{layer_name[:60]}', which has {made}."
            )
        return layer_name, node, index

    # Kahn's algorithm over the calls: each waits for the calls it reads and for the previous
    # call of the same layer, and ties go to the saved layer order, so calls run in their
    # original order and a hostile cycle is an error, not a hang.
    base = {layer.name: len(outputs[layer.name]) for layer in layers}
    waiting: dict[tuple[int, int], int] = {}
    readers: dict[tuple[int, int], list[tuple[int, int]]] = {}
    ready: list[tuple[int, int]] = []
    for li, nodes in enumerate(pending):
        lname = layers[li].name
        for k, node in enumerate(nodes):
            where = f"layer '{lname[:60]}' call {base[lname] + k}"
            deps = set()
            for ref in _struct_refs(node.get("inputs"), ctx, where):
                ref_name, ref_node, _ = tensor_at(ref, where)
                if ref_node >= base[ref_name]:
                    deps.add((position[ref_name], ref_node - base[ref_name]))
            if k:
                deps.add((li, k - 1))
            waiting[(li, k)] = len(deps)
            for dep in deps:
                readers.setdefault(dep, []).append((li, k))
            if not deps:
                heapq.heappush(ready, (li, k))
    done = 0
    while ready:
        li, k = heapq.heappop(ready)
        layer = layers[li]
        _run_node(layer, pending[li][k], outputs, tensor_at, ctx)
        done += 1
        for reader in readers.get((li, k), ()):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    if done != len(waiting):
        stuck = sorted(key for key, count in waiting.items() if count)[:3]
        names = ", ".join(f"'{layers[li].name[:60]}' call {k}" for li, k in stuck)
        raise ctx.error(f"model {owner}: the graph has a cycle or a missing input ({names}).")

    def resolve(ref: Any, where: str) -> SymbolicTensor:
        layer_name, node, index = tensor_at(ref, where)
        made = outputs[layer_name]
        if node >= len(made) or index >= len(made[node]):
            raise ctx.error(f"{where}: no output {index} of layer '{layer_name[:60]}' call {node}.")
        return made[node][index]

    inputs = _decode_struct(config.get("input_layers"), resolve, ctx, f"model {owner} inputs")
    outs = _decode_struct(config.get("output_layers"), resolve, ctx, f"model {owner} outputs")
    losses = config.get("losses", [])
    if not isinstance(losses, list):
        raise ctx.error(f"model {owner}: 'losses' must be a list.")
    loss_tensors = [_decode_struct(v, resolve, ctx, f"model {owner} losses") for v in losses]
    try:
        model = (model_class or Model)(inputs, outs, name=name, trainable=trainable)
        for loss in loss_tensors:
            model.add_loss(loss)
    except Exception as error:
        raise ctx.error(
            f"model {owner} could not be rebuilt: {type(error).__name__}: {error}"
        ) from error
    return model


def _run_node(
    layer: Layer,
    node: dict[str, Any],
    outputs: dict[str, list[list[SymbolicTensor]]],
    tensor_at: Callable[[Any, str], tuple[str, int, int]],
    ctx: LoadContext,
) -> None:
    where = f"layer '{layer.name[:60]}' call {len(outputs[layer.name])}"

    def resolve(ref: Any, at: str) -> SymbolicTensor:
        layer_name, index_node, index = tensor_at(ref, at)
        made = outputs[layer_name]
        if index_node >= len(made) or index >= len(made[index_node]):
            raise ctx.error(
                f"{at}: no output {index} of layer '{layer_name[:60]}' call {index_node}."
            )
        return made[index_node][index]

    inputs = _decode_struct(node.get("inputs"), resolve, ctx, where)
    kwargs = decode_value(node.get("kwargs", {}), ctx, where)
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ctx.error(f"{where}: 'kwargs' must be a dict with string keys.")
    specs = decode_specs(node.get("outputs"))
    if specs is None and ctx.source:
        # Inferring them would run the layer, on placeholders of declared shapes, for real
        # where the model is not built on meta: a file never needs that.
        raise ctx.error(
            f"{where}: the node has no valid output spec ('outputs': "
            f"{str(node.get('outputs'))[:60]}); a saved file stores one for every call, and "
            "loading never runs a layer to find it."
        )
    try:
        if specs is None:
            result = layer(inputs, **kwargs)
        else:
            result = layer.record_call(inputs, (), kwargs, specs)
    except (LoadError, FunctionDeserializationError):
        raise
    except Exception as error:
        raise ctx.error(
            f"{where}: calling the layer failed while rebuilding the graph: "
            f"{type(error).__name__}: {error}"
        ) from error
    outputs[layer.name].append(flatten(result))
