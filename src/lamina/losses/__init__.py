"""Losses with Keras's names, formulas and reductions, computed in torch.

Each loss exists as a function that returns one value per sample (``mean_squared_error``,
reducing only the last axis) and as a class that reduces those values to a scalar
(``MeanSquaredError``), as in Keras. ``compile(loss=...)`` accepts either, a name, or any
callable ``(y_true, y_pred) -> tensor``.

Reductions (``reduction=``): ``"sum_over_batch_size"`` (the default: the weighted sum divided
by the number of values), ``"sum"``, ``"mean_with_sample_weight"`` (the weighted sum divided by
the sum of the weights) and ``None``/``"none"`` (no reduction).

Example:
    >>> import torch
    >>> from lamina import losses
    >>> y_true = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    >>> y_pred = torch.tensor([[0.5, 1.0], [1.0, 0.0]])
    >>> losses.mean_squared_error(y_true, y_pred)
    tensor([0.1250, 0.5000])
    >>> losses.MeanSquaredError()(y_true, y_pred)
    tensor(0.3125)

The package holds `loss` (the `Loss` base class and reductions), `functions` (the per-sample
functions) and `classes` (one class per function); this module re-exports them and looks losses
up by name (`get`, `serialize`, `deserialize`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina.losses.classes import BinaryCrossentropy as BinaryCrossentropy
from lamina.losses.classes import CategoricalCrossentropy as CategoricalCrossentropy
from lamina.losses.classes import CosineSimilarity as CosineSimilarity
from lamina.losses.classes import Hinge as Hinge
from lamina.losses.classes import Huber as Huber
from lamina.losses.classes import KLDivergence as KLDivergence
from lamina.losses.classes import LogCosh as LogCosh
from lamina.losses.classes import MeanAbsoluteError as MeanAbsoluteError
from lamina.losses.classes import MeanAbsolutePercentageError as MeanAbsolutePercentageError
from lamina.losses.classes import MeanSquaredError as MeanSquaredError
from lamina.losses.classes import MeanSquaredLogarithmicError as MeanSquaredLogarithmicError
from lamina.losses.classes import Poisson as Poisson
from lamina.losses.classes import SparseCategoricalCrossentropy as SparseCategoricalCrossentropy
from lamina.losses.classes import SquaredHinge as SquaredHinge
from lamina.losses.extra import BinaryFocalCrossentropy as BinaryFocalCrossentropy
from lamina.losses.extra import CategoricalFocalCrossentropy as CategoricalFocalCrossentropy
from lamina.losses.extra import CategoricalHinge as CategoricalHinge
from lamina.losses.extra import Dice as Dice
from lamina.losses.extra import Tversky as Tversky
from lamina.losses.extra import binary_focal_crossentropy as binary_focal_crossentropy
from lamina.losses.extra import categorical_focal_crossentropy as categorical_focal_crossentropy
from lamina.losses.extra import categorical_hinge as categorical_hinge
from lamina.losses.extra import dice as dice
from lamina.losses.extra import tversky as tversky
from lamina.losses.functions import EPSILON as EPSILON
from lamina.losses.functions import binary_crossentropy as binary_crossentropy
from lamina.losses.functions import categorical_crossentropy as categorical_crossentropy
from lamina.losses.functions import cosine_similarity as cosine_similarity
from lamina.losses.functions import hinge as hinge
from lamina.losses.functions import huber as huber
from lamina.losses.functions import kl_divergence as kl_divergence
from lamina.losses.functions import log_cosh as log_cosh
from lamina.losses.functions import mean_absolute_error as mean_absolute_error
from lamina.losses.functions import mean_absolute_percentage_error as mean_absolute_percentage_error
from lamina.losses.functions import mean_squared_error as mean_squared_error
from lamina.losses.functions import mean_squared_logarithmic_error as mean_squared_logarithmic_error
from lamina.losses.functions import poisson as poisson
from lamina.losses.functions import (
    sparse_categorical_crossentropy as sparse_categorical_crossentropy,
)
from lamina.losses.functions import squared_hinge as squared_hinge
from lamina.losses.loss import REDUCTIONS as REDUCTIONS
from lamina.losses.loss import Loss as Loss
from lamina.losses.loss import LossFunctionWrapper as LossFunctionWrapper
from lamina.losses.loss import _snake as _snake
from lamina.losses.loss import reduce_values as reduce_values
from lamina.losses.loss import squeeze_or_expand_to_same_rank as squeeze_or_expand_to_same_rank
from lamina.losses.torch_losses import PREFIX as TORCH_PREFIX
from lamina.losses.torch_losses import torch_loss_config, torch_loss_from_config

__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Dice",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "Tversky",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "cosine_similarity",
    "deserialize",
    "dice",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "serialize",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "tversky",
]

# ---------------------------------------------------------------------------- lookup
_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        BinaryFocalCrossentropy,
        CategoricalFocalCrossentropy,
        CategoricalHinge,
        Dice,
        Tversky,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        CosineSimilarity,
        Hinge,
        Huber,
        KLDivergence,
        LogCosh,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredError,
        MeanSquaredLogarithmicError,
        Poisson,
        SparseCategoricalCrossentropy,
        SquaredHinge,
    )
}

# A name given to compile() becomes the class (so the fused kernels are used); the function
# names and Keras's short aliases map to the same classes.
_NAMES: dict[str, type[Loss]] = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "huber": Huber,
    "huber_loss": Huber,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "categorical_hinge": CategoricalHinge,
    "dice": Dice,
    "tversky": Tversky,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "cosine_similarity": CosineSimilarity,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "poisson": Poisson,
}

_FUNCTIONS: dict[Callable[..., Any], type[Loss]] = {
    binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy,
    categorical_hinge: CategoricalHinge,
    dice: Dice,
    tversky: Tversky,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    huber: Huber,
    log_cosh: LogCosh,
    binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    kl_divergence: KLDivergence,
    cosine_similarity: CosineSimilarity,
    hinge: Hinge,
    squared_hinge: SquaredHinge,
    poisson: Poisson,
}


def names() -> list[str]:
    """Every loss name `get` accepts."""
    return sorted({*_NAMES, *(n.upper() for n in ("mse", "mae", "mape", "msle")), *_CLASSES})


def get(identifier: Any, *, custom_objects: dict[str, Any] | None = None) -> Loss | None:
    """A `Loss` from a name, a config dict, a `Loss`, or a callable `(y_true, y_pred)`.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.

    Example:
        >>> from lamina import losses
        >>> losses.get("mse")
        MeanSquaredError(reduction='sum_over_batch_size')
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects=custom_objects)
    if isinstance(identifier, str):
        if custom_objects and identifier in custom_objects:
            return get(custom_objects[identifier])
        cls = _NAMES.get(identifier) or _NAMES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown loss {identifier!r}. Known names: {', '.join(names())}; or pass a "
                "Loss object or any function (y_true, y_pred) -> tensor."
            )
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        known = _FUNCTIONS.get(identifier)
        return known() if known is not None else LossFunctionWrapper(identifier)
    raise TypeError(
        f"Expected a loss name, a Loss or a callable, received {type(identifier).__name__} "
        f"({identifier!r})."
    )


def serialize(loss: Loss | None) -> Any:
    """A JSON-compatible description of `loss`: `{"class_name": ..., "config": ...}`.

    A wrapped user function is stored by its registered name (see
    `lamina.saving.registry.register_serializable`) or its plain `__name__`.
    """
    if loss is None:
        return None
    if type(loss) is LossFunctionWrapper and (torch_loss := torch_loss_config(loss.fn)):
        return torch_loss
    if type(loss) is LossFunctionWrapper:
        from lamina.saving.registry import get_registered_name

        config = {k: v for k, v in loss.get_config().items() if k != "name"}
        return {
            "class_name": "function",
            "config": {"function": get_registered_name(loss.fn), "name": loss.name, **config},
        }
    if type(loss).__name__ in _CLASSES and _CLASSES[type(loss).__name__] is type(loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    from lamina.saving.registry import get_registered_name

    return {"class_name": get_registered_name(type(loss)), "config": loss.get_config()}


def deserialize(config: Any, *, custom_objects: dict[str, Any] | None = None) -> Loss | None:
    """The `Loss` that `serialize` described (names of custom objects are looked up in
    `custom_objects`, then in lamina's registry)."""
    if config is None:
        return None
    if isinstance(config, str):
        return get(config, custom_objects=custom_objects)
    if isinstance(config, dict) and str(config.get("class_name")).startswith(TORCH_PREFIX):
        return get(torch_loss_from_config(config))
    from lamina.saving.registry import deserialize_object

    return deserialize_object(  # type: ignore[no-any-return]
        config,
        kind="Loss",
        builtins=_CLASSES,
        wrap_function=LossFunctionWrapper,
        named_functions=_NAMED_FUNCTIONS,
        custom_objects=custom_objects,
    )


_NAMED_FUNCTIONS = {fn.__name__: fn for fn in _FUNCTIONS}
