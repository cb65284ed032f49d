"""Keras's optimizers (names, arguments, defaults) on top of `torch.optim`.

A lamina optimizer is made before the model's weights are known (`Adam(learning_rate=1e-3)`),
so it holds its settings and creates the `torch.optim` optimizer when `compile` (or the first
training step of a model built lazily) hands it the trainable weights. After that it forwards
`step`, `zero_grad`, `state_dict`, `load_state_dict` and `param_groups` to the torch
optimizer, which stays reachable as `.torch_optimizer` (for `torch.optim.lr_scheduler`, say).

Mapping to torch: `epsilon` becomes `eps`, `beta_1, beta_2` become `betas`, `rho` becomes
RMSprop's `alpha`; Keras's defaults are kept (`epsilon=1e-7` rather than torch's 1e-8, SGD's
`learning_rate=0.01`). `weight_decay` on Adam is decoupled, as in Keras, so `Adam` with a
weight decay runs `torch.optim.AdamW`; the other optimizers use torch's own `weight_decay`.
The update rules are torch's, which place `epsilon` slightly differently from Keras's
(torch adds it after bias correction); trained results match to within that. torch has no
Lion, Lamb or Ftrl and another Adafactor, so those four run Keras 3's own formulas (`rules`),
with Keras's decoupled `weight_decay` (`w -= w * weight_decay * lr` before each update).

Every optimizer takes Keras's `use_ema`, `ema_momentum` and `ema_overwrite_frequency`.

`compile` also accepts a torch optimizer class (`torch.optim.SGD`, built with its defaults or
the `kwargs` of `TorchOptimizer`) or an instance already built on the model's weights.

Example:
    >>> import torch
    >>> from lamina import optimizers
    >>> opt = optimizers.get("adam")
    >>> opt.build([torch.nn.Parameter(torch.zeros(2))])
    >>> type(opt.torch_optimizer).__name__, opt.learning_rate
    ('Adam', 0.001)

The package holds `optimizer` (the `Optimizer` base class, the bridge to `torch.optim`) and
`classes` (Keras's optimizers that map onto torch's, and `TorchOptimizer`), `extra` (Adafactor,
Lion, Lamb, Ftrl, on the Keras update rules of `rules`); this module re-exports them and looks
optimizers up by name (`get`, `serialize`, `deserialize`).
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.optimizers import schedules as schedules
from lamina.optimizers.classes import SGD as SGD
from lamina.optimizers.classes import Adadelta as Adadelta
from lamina.optimizers.classes import Adagrad as Adagrad
from lamina.optimizers.classes import Adam as Adam
from lamina.optimizers.classes import Adamax as Adamax
from lamina.optimizers.classes import AdamW as AdamW
from lamina.optimizers.classes import Nadam as Nadam
from lamina.optimizers.classes import RMSprop as RMSprop
from lamina.optimizers.classes import TorchOptimizer as TorchOptimizer
from lamina.optimizers.extra import Adafactor as Adafactor
from lamina.optimizers.extra import Ftrl as Ftrl
from lamina.optimizers.extra import Lamb as Lamb
from lamina.optimizers.extra import Lion as Lion
from lamina.optimizers.loss_scale import LossScaleOptimizer as LossScaleOptimizer
from lamina.optimizers.optimizer import Optimizer as Optimizer

__all__ = [
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lamb",
    "Lion",
    "LossScaleOptimizer",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "TorchOptimizer",
    "deserialize",
    "get",
    "schedules",
    "serialize",
]

_CLASSES: dict[str, type[Optimizer]] = {
    cls.__name__: cls
    for cls in (
        *(SGD, Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Adadelta),
        *(Adafactor, Lion, Lamb, Ftrl, TorchOptimizer),
    )
}
_NAMES = {name.lower(): cls for name, cls in _CLASSES.items() if cls is not TorchOptimizer}


def get(identifier: Any) -> Optimizer:
    """An `Optimizer` from a name (`"adam"`), a config dict, an `Optimizer`, or a torch
    optimizer class or instance.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Unknown optimizer {identifier!r}. Known names: {', '.join(sorted(_NAMES))}; "
                "or pass an optimizer object (lamina.optimizers.Adam(learning_rate=...)) or a "
                "torch.optim class or instance."
            )
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, torch.optim.Optimizer) or (
        isinstance(identifier, type) and issubclass(identifier, torch.optim.Optimizer)
    ):
        return TorchOptimizer(identifier)
    raise TypeError(
        f"Expected an optimizer name, a lamina optimizer or a torch.optim optimizer, received "
        f"{type(identifier).__name__} ({identifier!r})."
    )


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """`{"class_name": ..., "config": ...}`, JSON-compatible."""
    name = type(optimizer).__name__
    if _CLASSES.get(name) is not type(optimizer):
        from lamina.saving.registry import get_registered_name

        name = get_registered_name(type(optimizer))
    return {"class_name": name, "config": optimizer.get_config()}


def deserialize(
    config: dict[str, Any], *, custom_objects: dict[str, Any] | None = None
) -> Optimizer:
    """The optimizer that `serialize` described (not built: `compile` builds it)."""
    class_name = config["class_name"]
    cls: Any = _CLASSES.get(class_name)
    if cls is None:
        from lamina.saving.registry import get_registered_object

        cls = get_registered_object(class_name, custom_objects)
    if cls is None:
        raise ValueError(
            f"Unknown optimizer class {class_name!r}; known: {', '.join(sorted(_CLASSES))}. "
            "Pass custom_objects= or register the class with "
            "lamina.saving.register_serializable()."
        )
    return cls.from_config(dict(config.get("config", {})), custom_objects=custom_objects)  # type: ignore[no-any-return]
