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

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lamina.core.layer import Layer
from lamina.saving import registry
from lamina.saving.errors import LoadError
from lamina.saving.values import LoadContext

__all__ = ["KerasGraph", "build_keras_model", "is_keras_module"]

_KERAS_MODULES = ("keras", "keras.layers", "keras.models", "keras.src.")
_BASE_KEYS = {"name", "trainable", "dtype", "activity_regularizer"}
_MAX_DEPTH = 32
_MAX_LAYERS = 100_000


def is_keras_module(module: Any) -> bool:
    """Whether `module` is one of Keras's own (`keras.layers`, `keras.src.models...`)."""
    if module is None:
        return True
    return isinstance(module, str) and (
        module in _KERAS_MODULES[:3] or module.startswith(_KERAS_MODULES[3])
    )


def _lamina_layers() -> dict[str, type]:
    import lamina.layers as family

    table: dict[str, type] = {}
    for name in family.__all__:
        cls = getattr(family, name)
        if isinstance(cls, type) and issubclass(cls, Layer):
            table[name] = cls
    return table


@dataclass
class KerasGraph:
    """What a Keras config asks for: collected problems, Lambda layers and classes used."""

    ctx: LoadContext
    problems: list[str] = field(default_factory=list)
    lambdas: list[dict[str, Any]] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)
    custom: list[str] = field(default_factory=list)
    check_only: bool = False

    def problem(self, message: str) -> None:
        if len(self.problems) < 200:
            self.problems.append(message)

    def raise_problems(self) -> None:
        if self.problems:
            listed = "\n  - ".join(self.problems)
            raise self.ctx.error(
                f"lamina cannot build this Keras model ({len(self.problems)} problem"
                f"{'s' if len(self.problems) > 1 else ''}):\n  - {listed}"
            )


# ------------------------------------------------------------------------------ values
def _plain_dtype(value: Any) -> Any:
    """Keras's `{"class_name": "DTypePolicy", "config": {"name": "float32"}}` as its name."""
    if isinstance(value, Mapping) and value.get("class_name") in (
        "DTypePolicy",
        "FloatDTypePolicy",
    ):
        config = value.get("config")
        return config.get("name") if isinstance(config, Mapping) else None
    return value


def _accepted(cls: Any) -> tuple[set[str], bool]:
    """The keyword names `cls(...)` takes, and whether it also takes `**kwargs`."""
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return set(), True
    names = set(parameters) - {"self"}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        if isinstance(cls, type) and issubclass(cls, Layer):
            # a layer's **kwargs go to Layer.__init__, which takes only the base settings
            base = inspect.signature(Layer.__init__).parameters
            return names | set(base) - {"self", "kwargs"}, False
        return names, True
    return names, False


# Keras arguments lamina has no counterpart for, at the values that change nothing.
_HARMLESS: dict[str, tuple[Any, ...]] = {
    "data_format": ("channels_last",),
    "renorm_momentum": (),  # unused unless renorm=True, which is refused
    "synchronized": (False,),
    "quantization_config": (None,),
}


def _harmless(key: str, value: Any) -> bool:
    if value in (None, False, {}, []):
        return True
    allowed = _HARMLESS.get(key)
    return allowed is not None and (not allowed or value in allowed)


def _catalog_object(value: Mapping[str, Any], key: str, owner: str, graph: KerasGraph) -> Any:
    """A Keras initializer, regularizer or constraint dict as lamina's object."""
    from lamina import constraints, initializers, regularizers

    lookup = {
        "keras.initializers": initializers,
        "keras.regularizers": regularizers,
        "keras.constraints": constraints,
    }
    module = value.get("module")
    family = lookup.get(str(module))
    if family is None:
        family = (
            initializers
            if key.endswith("initializer")
            else regularizers
            if key.endswith("regularizer")
            else constraints
        )
    name = str(value.get("class_name"))
    cls = getattr(family, name, None) if module in lookup or module is None else None
    if cls is None:
        cls = registry.get_registered_object(
            str(value.get("registered_name") or name), dict(graph.ctx.custom_objects)
        )
    if not isinstance(cls, type):
        graph.problem(f"{owner}: {key} '{name[:80]}' (module '{str(module)[:80]}') is unknown")
        return None
    config = dict(value.get("config") or {})
    accepted, spread = _accepted(cls)
    kept = {}
    for k, v in config.items():
        if spread or k in accepted:
            kept[k] = v
        elif v is not None:
            graph.problem(f"{owner}: {key} {name} argument {k}={v!r} is not supported")
    try:
        return cls(**kept)
    except Exception as error:
        graph.problem(f"{owner}: {key} {name}: {error}")
        return None


def _value(value: Any, key: str, owner: str, graph: KerasGraph) -> Any:
    value = _plain_dtype(value)
    if isinstance(value, Mapping) and "class_name" in value and "config" in value:
        if key.endswith(("initializer", "regularizer", "constraint")):
            return _catalog_object(value, key, owner, graph)
        if value.get("class_name") == "function" and key == "activation":
            return value.get("config")
    return value


def _function(config: Mapping[str, Any], owner: str, name: str, graph: KerasGraph) -> Any:
    """The function of Lambda `name` from custom_objects or the registry; never bytecode."""
    objects = graph.ctx.custom_objects
    if isinstance(config, Mapping) and config.get("class_name") == "__lambda__":
        fn = objects.get(name)
        source = config.get("source") if isinstance(config.get("source"), str) else None
        graph.lambdas.append({"layer": name, "kind": "bytecode", "source": source})
        if callable(fn):
            return fn
        kept = f" Keras kept its source: {source[:200]!r}." if source else " No source kept."
        graph.problem(
            f"{owner} holds a Python lambda stored as bytecode, which lamina never runs.{kept} "
            f"Pass custom_objects={{{name[:60]!r}: fn}} with the function"
        )
        return None
    function_name = config.get("config") if isinstance(config, Mapping) else config
    if not isinstance(function_name, str):
        graph.problem(f"{owner}: its function {str(config)[:80]} is not understood")
        return None
    graph.lambdas.append({"layer": name, "kind": "named", "function": function_name[:80]})
    fn = objects.get(name) or registry.get_registered_object(function_name, dict(objects))
    if not callable(fn):
        graph.problem(
            f"{owner} calls the function '{function_name[:80]}'; pass custom_objects="
            f"{{{function_name[:60]!r}: {function_name[:60]}}} or register it"
        )
        return None
    return fn


def _layer_class(entry: Mapping[str, Any], owner: str, graph: KerasGraph) -> Any:
    name = str(entry.get("class_name"))[:80]
    module = entry.get("module")
    graph.classes[name] = graph.classes.get(name, 0) + 1
    if is_keras_module(module) and entry.get("registered_name") in (None, name):
        cls = _lamina_layers().get(name)
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
    accepted, spread = _accepted(cls)
    kwargs: dict[str, Any] = {}
    for key, value in config.items():
        if key == "function" and kind == "Lambda":
            kwargs[key] = _function(value, owner, name, graph)
        elif spread or key in accepted or key in _BASE_KEYS:
            kwargs[key] = _value(value, key, owner, graph)
        elif not _harmless(key, value):
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
    dtype = _plain_dtype(config.get("dtype")) or "float32"
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
            kwargs = {k: v for k, v in kwargs.items() if not (k == "mask" and v is None)}
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
