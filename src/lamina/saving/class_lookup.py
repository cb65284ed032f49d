"""Which class a saved layer or model entry names, trusting nothing in it.

A class is looked up in `custom_objects`, the registry (`@register_serializable`) and lamina's
own layers, in that order, and never imported from anywhere.
"""

from __future__ import annotations

import inspect
from typing import Any

from lamina.core.errors import warn
from lamina.core.layer import Layer
from lamina.saving import registry
from lamina.saving.errors import UnknownClassError
from lamina.saving.graph import builtin_classes
from lamina.saving.values import LoadContext

__all__ = ["resolve_class"]


def _model_subclass(entry: dict[str, Any], kind: str, ctx: LoadContext, owner: str) -> Any:
    """The registered subclass a functional or Sequential model was saved from, when it can
    be rebuilt as one (its `__init__` takes what `Model`'s does); None for the plain class,
    with a warning saying why the subclass was not used."""
    from lamina.core.model import Model
    from lamina.core.sequential import Sequential

    stored = entry.get("subclass")
    if stored is None:
        return None
    base = Model if kind == "Functional" else Sequential
    name = stored.get("class_name") if isinstance(stored, dict) else None
    if not isinstance(name, str):
        raise ctx.error(f"model {owner}: 'subclass' must be {{'class_name': ...}}.")
    module = stored.get("module")
    cls = _known_class(name, ctx)
    why = ""
    if cls is None:
        origin = f" (module '{str(module)[:80]}')" if module is not None else ""
        why = (
            f"is not registered here{origin}. Decorate it with "
            "@lamina.saving.register_serializable(package=...) or pass custom_objects="
            f"{{{name.rsplit('>', 1)[-1][:60]!r}: ...}} to get it back"
        )
    elif not (isinstance(cls, type) and issubclass(cls, base)):
        found = getattr(cls, "__name__", type(cls).__name__)
        why = f"names a {found}, not a {base.__name__} subclass"
    elif not _takes_base_arguments(cls, base):
        why = (
            "has an __init__ of its own but no get_config(); give it get_config() returning "
            "its __init__ arguments"
        )
    if why:
        warn(
            f"'{ctx.source}': model {owner} was saved from the {base.__name__} subclass "
            f"'{name[:80]}', which {why}. It is loaded as a plain {base.__name__}, without "
            "the subclass's own methods.",
        )
        return None
    return cls


def _takes_base_arguments(cls: type, base: type) -> bool:
    """Whether `cls(...)` accepts what `base(...)` does (Keras's test for reviving a
    functional subclass from its graph)."""
    init = cls.__init__  # type: ignore[misc]
    if init is base.__init__:  # type: ignore[misc]
        return True
    try:
        parameters = inspect.signature(init).parameters.values()
    except (TypeError, ValueError):
        return False
    kinds = {parameter.kind for parameter in parameters}
    return {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD} <= kinds


def _bare_name(class_name: str) -> str:
    """ "Name" from "package>Name" or a qualname such as "make.<locals>.Name"."""
    return class_name.rsplit(">", 1)[-1].rsplit(".", 1)[-1][:60]


def _known_class(class_name: str, ctx: LoadContext) -> Any:
    """The class saved as `class_name` in `custom_objects` or the registry (also by its bare
    name in `custom_objects`); None when neither knows it. Nothing is imported."""
    cls = registry.get_registered_object(class_name, ctx.custom_objects)
    if cls is None and _bare_name(class_name) != class_name:
        cls = ctx.custom_objects.get(_bare_name(class_name))
    return cls


def resolve_class(class_name: str, module: Any, ctx: LoadContext, owner: str) -> type[Layer]:
    """The layer class saved as `class_name`: from `custom_objects`, the registry, or lamina's
    own layers; never imported from anywhere."""
    cls = _known_class(class_name, ctx)
    short = _bare_name(class_name)
    if cls is None and module is None:
        cls = builtin_classes().get(class_name)
    if cls is None:
        package = class_name.split(">", 1)[0] if ">" in class_name else str(module or "my_package")
        origin = f" (saved from module '{str(module)[:80]}')" if module is not None else ""
        raise ctx.error(
            f"layer {owner} has class '{class_name[:80]}'{origin}, which is not a lamina layer "
            "and is not registered in this program. Define the class and decorate it with "
            f"@lamina.saving.register_serializable(package={package[:60]!r}) before loading, or "
            f"pass custom_objects={{{short!r}: {short}}}.",
            UnknownClassError,
        )
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ctx.error(
            f"layer {owner}: '{class_name[:80]}' names a {type(cls).__name__}, not a Layer class.",
            UnknownClassError,
        )
    return cls
