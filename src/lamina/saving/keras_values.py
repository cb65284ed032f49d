"""Keras config values as lamina's: dtype policies, initializer / regularizer / constraint
dicts, a Lambda's function (never bytecode), and which Keras arguments lamina may ignore.
Also `KerasGraph`, which collects every problem of one Keras model before any is raised."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lamina.core.layer import Layer
from lamina.saving import registry
from lamina.saving.values import LoadContext

__all__ = [
    "BASE_KEYS",
    "KerasGraph",
    "accepted",
    "config_value",
    "harmless",
    "is_keras_module",
    "lambda_function",
    "lamina_layers",
    "plain_dtype",
]

_KERAS_MODULES = ("keras", "keras.layers", "keras.models", "keras.src.")
BASE_KEYS = {"name", "trainable", "dtype", "activity_regularizer"}


def is_keras_module(module: Any) -> bool:
    """Whether `module` is one of Keras's own (`keras.layers`, `keras.src.models...`)."""
    if module is None:
        return True
    return isinstance(module, str) and (
        module in _KERAS_MODULES[:3] or module.startswith(_KERAS_MODULES[3])
    )


def lamina_layers() -> dict[str, type]:
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
def plain_dtype(value: Any) -> Any:
    """Keras's `{"class_name": "DTypePolicy", "config": {"name": "float32"}}` as its name."""
    if isinstance(value, Mapping) and value.get("class_name") in (
        "DTypePolicy",
        "FloatDTypePolicy",
    ):
        config = value.get("config")
        return config.get("name") if isinstance(config, Mapping) else None
    return value


def accepted(cls: Any) -> tuple[set[str], bool]:
    """The keyword names `cls(...)` takes, and whether it also takes `**kwargs`."""
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return set(), True
    names = set(parameters) - {"self"}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        if isinstance(cls, type) and issubclass(cls, Layer):
            # a layer's **kwargs go up its bases to Layer.__init__, and for SimpleRNN, LSTM
            # and GRU to their cell (`cell_class`) too
            owners = [c for c in cls.__mro__ if issubclass(c, Layer)]
            cell = getattr(cls, "cell_class", None)
            if isinstance(cell, type):
                owners += [c for c in cell.__mro__ if issubclass(c, Layer)]
                names.add("use_cudnn")
            for owner in owners:
                try:
                    names |= set(inspect.signature(owner.__init__).parameters)
                except (TypeError, ValueError):
                    continue
            return names - {"self", "kwargs", "args"}, False
        return names, True
    return names, False


# Keras arguments lamina has no counterpart for, at the values that change nothing.
_HARMLESS: dict[str, tuple[Any, ...]] = {
    "data_format": ("channels_last",),
    "renorm_momentum": (),  # unused unless renorm=True, which is refused
    "synchronized": (False,),
    "quantization_config": (None,),
}


def harmless(key: str, value: Any) -> bool:
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
    known, spread = accepted(cls)
    kept = {}
    for k, v in config.items():
        if spread or k in known:
            kept[k] = v
        elif v is not None:
            graph.problem(f"{owner}: {key} {name} argument {k}={v!r} is not supported")
    try:
        return cls(**kept)
    except Exception as error:
        graph.problem(f"{owner}: {key} {name}: {error}")
        return None


def config_value(value: Any, key: str, owner: str, graph: KerasGraph) -> Any:
    value = plain_dtype(value)
    if isinstance(value, Mapping) and "class_name" in value and "config" in value:
        if key.endswith(("initializer", "regularizer", "constraint")):
            return _catalog_object(value, key, owner, graph)
        if value.get("class_name") == "function" and key == "activation":
            return value.get("config")
    return value


def lambda_function(config: Mapping[str, Any], owner: str, name: str, graph: KerasGraph) -> Any:
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
