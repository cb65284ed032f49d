"""A Keras 3 file's optimizer variables as a lamina optimizer's `state_dict()`.

Keras saves its optimizer's variables in the order it made them: `iterations`, the learning
rate (absent with a schedule), the moving averages (`use_ema`) and the gradient accumulators
(`gradient_accumulation_steps`), one per weight each, then the optimizer's own slots, either
one block of all weights per slot name ("grouped") or all slots of one weight together
("interleaved"). Keras's weights are in `model.trainable_weights` order, which lamina's
`parameters()` follow. The state goes in through `Optimizer.load_state_dict`, so every
tensor is checked against its weight as a lamina file's would be.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lamina.saving.values import LoadContext

__all__ = ["keras_optimizer_state"]

Slots = tuple[list[str], list[str], list[str]]  # interleaved, grouped, scalars at the end


def _layout(optimizer: Any) -> Slots | None:
    """Keras's slot names for `optimizer`'s class and settings, None for a class lamina
    does not read."""
    name = type(optimizer).__name__
    if name == "SGD":
        return [], ["momentum"] if optimizer.momentum else [], []
    if name in ("Adam", "AdamW"):
        return ["m", "v"], ["v_hat"] if optimizer.amsgrad else [], []
    if name == "Nadam":
        return ["m", "v"], [], ["u_product"]
    if name in ("Adamax", "Lamb"):
        return ["m", "v"], [], []
    if name == "RMSprop":
        grouped = ["velocity"] + ["momentum"] * bool(optimizer.momentum)
        return [], grouped + ["average_gradient"] * bool(optimizer.centered), []
    if name in ("Adagrad", "Lion"):
        return [], ["slot"], []
    if name == "Adadelta":
        return ["accumulated_grad", "accumulated_delta_var"], [], []
    if name == "Ftrl":
        return ["accumulator", "linear"], [], []
    if name == "Adafactor":
        return ["r", "c", "v"], [], []
    return None


def _torch_state(
    name: str, slots: dict[str, np.ndarray], param: torch.Tensor, step: float, rate: float
) -> dict[str, Any]:
    """One weight's torch state from Keras's slots (Keras's formulas, torch's names)."""

    def tensor(value: np.ndarray, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        # a copy: Nadam's one u_product becomes each weight's own mu_product, updated in place
        out = torch.tensor(np.asarray(value), dtype=param.dtype)
        return out.reshape(shape) if shape is not None else out

    count = torch.tensor(float(step))
    if name == "SGD":  # Keras keeps -lr * (torch's buffer)
        return {"momentum_buffer": tensor(slots["momentum"]) / -rate} if slots else {}
    if name in ("Adam", "AdamW", "Lamb"):
        state = {"step": count, "exp_avg": tensor(slots["m"]), "exp_avg_sq": tensor(slots["v"])}
        if "v_hat" in slots:
            state["max_exp_avg_sq"] = tensor(slots["v_hat"])
        return state
    if name == "Nadam":
        return {
            "step": count,
            "mu_product": tensor(slots["u_product"]),
            "exp_avg": tensor(slots["m"]),
            "exp_avg_sq": tensor(slots["v"]),
        }
    if name == "Adamax":
        return {"step": count, "exp_avg": tensor(slots["m"]), "exp_inf": tensor(slots["v"])}
    if name == "RMSprop":
        state = {"step": count, "square_avg": tensor(slots["velocity"])}
        if "momentum" in slots:  # Keras's momentum holds the lr-scaled increments
            state["momentum_buffer"] = tensor(slots["momentum"]) / rate
        if "average_gradient" in slots:
            state["grad_avg"] = tensor(slots["average_gradient"])
        return state
    if name == "Adagrad":
        return {"step": count, "sum": tensor(slots["slot"])}
    if name == "Lion":
        return {"momentum": tensor(slots["slot"])}
    if name == "Adadelta":
        return {
            "step": count,
            "square_avg": tensor(slots["accumulated_grad"]),
            "acc_delta": tensor(slots["accumulated_delta_var"]),
        }
    if name == "Ftrl":
        return {"accumulator": tensor(slots["accumulator"]), "linear": tensor(slots["linear"])}
    # Adafactor: lamina keeps the factored moments with the reduced dimension as 1, and a
    # full second moment only for weights of rank < 2 (Keras stores a placeholder otherwise)
    shape = tuple(param.shape)
    if len(shape) < 2:
        return {"step": count, "velocity": tensor(slots["v"])}
    return {
        "step": count,
        "row": tensor(slots["r"], (*shape[:-1], 1)),
        "col": tensor(slots["c"], (*shape[:-2], 1, *shape[-1:])),
    }


def _like(value: np.ndarray, param: torch.Tensor) -> torch.Tensor:
    return torch.tensor(np.asarray(value), dtype=param.dtype)


def keras_optimizer_state(
    optimizer: Any,
    params: list[torch.nn.Parameter],
    arrays: list[np.ndarray],
    ctx: LoadContext,
    rate_at: Callable[[int], float] | None,
) -> dict[str, Any] | None:
    """`optimizer.state_dict()` made from Keras's variables; None (with a warning) when they
    are not what Keras makes for this optimizer.

    `rate_at(iterations)` gives a learning-rate schedule's rate (None without a schedule:
    the rate is then the second variable).
    """
    from lamina.core.errors import warn

    layout = _layout(optimizer)
    torch_opt = optimizer.torch_optimizer
    if layout is None or torch_opt is None:
        return None
    interleaved, grouped, scalars = layout
    n = len(params)
    prefix = 1 if rate_at is not None else 2
    extras = n * (bool(optimizer.use_ema) + bool(optimizer.gradient_accumulation_steps))
    expected = prefix + extras + n * (len(interleaved) + len(grouped)) + len(scalars)
    name = type(optimizer).__name__
    if len(arrays) != expected:
        warn(
            f"{ctx.where}: the optimizer state has {len(arrays)} variables, not the "
            f"{expected} Keras's {name} keeps for {n} weights with these settings; the "
            "optimizer starts afresh."
        )
        return None
    counts = [np.asarray(a) for a in arrays[:prefix]]
    if any(a.size != 1 or not np.isfinite(a).all() for a in counts) or not counts[0] >= 0:
        raise ctx.error(
            f"the optimizer's iterations and learning rate are not two finite numbers "
            f"(shapes {[a.shape for a in counts]})."
        )
    iterations = int(counts[0].reshape(-1)[0])
    steps = optimizer.gradient_accumulation_steps or 1
    updates = iterations // steps
    # the rate of the next step, which makes the next SGD/RMSprop momentum step Keras's
    rate = float(counts[1].reshape(-1)[0]) if rate_at is None else rate_at(iterations)
    rest = list(arrays[prefix:])

    def take_block() -> list[np.ndarray]:
        block, rest[:] = rest[:n], rest[n:]
        return block

    state: dict[str, Any] = {"iterations": iterations}
    if optimizer.use_ema:
        state["ema"] = [_like(a, p) for a, p in zip(take_block(), params)]
    if optimizer.gradient_accumulation_steps:
        state["accumulated_gradients"] = [_like(a, p) for a, p in zip(take_block(), params)]
    per_weight: list[dict[str, np.ndarray]] = [{} for _ in params]
    for i in range(n):
        for slot in interleaved:
            per_weight[i][slot] = rest.pop(0)
    for slot in grouped:
        for i, value in enumerate(take_block()):
            per_weight[i][slot] = value
    for slot in scalars:
        value = rest.pop(0)
        for slots in per_weight:
            slots[slot] = value
    saved = torch_opt.state_dict()
    index = {
        id(p): key
        for group, saved_group in zip(torch_opt.param_groups, saved["param_groups"])
        for p, key in zip(group["params"], saved_group["params"])
    }
    torch_state: dict[Any, Any] = {}
    for param, slots in zip(params, per_weight):
        if id(param) not in index:
            return None
        for slot, value in slots.items():
            if value.ndim and name != "Adafactor" and value.shape != tuple(param.shape):
                raise ctx.error(
                    f"the optimizer slot '{slot}' of {name} has shape {value.shape}, not "
                    f"{tuple(param.shape)}."
                )
        try:
            torch_state[index[id(param)]] = _torch_state(name, slots, param, updates, rate)
        except RuntimeError as error:  # a reshape that does not fit
            raise ctx.error(f"the optimizer slots of a weight do not fit it: {error}") from None
    state.update(state=torch_state, param_groups=saved["param_groups"])
    return state
