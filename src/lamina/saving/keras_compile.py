"""A Keras file's compile settings (optimizer, loss, metrics by Keras's serialized names) and
the optimizer's state (`keras_optimizer.py`), applied to a lamina model."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from lamina.optimizers import Optimizer
from lamina.saving.keras_optimizer import keras_optimizer_state
from lamina.saving.keras_weights import optimizer_arrays
from lamina.saving.values import LoadContext

__all__ = ["compile_from_keras"]

# Keras 3 optimizer arguments lamina has no counterpart for, at the values that mean "off".
_OFF = {
    "use_ema": False,
    "ema_momentum": None,
    "ema_overwrite_frequency": None,
    "global_clipnorm": None,
    "clipnorm": None,
    "clipvalue": None,
    "weight_decay": None,
    "decay": 0.0,  # Keras 2's learning-rate decay, off
    "is_legacy_optimizer": False,
    "jit_compile": None,
}


def _object(value: Any, family: Any, ctx: LoadContext, what: str) -> Any:
    """A loss, metric or optimizer from Keras's name or `{"class_name", "config"}` dict."""
    if not isinstance(value, Mapping):
        return value
    name = str(value.get("class_name"))
    cls = getattr(family, name, None)
    if not isinstance(cls, type):
        raise ctx.error(f"compile settings: {what} '{name[:80]}' is not one lamina knows.")
    config = dict(value.get("config") or {})
    try:
        parameters = dict(inspect.signature(cls.__init__).parameters)  # type: ignore[misc]
    except (TypeError, ValueError):
        return cls(**config)
    if issubclass(cls, Optimizer):  # the common options (clipping, EMA) go to the base class
        parameters.update(inspect.signature(Optimizer.__init__).parameters)
    kept = {}
    for key, item in config.items():
        if key in parameters:
            kept[key] = item
        elif key in _OFF and (item == _OFF[key] or key in ("ema_momentum", "jit_compile")):
            continue
        elif item is not None and key not in ("name", "reduction"):
            raise ctx.error(
                f"compile settings: {what} {name} argument {key}={item!r} is not supported."
            )
    rate = kept.get("learning_rate")
    if issubclass(cls, Optimizer) and isinstance(rate, Mapping):  # a schedule
        from lamina.optimizers import schedules

        try:
            kept["learning_rate"] = schedules.deserialize(
                {"class_name": rate.get("class_name"), "config": rate.get("config")}
            )
        except (TypeError, ValueError) as error:
            raise ctx.error(f"compile settings: the learning-rate schedule: {error}") from None
    return cls(**kept)


def _optimizer_state(model: Any, arrays: list[np.ndarray], ctx: LoadContext) -> None:
    """Keras's optimizer variables loaded into the model's (built) optimizer."""
    optimizer = model.optimizer
    params = [p for p in model.parameters() if p.requires_grad]
    if not isinstance(optimizer, Optimizer):
        return
    if not optimizer.built:
        optimizer.build(params)
    schedule = optimizer._schedule
    rate_at = None if schedule is None else (lambda step: float(schedule(step)))
    state = keras_optimizer_state(optimizer, params, arrays, ctx, rate_at)
    if state is not None:
        try:
            optimizer.load_state_dict(state)
        except ValueError as error:
            raise ctx.error(f"the optimizer state does not fit the model: {error}") from None


def compile_from_keras(model: Any, config: Mapping[str, Any], h5: Any, ctx: LoadContext) -> None:
    """Compile `model` as Keras's `compile_config` says; restore the optimizer's state when
    saved (`keras_optimizer.py`)."""
    from lamina import losses, metrics, optimizers

    # Keras 2's training_config says "optimizer_config"
    found_optimizer = config.get("optimizer") or config.get("optimizer_config") or "rmsprop"
    optimizer = _object(found_optimizer, optimizers, ctx, "optimizer")
    if isinstance(optimizer, str):
        optimizer = optimizer.lower()
    loss = config.get("loss")
    loss = (
        [_object(item, losses, ctx, "loss") for item in loss]
        if isinstance(loss, list)
        else _object(loss, losses, ctx, "loss")
    )
    found = config.get("metrics")
    if isinstance(found, list):
        found = [_object(item, metrics, ctx, "metric") for item in found]
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=found,
        loss_weights=config.get("loss_weights"),
    )
    if h5 is None or ctx.source.endswith(".h5"):
        return
    limit = 5 * sum(p.numel() for p in model.parameters()) + 16  # Adam, EMA, accumulators
    arrays = optimizer_arrays(h5, ctx, limit)
    if arrays:
        _optimizer_state(model, arrays, ctx)
