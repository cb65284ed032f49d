"""Weight constraints with Keras 3's names, defaults and configs.

A constraint is a callable `weight -> projected weight`. `Layer.add_weight(constraint=...)`
attaches one to a weight; `fit` and `train_on_batch` apply it in place after each optimizer
step, as Keras does.

Example:
    >>> import torch
    >>> from lamina import constraints
    >>> constraints.NonNeg()(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lamina.config import epsilon

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "deserialize",
    "get",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "serialize",
    "unit_norm",
]


def _axis(owner: str, axis: Any) -> int | list[int]:
    if isinstance(axis, int) and not isinstance(axis, bool):
        return axis
    if isinstance(axis, Sequence) and all(isinstance(a, int) for a in axis):
        return list(axis)
    raise ValueError(f"{owner}: expected an int or a list of ints for axis, received {axis!r}.")


def _norms(w: torch.Tensor, axis: int | list[int]) -> torch.Tensor:
    return w.square().sum(dim=axis, keepdim=True).sqrt()


class Constraint:
    """The base class: subclasses define `__call__(w) -> w` and, with arguments,
    `get_config()`. The base constraint leaves the weight as it is."""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class MaxNorm(Constraint):
    """Scale down the slices along `axis` whose L2 norm exceeds `max_value`.

    Args:
        max_value: the largest norm allowed (default 2).
        axis: the axis (or axes) the norm is taken over; 0 for a Dense kernel's columns
            (each unit's incoming weights).
    """

    def __init__(self, max_value: float = 2, axis: int | Sequence[int] = 0) -> None:
        if float(max_value) < 0:
            raise ValueError(f"MaxNorm: expected max_value >= 0, received {max_value!r}.")
        self.max_value = max_value
        self.axis = _axis("MaxNorm", axis)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        norms = _norms(w, self.axis)
        return w * (norms.clamp(0, self.max_value) / (epsilon() + norms))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Move the L2 norm of each slice along `axis` into `[min_value, max_value]`.

    The new norm is `rate * clip(norm, min_value, max_value) + (1 - rate) * norm`.

    Args:
        min_value: the smallest norm (default 0.0).
        max_value: the largest norm (default 1.0).
        rate: how far to move towards the range each time (1.0: all the way).
        axis: the axis (or axes) the norm is taken over.
    """

    def __init__(
        self,
        min_value: float = 0.0,
        max_value: float = 1.0,
        rate: float = 1.0,
        axis: int | Sequence[int] = 0,
    ) -> None:
        if not 0 <= float(min_value) <= float(max_value):
            raise ValueError(
                "MinMaxNorm: expected 0 <= min_value <= max_value, received "
                f"min_value={min_value!r}, max_value={max_value!r}."
            )
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = _axis("MinMaxNorm", axis)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        norms = _norms(w, self.axis)
        desired = self.rate * norms.clamp(self.min_value, self.max_value)
        desired = desired + (1 - self.rate) * norms
        return w * (desired / (epsilon() + norms))

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class NonNeg(Constraint):
    """Set negative weights to zero."""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w.clamp_min(0)


class UnitNorm(Constraint):
    """Scale each slice along `axis` to unit L2 norm.

    Args:
        axis: the axis (or axes) the norm is taken over (default 0).
    """

    def __init__(self, axis: int | Sequence[int] = 0) -> None:
        self.axis = _axis("UnitNorm", axis)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w / (epsilon() + _norms(w, self.axis))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


max_norm = MaxNorm
min_max_norm = MinMaxNorm
non_neg = NonNeg
unit_norm = UnitNorm

_CLASSES: dict[str, type[Constraint]] = {
    cls.__name__: cls for cls in (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
}
_BY_NAME: dict[str, type[Constraint]] = {
    "constraint": Constraint,
    "max_norm": MaxNorm,
    "min_max_norm": MinMaxNorm,
    "non_neg": NonNeg,
    "unit_norm": UnitNorm,
}


def serialize(constraint: Any) -> Any:
    """`{"class_name": ..., "config": ...}`, JSON-compatible; `None` stays `None` and a plain
    function stays itself (saving stores it as a function)."""
    if not isinstance(constraint, Constraint):
        return constraint
    name = type(constraint).__name__
    if _CLASSES.get(name) is not type(constraint):
        from lamina.saving.registry import get_registered_name

        name = get_registered_name(type(constraint))
    return {"class_name": name, "config": constraint.get_config()}


def deserialize(
    config: dict[str, Any], *, custom_objects: dict[str, Any] | None = None
) -> Constraint:
    """The constraint that `serialize` described."""
    class_name = config.get("class_name")
    cls: Any = _CLASSES.get(str(class_name))
    if cls is None:
        from lamina.saving.registry import get_registered_object

        cls = get_registered_object(str(class_name), custom_objects)
    if cls is None:
        raise ValueError(
            f"Unknown constraint class {class_name!r}; expected one of "
            f"{', '.join(sorted(_CLASSES))}, or a class passed in custom_objects= or "
            "registered with lamina.saving.register_serializable()."
        )
    return cls.from_config(config.get("config", {}))  # type: ignore[no-any-return]


def get(identifier: Any) -> Any:
    """A constraint from its name (`"non_neg"`, `"max_norm"`, ...: Keras's defaults), its
    `serialize()` dict, or itself (any callable `w -> w`); `None` stays `None`."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()  # a class, as Keras accepts: its defaults
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown constraint {identifier!r}; expected one of {sorted(_BY_NAME)}, a "
                "Constraint such as MaxNorm(3), or a function w -> w."
            )
        return cls()
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret constraint {identifier!r} ({type(identifier).__name__}); "
        "expected a name such as 'non_neg', a Constraint, a config dict, or None."
    )
