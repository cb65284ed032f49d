"""`Catalog`: how Keras's object modules (`regularizers`, `constraints`, `initializers`) turn
names, config dicts and classes into objects, and objects back into configs.

Each module keeps its own table of classes and short names; the lookup, the registered
classes of the user's own and the error messages are the same for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Catalog(Generic[T]):
    """The objects of one kind: `kind` names them in errors, `base` is their base class,
    `classes` holds lamina's own by class name and `names` the short names (`"l2"`).

    Example:
        >>> class Thing:
        ...     def __init__(self, size=1): self.size = size
        ...     def get_config(self): return {"size": self.size}
        ...     @classmethod
        ...     def from_config(cls, config): return cls(**config)
        >>> things = Catalog("thing", Thing, {"Thing": Thing}, {"thing": Thing}, hint="Thing(2)")
        >>> things.serialize(Thing(2))
        {'class_name': 'Thing', 'config': {'size': 2}}
        >>> things.get({"class_name": "Thing", "config": {"size": 3}}).size
        3
    """

    def __init__(
        self,
        kind: str,
        base: type[T],
        classes: Mapping[str, type[T]],
        names: Mapping[str, type[T]],
        *,
        hint: str,
    ) -> None:
        self.kind, self.base, self.classes, self.names, self.hint = kind, base, classes, names, hint

    def serialize(self, obj: Any) -> Any:
        """`{"class_name": ..., "config": ...}` for an object of the kind (a registered name
        for the user's own classes); anything else (None, a function) stays itself, for
        saving to store as a function."""
        if not isinstance(obj, self.base):
            return obj
        name = type(obj).__name__
        if self.classes.get(name) is not type(obj):
            from lamina.saving.registry import get_registered_name

            name = get_registered_name(type(obj))
        return {"class_name": name, "config": obj.get_config()}  # type: ignore[attr-defined]

    def deserialize(
        self, config: Mapping[str, Any], *, custom_objects: Mapping[str, Any] | None = None
    ) -> T:
        """The object that `serialize` described: lamina's class, a registered one, or one in
        `custom_objects`."""
        class_name = config.get("class_name")
        cls: Any = self.classes.get(str(class_name))
        if cls is None:
            from lamina.saving.registry import get_registered_object

            cls = get_registered_object(str(class_name), dict(custom_objects or {}))
        if cls is None:
            raise ValueError(
                f"Unknown {self.kind} class {class_name!r}; expected one of "
                f"{', '.join(sorted(self.classes))}, or a class passed in custom_objects= or "
                "registered with lamina.saving.register_serializable()."
            )
        return cls.from_config(config.get("config", {}))  # type: ignore[no-any-return]

    def get(self, identifier: Any) -> Any:
        """An object from its short name or class name (with Keras's defaults), its
        `serialize()` dict, its class, or itself (any callable); `None` stays `None`."""
        if identifier is None:
            return None
        if isinstance(identifier, Mapping):
            return self.deserialize(identifier)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()  # a class, as Keras accepts: its defaults
        if isinstance(identifier, str):
            cls = self.names.get(identifier) or self.classes.get(identifier)
            if cls is None:
                raise ValueError(
                    f"Unknown {self.kind} {identifier!r}; expected one of "
                    f"{sorted(self.names)}, or an object such as {self.hint}."
                )
            return cls()
        if callable(identifier):
            return identifier
        raise ValueError(
            f"Could not interpret {self.kind} {identifier!r} ({type(identifier).__name__}); "
            f"expected a name, an object such as {self.hint}, a config dict, or None."
        )
