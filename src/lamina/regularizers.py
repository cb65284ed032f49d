"""Weight and activity regularizers with Keras 3's names, defaults and configs.

A regularizer is a callable `tensor -> scalar tensor`. `Layer.add_weight(regularizer=...)`
attaches one to a weight and `activity_regularizer=` to a layer's outputs; `fit`, `evaluate`
and `train_on_batch` add their penalties to the loss they minimise and report, and
`model.losses` lists them, as in Keras.

Example:
    >>> import torch
    >>> from lamina import regularizers
    >>> regularizers.L2(0.5)(torch.tensor([1.0, 2.0]))
    tensor(2.5000)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "OrthogonalRegularizer",
    "Regularizer",
    "deserialize",
    "get",
    "l1",
    "l1_l2",
    "l2",
    "orthogonal_regularizer",
    "serialize",
]


def _factor(owner: str, name: str, value: Any) -> float:
    """`value` as a finite non-negative float, or a ValueError naming `owner`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise ValueError(
            f"{owner}: expected a non-negative float for {name}, received {name}={value!r}."
        )
    return number


class Regularizer:
    """The base class: subclasses define `__call__(x) -> scalar` and `get_config()`.

    `from_config(config)` is `cls(**config)`, so a subclass whose constructor takes its
    config's keys needs nothing more.
    """

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(())

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            f"{type(self).__name__}: a Regularizer subclass must define get_config() to be saved."
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        try:
            arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            arguments = ""
        return f"{type(self).__name__}({arguments})"


class L1(Regularizer):
    """`l1 * sum(abs(x))`.

    Args:
        l1: the factor (Keras's default 0.01).
    """

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _factor("L1", "l1", l1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.l1 * x.abs().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """`l2 * sum(x ** 2)` (no 1/2 factor, as in Keras).

    Args:
        l2: the factor (Keras's default 0.01).
    """

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = _factor("L2", "l2", l2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2 * x.square().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """`l1 * sum(abs(x)) + l2 * sum(x ** 2)`.

    Args:
        l1: the L1 factor (default 0.0, as in Keras).
        l2: the L2 factor (default 0.0, as in Keras).
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor("L1L2", "l1", l1)
        self.l2 = _factor("L1L2", "l2", l2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        penalty = x.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * x.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * x.square().sum()
        return penalty

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Push the rows (or columns) of a 2-D weight towards being orthonormal.

    The penalty is `factor * 0.5 * sum(|off-diagonal of U U^T|) / (n (n - 1) / 2)`, where
    the `n` rows of `U` are the rows of `x` scaled to unit L2 norm (`mode="columns"`: the
    columns), as in Keras.

    Args:
        factor: the factor (default 0.01).
        mode: `"rows"` or `"columns"`.
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = _factor("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(
                f"OrthogonalRegularizer: expected mode 'rows' or 'columns', received mode={mode!r}."
            )
        self.mode = mode

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            raise ValueError(
                "OrthogonalRegularizer: expected a 2-D weight, received one of shape "
                f"{tuple(x.shape)}; use it on Dense kernels or reshape the weight."
            )
        units = F.normalize(x if self.mode == "rows" else x.t(), dim=1, eps=1e-12)
        product = units @ units.t()
        size = product.shape[0]
        off_diagonal = product - torch.diag_embed(torch.diagonal(product))
        pairs = size * (size - 1) / 2
        return self.factor * 0.5 * off_diagonal.abs().sum() / pairs

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


def regularization_losses(params: Iterable[torch.nn.Parameter]) -> list[torch.Tensor]:
    """The penalties of the trainable weights among `params` that have a regularizer
    (`Layer.add_weight(regularizer=...)` sets `param.regularizer`)."""
    return [
        p.regularizer(p)  # type: ignore[attr-defined]
        for p in params
        if p.requires_grad and getattr(p, "regularizer", None) is not None
    ]


def activity_loss(regularizer: Any, output: torch.Tensor) -> torch.Tensor:
    """The penalty of a layer's output, divided by its batch size (Keras 3's rule, so that
    the penalty's strength does not depend on the batch size; an empty batch gives 0)."""
    penalty = regularizer(output)
    if output.ndim == 0:
        return penalty  # type: ignore[no-any-return]
    size = output.shape[0]
    return penalty / size if size else torch.zeros_like(penalty)


l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_CLASSES: dict[str, type[Regularizer]] = {
    cls.__name__: cls for cls in (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)
}
_BY_NAME: dict[str, type[Regularizer]] = {
    "l1": L1,
    "l2": L2,
    "l1_l2": L1L2,
    "l1l2": L1L2,
    "regularizer": Regularizer,
    "orthogonal_regularizer": OrthogonalRegularizer,
}


def serialize(regularizer: Any) -> Any:
    """`{"class_name": ..., "config": ...}`, JSON-compatible; `None` stays `None` and a plain
    function stays itself (saving stores it as a function)."""
    if not isinstance(regularizer, Regularizer):
        return regularizer
    name = type(regularizer).__name__
    if _CLASSES.get(name) is not type(regularizer):
        from lamina.saving.registry import get_registered_name

        name = get_registered_name(type(regularizer))
    return {"class_name": name, "config": regularizer.get_config()}


def deserialize(
    config: dict[str, Any], *, custom_objects: dict[str, Any] | None = None
) -> Regularizer:
    """The regularizer that `serialize` described."""
    class_name = config.get("class_name")
    cls: Any = _CLASSES.get(str(class_name))
    if cls is None:
        from lamina.saving.registry import get_registered_object

        cls = get_registered_object(str(class_name), custom_objects)
    if cls is None:
        raise ValueError(
            f"Unknown regularizer class {class_name!r}; expected one of "
            f"{', '.join(sorted(_CLASSES))}, or a class passed in custom_objects= or "
            "registered with lamina.saving.register_serializable()."
        )
    return cls.from_config(config.get("config", {}))  # type: ignore[no-any-return]


def get(identifier: Any) -> Any:
    """A regularizer from its name (`"l2"`: Keras's defaults), its `serialize()` dict, or
    itself (any callable `tensor -> scalar`); `None` stays `None`."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()  # a class, as Keras accepts: its defaults
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown regularizer {identifier!r}; expected one of {sorted(_BY_NAME)}, a "
                "Regularizer such as L2(1e-4), or a function tensor -> scalar."
            )
        return cls()
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret regularizer {identifier!r} ({type(identifier).__name__}); "
        "expected a name such as 'l2', a Regularizer, a config dict, or None."
    )
