"""Plain torch modules in configs (a `TorchModuleWrapper`'s module, a Lambda's `arguments`).

A module is written as its class and constructor arguments; its weights travel with the
layer's like any others. A load builds it only from classes it can name without trusting the
file: `torch.nn`'s own (a fixed table, `torch_nn_classes`), classes registered with
`@lamina.saving.register_serializable` or given in `custom_objects`, and classes of the
modules the caller lists in `trusted_modules` (imported, as trusted functions are). Any other
class is refused with an error that names it and both ways to allow it.

The entry: `{"class_name": <torch.nn name | registered key | qualname>, "module": <the
class's module, absent for torch.nn and registered classes>, "config": {...}}`. The config is
the class's `get_config()` when it has one (rebuilt with `from_config`, or the constructor),
else the arguments `module_arguments` reads from `__init__`'s signature and the attributes.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from typing import Any

from torch import nn

from lamina.saving import registry
from lamina.saving.errors import SaveError, UnknownClassError
from lamina.saving.values import LoadContext

__all__ = ["decode_module", "encode_module"]

# torch's containers, whose constructors take the children themselves.
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def encode_module(module: nn.Module, owner: str) -> dict[str, Any]:
    """The entry (not yet JSON-encoded) that rebuilds `module`; raises `SaveError` when its
    constructor arguments cannot be known."""
    from lamina.layers.torch_module import module_arguments, torch_nn_classes

    cls = type(module)
    key = registry.registered_key(cls)
    builtin = key is None and torch_nn_classes().get(cls.__name__) is cls
    get_config = getattr(module, "get_config", None)
    if builtin and cls in _CONTAINERS:  # nn.Sequential(*modules) and the like: the children
        children = dict(module.named_children())
        config: Any = {"modules": list(children.values()) if cls is nn.ModuleList else children}
    elif callable(get_config) and not builtin:
        config = get_config()
    else:
        config = module_arguments(module)
    if not isinstance(config, dict):
        raise SaveError(
            f"{owner}: the constructor arguments of its {cls.__qualname__} module could not be "
            "read from the module's attributes (each __init__ argument is kept as an attribute "
            "of the same name, holding a plain value). Give the class a get_config() that "
            "returns them, or save only the weights with model.save_weights()."
        )
    entry: dict[str, Any] = {"class_name": key or (cls.__name__ if builtin else cls.__qualname__)}
    if key is None and not builtin:
        entry["module"] = cls.__module__
    entry["config"] = config
    return entry


def decode_module(entry: Any, ctx: LoadContext, owner: str) -> nn.Module:
    """The module an `encode_module` entry describes (its config already decoded)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ctx.error(f"{owner}: a torch module entry must be a dict with a 'class_name'.")
    config = entry.get("config")
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ctx.error(f"{owner}: a torch module entry needs a 'config' dict.")
    cls = _module_class(entry["class_name"], entry.get("module"), ctx, owner)
    try:
        from_config = vars(cls).get("from_config")
        if cls in _CONTAINERS and set(config) == {"modules"}:
            modules = config["modules"]
            module: nn.Module = cls(OrderedDict(modules)) if cls is nn.Sequential else cls(modules)
        elif from_config is not None:
            module = cls.from_config(config)  # type: ignore[attr-defined]
        else:
            module = cls(**config)
    except Exception as error:
        raise ctx.error(
            f"{owner}: its {cls.__qualname__} module could not be rebuilt from "
            f"{str(config)[:200]}: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(module, nn.Module):
        raise ctx.error(f"{owner}: {cls.__qualname__} did not build a torch.nn.Module.")
    return module


def _module_class(class_name: str, module: Any, ctx: LoadContext, owner: str) -> type[nn.Module]:
    from lamina.core.layer import Layer
    from lamina.layers.torch_module import torch_nn_classes

    found: Any = registry.get_registered_object(class_name, ctx.custom_objects)
    bare = class_name.rsplit(".", 1)[-1]
    if found is None and bare != class_name:  # "make.<locals>.Block" as custom_objects' "Block"
        found = ctx.custom_objects.get(bare)
    if found is None and isinstance(module, str):
        found = registry.find_registered(module, class_name)
        if found is None and _trusted(module, ctx):
            found = _import_class(module, class_name, ctx, owner)
    if found is None and module is None:
        found = torch_nn_classes().get(class_name)
    if found is None:
        origin = f"{module}.{class_name}" if isinstance(module, str) else class_name
        package = module.split(".")[0] if isinstance(module, str) else "my_package"
        trust = (
            f"load with trusted_modules=[{package[:60]!r}] so that lamina imports the class"
            if "<locals>" not in class_name
            else "move the class to module level and load with trusted_modules=[...] (a class "
            "defined inside a function cannot be imported)"
        )
        raise ctx.error(
            f"{owner}: its torch module class '{origin[:120]}' is not a torch.nn class and is "
            "not known to this program, so the module cannot be rebuilt safely. Either "
            "register the class before loading (decorate it with "
            "@lamina.saving.register_serializable(), or pass custom_objects="
            f"{{{bare[:60]!r}: ...}}), or, if you trust the code of {package[:60]!r}, {trust}.",
            UnknownClassError,
        )
    if not (isinstance(found, type) and issubclass(found, nn.Module)) or issubclass(found, Layer):
        raise ctx.error(
            f"{owner}: '{class_name[:80]}' names a {getattr(found, '__name__', found)!s:.80}, "
            "not a torch.nn.Module class.",
            UnknownClassError,
        )
    return found


def _trusted(module: str, ctx: LoadContext) -> bool:
    return not ctx.safe_mode or any(
        module == t or module.startswith(t + ".") for t in ctx.trusted_modules
    )


def _import_class(module: str, qualname: str, ctx: LoadContext, owner: str) -> Any:
    """`module.qualname`, imported (the caller trusts `module`); None when it is not there."""
    if not all(p.isidentifier() for p in (*module.split("."), *qualname.split("."))):
        return None  # a class defined inside a function ('make.<locals>.Block') is not importable
    try:
        found: Any = importlib.import_module(module)
    except ImportError as error:
        raise ctx.error(f"{owner}: cannot import {module[:80]!r}: {error}") from None
    for part in qualname.split("."):
        found = getattr(found, "__dict__", {}).get(part)
        if found is None:
            return None
    return found
