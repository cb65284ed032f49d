"""A Keras file's compile settings (optimizer, loss, metrics by Keras's serialized names) and
the Adam/SGD-momentum optimizer state, applied to a lamina model."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from lamina.optimizers import Optimizer
from lamina.saving.keras_weights import optimizer_arrays
from lamina.saving.values import LoadContext

__all__ = ["compile_from_keras"]

# Keras 3 optimizer arguments lamina has no counterpart for, at the values that mean "off".
_OFF = {
    "use_ema": False,
    "ema_momentum": None,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
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
    return cls(**kept)


def _optimizer_state(model: Any, arrays: list[np.ndarray], ctx: LoadContext) -> None:
    """Keras's Adam slots (iterations, learning rate, then m and v per weight) as torch's."""
    optimizer = model.optimizer
    torch_opt = getattr(optimizer, "torch_optimizer", None)
    params = [p for p in model.parameters() if p.requires_grad]
    if torch_opt is None or not isinstance(torch_opt, torch.optim.Adam):
        return
    if len(arrays) != 2 + 2 * len(params):
        from lamina.core.errors import warn

        warn(
            f"{ctx.where}: the optimizer state has {len(arrays)} variables, not Adam's "
            f"{2 + 2 * len(params)} (iterations, learning rate, m and v per weight); the "
            "optimizer starts afresh."
        )
        return
    step = torch.tensor(float(arrays[0]))
    by_param = {id(p): p for group in torch_opt.param_groups for p in group["params"]}
    # Keras orders its slots by model.trainable_weights, which lamina's parameters() follow.
    for index, param in enumerate(params):
        if id(param) not in by_param:
            return
        m, v = arrays[2 + 2 * index], arrays[3 + 2 * index]
        if tuple(m.shape) != tuple(param.shape) or tuple(v.shape) != tuple(param.shape):
            raise ctx.error(f"the optimizer slot {index} has shape {m.shape}, not {param.shape}.")
        torch_opt.state[param] = {
            "step": step.clone(),
            "exp_avg": torch.as_tensor(m).to(param),
            "exp_avg_sq": torch.as_tensor(v).to(param),
        }


def compile_from_keras(model: Any, config: Mapping[str, Any], h5: Any, ctx: LoadContext) -> None:
    """Compile `model` as Keras's `compile_config` says; restore Adam's state when saved."""
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
    limit = 2 * sum(p.numel() for p in model.parameters()) + 16
    arrays = optimizer_arrays(h5, ctx, limit)
    if arrays:
        _optimizer_state(model, arrays, ctx)
