"""Keras 3 model configs rebuilt as lamina models, through a fixed table of classes.

A Keras config names each layer by `module` and `class_name`. lamina never imports a module a
file names: a class from Keras's own modules maps to lamina's layer of the same name (the
table is `lamina.layers.__all__`), anything else must be registered or in `custom_objects`.
Every layer or argument lamina cannot map is collected, and one `LoadError` lists them all.

Lambda layers: Keras stores a Python lambda as marshal bytecode, which lamina never decodes
or runs; the function comes from `custom_objects={"layer_name": fn}`. A named function comes
from `custom_objects` or the registry by its name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lamina.core.layer import Layer
from lamina.saving import registry
from lamina.saving.errors import LoadError
from lamina.saving.keras_values import (
    BASE_KEYS,
    KerasGraph,
    accepted,
    config_value,
    harmless,
    is_keras_module,
    lambda_function,
    lamina_layers,
    plain_dtype,
)

__all__ = ["KerasGraph", "build_keras_model", "is_keras_module"]

_MAX_DEPTH = 32
_MAX_LAYERS = 100_000


def _layer_class(entry: Mapping[str, Any], owner: str, graph: KerasGraph) -> Any:
    name = str(entry.get("class_name"))[:80]
    module = entry.get("module")
    graph.classes[name] = graph.classes.get(name, 0) + 1
    if is_keras_module(module) and entry.get("registered_name") in (None, name):
        cls = lamina_layers().get(name)
        if cls is not None:
            return cls
        graph.problem(f"{owner}: Keras layer class '{name}' has no lamina counterpart yet")
        return None
    key = str(entry.get("registered_name") or name)
    cls = registry.get_registered_object(key, dict(graph.ctx.custom_objects))
    if cls is None:
        cls = graph.ctx.custom_objects.get(name)
    graph.custom.append(f"{key[:80]} (module '{str(module)[:80]}')")
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        graph.problem(
            f"{owner}: class '{key[:80]}' from module '{str(module)[:80]}' is not a lamina "
            f"layer; lamina never imports modules a file names. Register it or pass "
            f"custom_objects={{{name!r}: {name}}}"
        )
        return None
    return cls


def _is_function(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("class_name") in ("__lambda__", "function")


def _layer(entry: Mapping[str, Any], graph: KerasGraph, depth: int) -> Any:
    """One lamina layer (or model) for a Keras layer entry; None after a problem."""
    config = entry.get("config")
    if not isinstance(config, Mapping):
        graph.problem(f"layer entry {str(entry)[:80]} has no config")
        return None
    name = str(config.get("name") or entry.get("name"))[:120]
    kind = str(entry.get("class_name"))
    owner = f"{kind[:80]} '{name}'"
    if kind in ("Functional", "Model", "Sequential") and is_keras_module(entry.get("module")):
        graph.classes[kind] = graph.classes.get(kind, 0) + 1
        return build_keras_model(entry, graph, depth + 1)
    cls = _layer_class(entry, owner, graph)
    if cls is None:
        return None
    known, spread = accepted(cls)
    kwargs: dict[str, Any] = {}
    for key, value in config.items():
        if key == "function" and kind == "Lambda":
            kwargs[key] = lambda_function(value, owner, name, graph)
        elif key in ("output_shape", "mask") and kind == "Lambda" and _is_function(value):
            if key == "mask":
                graph.problem(f"{owner}: a mask function is not supported; remove mask=")
            # an output_shape function is left out: lamina infers shapes by running the layer
        elif key in ("layer", "backward_layer") and isinstance(value, Mapping):
            kwargs[key] = _layer(value, graph, depth + 1)  # a wrapper's layer
        elif spread or key in known or key in BASE_KEYS:
            kwargs[key] = config_value(value, key, owner, graph)
        elif not harmless(key, value):
            graph.problem(f"{owner}: argument {key}={str(value)[:60]} is not supported")
    if graph.check_only or len(graph.problems) > 0:
        return None
    try:
        from lamina.core.construct import construct

        return construct(cls, kwargs)
    except Exception as error:
        graph.problem(f"{owner}: {type(error).__name__}: {str(error)[:300]}")
        return None


# ------------------------------------------------------------------------------ graphs
def _history(value: Any, tensors: dict[tuple[str, int], list[Any]]) -> Any:
    """Keras's call arguments with each `__keras_tensor__` replaced by lamina's tensor;
    raises KeyError for a tensor not made yet."""
    if isinstance(value, Mapping):
        if value.get("class_name") == "__keras_tensor__":
            layer, node, index = value["config"]["keras_history"]
            return tensors[(str(layer), int(node))][int(index)]
        return {k: _history(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_history(v, tensors) for v in value]
    return value


def _keras2_node(node: Any) -> Any:
    """Keras 2's `[[name, node, index, kwargs], ...]` node as Keras 3's `{"args", "kwargs"}`."""
    if isinstance(node, Mapping):
        return node
    if not isinstance(node, list) or not node:
        raise TypeError(f"inbound node {str(node)[:80]}")
    tensors = [
        {"class_name": "__keras_tensor__", "config": {"keras_history": list(item[:3])}}
        for item in node
    ]
    kwargs = node[0][3] if len(node[0]) > 3 and isinstance(node[0][3], Mapping) else {}
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": dict(kwargs)}


def _call_keywords(layer: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A node's keywords, less `training` (the model's call decides it, as in Keras's
    functional models, which override the recorded value) and a `mask` that is None or that
    the layer's `call` does not name."""
    from lamina.core.construct import _accepted_keywords

    named = _accepted_keywords(getattr(layer, "call", layer))
    return {
        k: v
        for k, v in kwargs.items()
        if k != "training" and not (k == "mask" and (v is None or k not in named))
    }


def _endpoints(spec: Any, tensors: dict[tuple[str, int], list[Any]]) -> Any:
    if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
        return tensors[(spec[0], int(spec[1]))][int(spec[2])]
    if isinstance(spec, Mapping):
        return {k: _endpoints(v, tensors) for k, v in spec.items()}
    return [_endpoints(item, tensors) for item in spec]


def _input(config: Mapping[str, Any], graph: KerasGraph) -> Any:
    from lamina.core.tensor import Input

    name = str(config.get("name"))
    for key in ("sparse", "ragged"):
        if config.get(key):
            graph.problem(f"InputLayer '{name}': {key} inputs are not supported")
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if not isinstance(shape, list) or any(
        not (d is None or (isinstance(d, int) and 0 <= d <= 2**31)) for d in shape
    ):
        graph.problem(f"InputLayer '{name}': batch_shape {str(shape)[:80]} is not a shape")
        return None
    if graph.check_only:
        return None
    dtype = plain_dtype(config.get("dtype")) or "float32"
    return Input(batch_shape=tuple(shape), dtype=dtype, name=name)


def _sequential(entry: Mapping[str, Any], graph: KerasGraph, depth: int) -> Any:
    from lamina.core.sequential import Sequential

    config = entry["config"]
    stack: list[Any] = []
    for item in config.get("layers") or []:
        if isinstance(item, Mapping) and item.get("class_name") == "InputLayer":
            stack.append(_input(item.get("config") or {}, graph))
            continue
        layer_config = item.get("config") if isinstance(item, Mapping) else None
        if not stack and isinstance(layer_config, Mapping) and "batch_input_shape" in layer_config:
            # Keras 2 kept a Sequential's input on its first layer
            stack.append(
                _input({**layer_config, "name": f"{layer_config.get('name')}_input"}, graph)
            )
            item = {**item, "config": {**layer_config}}
            item["config"].pop("batch_input_shape")
        stack.append(_layer(item, graph, depth))
    if graph.problems or graph.check_only:
        return None
    return Sequential(stack, name=str(config.get("name")))


def _functional(entry: Mapping[str, Any], graph: KerasGraph, depth: int) -> Any:
    from lamina.core.model import Model

    config = entry["config"]
    tensors: dict[tuple[str, int], list[Any]] = {}
    pending: list[tuple[Any, str, int, Mapping[str, Any]]] = []
    for item in config.get("layers") or []:
        if not isinstance(item, Mapping):
            graph.problem(f"layer entry {str(item)[:80]} is not an object")
            continue
        name = str(item.get("name") or (item.get("config") or {}).get("name"))
        if item.get("class_name") == "InputLayer":
            tensors[(name, 0)] = [_input(item.get("config") or {}, graph)]
            continue
        layer = _layer(item, graph, depth)
        for index, node in enumerate(item.get("inbound_nodes") or []):
            pending.append((layer, name, index, _keras2_node(node)))
    if graph.problems or graph.check_only:
        return None
    while pending:
        waiting = []
        for layer, name, index, node in pending:
            try:
                args = _history(node.get("args", []), tensors)
                kwargs = _history(node.get("kwargs", {}), tensors)
            except KeyError:
                waiting.append((layer, name, index, node))
                continue
            kwargs = _call_keywords(layer, kwargs)
            out = layer(*args, **kwargs)
            tensors[(name, index)] = list(out) if isinstance(out, (list, tuple)) else [out]
        if len(waiting) == len(pending):
            graph.problem(f"the graph's nodes {[n for _, n, _, _ in waiting][:10]} never run")
            return None
        pending = waiting
    try:
        inputs = _endpoints(config["input_layers"], tensors)
        outputs = _endpoints(config["output_layers"], tensors)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        graph.problem(f"model '{config.get('name')}': bad inputs or outputs ({error})")
        return None
    return Model(inputs, outputs, name=str(config.get("name")))


def build_keras_model(entry: Mapping[str, Any], graph: KerasGraph, depth: int = 0) -> Any:
    """The lamina model for a Keras model entry (Functional or Sequential, nested ones too).

    With `graph.check_only`, nothing is built: the problems and Lambda layers are collected.
    """
    if depth > _MAX_DEPTH:
        raise graph.ctx.error(f"models nested deeper than {_MAX_DEPTH} levels")
    config = entry.get("config") if isinstance(entry, Mapping) else None
    if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
        raise graph.ctx.error("config.json does not describe a Keras model (no 'layers')")
    if len(config["layers"]) > _MAX_LAYERS:
        raise graph.ctx.error(f"more than {_MAX_LAYERS} layers")
    kind = entry.get("class_name")
    make: Callable[..., Any] = _sequential if kind == "Sequential" else _functional
    if not is_keras_module(entry.get("module")) or kind not in (
        "Functional",
        "Model",
        "Sequential",
    ):
        graph.problem(
            f"model class '{str(kind)[:80]}' (module '{str(entry.get('module'))[:80]}') is "
            "not a Keras Functional or Sequential model"
        )
        return None
    try:
        return make(entry, graph, depth)
    except LoadError:
        raise
    except Exception as error:
        graph.problem(f"model '{config.get('name')}': {type(error).__name__}: {error}")
        return None
