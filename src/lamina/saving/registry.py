"""A registry of user functions and classes that lamina can save by name and load back.

Registering is how a user tells lamina "trust this object": a saved config refers to it by the
key ``"package>name"`` and loading looks the key up here, so the object's code is never stored in
the file. It follows Keras's ``register_keras_serializable``:

- ``@register_serializable(package="Custom", name=None)`` registers a function or a class under
  ``"Custom>function_name"``.
- ``get_registered_object(key, custom_objects)`` looks a key up: first in ``custom_objects``,
  then in the active ``custom_object_scope``, then in the global registry.
- ``get_registered_name(obj)`` gives the key of a registered object, or its ``__name__``.

Example:
    >>> from lamina.saving.registry import register_serializable, get_registered_object
    >>> @register_serializable(package="Docs")
    ... def double(x):
    ...     return x * 2
    >>> get_registered_object("Docs>double") is double
    True
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

__all__ = [
    "custom_object_scope",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "register_serializable",
]

T = TypeVar("T")

# key ("package>name") -> object. Public through get_custom_objects(), like Keras.
_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}
# id(object) -> (object, key). Keyed by identity so unhashable or value-equal objects are fine;
# the object is kept so its id cannot be reused while it is registered.
_GLOBAL_CUSTOM_NAMES: dict[int, tuple[Any, str]] = {}


class _ScopeState(threading.local):
    def __init__(self) -> None:
        self.stack: list[dict[str, Any]] = []


_SCOPE = _ScopeState()


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable[[T], T]:
    """Registers a function or class so that saved configs can refer to it by name.

    Args:
        package: The first half of the key; use your package's name to avoid clashes.
        name: The second half of the key; defaults to the object's ``__name__``.

    Returns:
        A decorator that registers its argument and returns it unchanged.

    Raises:
        ValueError: If ``package`` or ``name`` contains ``">"``, if the object has no name, or
            if a class has no ``get_config`` method.

    Example:
        >>> @register_serializable(package="Docs", name="halve")
        ... def half(x):
        ...     return x / 2
        >>> get_registered_name(half)
        'Docs>halve'
    """
    if not isinstance(package, str) or not package or ">" in package:
        raise ValueError(
            f"register_serializable: package must be a non-empty string without '>', got "
            f"{package!r}. Use e.g. register_serializable(package='my_project')."
        )
    if name is not None and (not isinstance(name, str) or not name or ">" in name):
        raise ValueError(
            f"register_serializable: name must be a non-empty string without '>', got {name!r}."
        )

    def decorator(obj: T) -> T:
        obj_name = name if name is not None else getattr(obj, "__name__", None)
        if not isinstance(obj_name, str) or not obj_name:
            raise ValueError(
                f"register_serializable: cannot tell the name of {obj!r} (it has no __name__); "
                f"pass one: register_serializable(package={package!r}, name='my_name')(obj)."
            )
        # A torch module class needs none: its constructor arguments are read from the
        # instance's attributes (saving/torch_modules.py), or refused there with the fix.
        if (
            isinstance(obj, type)
            and not hasattr(obj, "get_config")
            and not issubclass(obj, torch.nn.Module)
        ):
            raise ValueError(
                f"register_serializable: class {obj.__qualname__} has no get_config() method, "
                f"so lamina could not save its instances. Add get_config() (and from_config() if "
                f"__init__ does not take the config's keys)."
            )
        key = f"{package}>{obj_name}"
        previous = _GLOBAL_CUSTOM_OBJECTS.get(key)
        if previous is not None:
            # Re-running a notebook cell registers a new object under the same key: the new one
            # wins, and the old one must no longer claim the key.
            _GLOBAL_CUSTOM_NAMES.pop(id(previous), None)
        _GLOBAL_CUSTOM_OBJECTS[key] = obj
        _GLOBAL_CUSTOM_NAMES[id(obj)] = (obj, key)
        return obj

    return decorator


register_keras_serializable = register_serializable
"""Keras's name for `register_serializable`, so custom-layer code ports unchanged."""


def get_custom_objects() -> dict[str, Any]:
    """Returns the live global registry, a dict from ``"package>name"`` to object.

    Like Keras's ``get_custom_objects()``, it may be changed in place, e.g. cleared in tests.
    """
    return _GLOBAL_CUSTOM_OBJECTS


def registered_key(obj: Any) -> str | None:
    """Returns the key ``obj`` is registered under, or None if it is not registered."""
    entry = _GLOBAL_CUSTOM_NAMES.get(id(obj))
    if entry is not None and entry[0] is obj and _GLOBAL_CUSTOM_OBJECTS.get(entry[1]) is obj:
        return entry[1]
    # Registered by writing into get_custom_objects() directly.
    for key, value in _GLOBAL_CUSTOM_OBJECTS.items():
        if value is obj:
            return key
    return None


def function_reference(fn: Any) -> Any:
    """How a loss or metric function appears in a compile config: its registered key, or
    the name of one of lamina's own; any other function itself, which saving then stores
    like a Lambda's function (as an op graph where it traces), so that a model compiled
    with a loss from the user's script loads, compiled, in a fresh program."""
    key = registered_key(fn)
    if key is not None:
        return key
    if str(getattr(fn, "__module__", "")).startswith("lamina.") or not callable(fn):
        return get_registered_name(fn)
    return fn


def get_registered_name(obj: Any) -> str:
    """Returns the key ``obj`` is registered under, or its plain name if it is not registered.

    Args:
        obj: A function, a class, or any object with a ``__name__``.

    Returns:
        ``"package>name"`` for a registered object, else ``obj.__name__`` (or the class name of
        an instance without one).
    """
    key = registered_key(obj)
    if key is not None:
        return key
    name = getattr(obj, "__name__", None)
    return name if isinstance(name, str) else type(obj).__name__


def get_registered_object(key: str, custom_objects: Mapping[str, Any] | None = None) -> Any | None:
    """Looks up an object by its registered key (or plain name in ``custom_objects``).

    Args:
        key: A key such as ``"Custom>slice"``, or a plain name that ``custom_objects`` or an
            active ``custom_object_scope`` provides.
        custom_objects: Objects to try first, mapping a key or name to the object.

    Returns:
        The object, or None if nothing is known under ``key``.
    """
    if custom_objects and key in custom_objects:
        return custom_objects[key]
    for scope in reversed(_SCOPE.stack):
        if key in scope:
            return scope[key]
    return _GLOBAL_CUSTOM_OBJECTS.get(key)


def deserialize_object(
    config: Mapping[str, Any],
    *,
    kind: str,
    builtins: Mapping[str, Any],
    wrap_function: Callable[..., Any],
    named_functions: Mapping[str, Callable[..., Any]] | None = None,
    custom_objects: Mapping[str, Any] | None = None,
) -> Any:
    """Rebuild a loss or metric from its `{"class_name", "config"}` form.

    A built-in class name is rebuilt with `from_config`; `"function"` wraps a registered (or
    named built-in) function with `wrap_function(fn, **options)`; any other class name must be
    registered or given in `custom_objects`.

    Args:
        config: `{"class_name": ..., "config": {...}}`.
        kind: what is being rebuilt, for messages (`"Loss"`, `"Metric"`).
        builtins: lamina's own classes by name.
        wrap_function: builds the object around a plain function.
        named_functions: lamina's own functions by name.
        custom_objects: objects to try first.
    """
    class_name, options = config["class_name"], dict(config.get("config", {}))
    if class_name in builtins:
        return builtins[class_name].from_config(options)
    hint = "or register it with lamina.saving.register_serializable()."
    if class_name == "function":
        key = options.pop("function")
        if callable(key):  # stored by value (see function_reference); custom_objects win
            name = getattr(key, "__name__", "")
            return wrap_function(get_registered_object(name, custom_objects) or key, **options)
        fn = get_registered_object(key, custom_objects) or (named_functions or {}).get(key)
        if fn is None:
            raise ValueError(
                f"{kind} function {key!r} is not known; pass custom_objects={{{key!r}: fn}} {hint}"
            )
        return wrap_function(fn, **options)
    cls = get_registered_object(class_name, custom_objects)
    if cls is None:
        raise ValueError(
            f"{kind} class {class_name!r} is not known; pass custom_objects="
            f"{{{class_name!r}: cls}} {hint}"
        )
    return cls.from_config(options)


def find_registered(module: str, qualname: str) -> Any | None:
    """Returns a registered object defined as ``module.qualname``, if one is registered.

    Used to load a saved reference to importable code without trusting the whole module.
    """
    for scope in [*reversed(_SCOPE.stack), _GLOBAL_CUSTOM_OBJECTS]:
        for value in scope.values():
            if (
                getattr(value, "__module__", None) == module
                and getattr(value, "__qualname__", None) == qualname
            ):
                return value
    return None


class custom_object_scope:  # lower case like the Keras API it mirrors
    """A context in which the given objects are known by name while loading.

    Args:
        *custom_objects: Dicts from name (or ``"package>name"`` key) to object.

    Example:
        >>> def triple(x):
        ...     return x * 3
        >>> with custom_object_scope({"triple": triple}):
        ...     get_registered_object("triple") is triple
        True
        >>> get_registered_object("triple") is None
        True
    """

    def __init__(self, *custom_objects: Mapping[str, Any] | None) -> None:
        merged: dict[str, Any] = {}
        for objects in custom_objects:
            if objects is None:
                continue
            if not isinstance(objects, Mapping):
                raise TypeError(
                    f"custom_object_scope expects dicts from name to object, got "
                    f"{type(objects).__name__}. Example: custom_object_scope({{'slice': slice}})."
                )
            merged.update(objects)
        self._objects = merged

    def __enter__(self) -> custom_object_scope:
        _SCOPE.stack.append(self._objects)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _SCOPE.stack.pop()
