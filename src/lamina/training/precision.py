"""Mixed precision in the steps: `torch.autocast` per the global policy
(`lamina.mixed_precision`), and loss scaling under `"mixed_float16"`.

The steps read the policy through `policy_of(model)`, the one place a per-layer or per-model
policy would be consulted as well.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from lamina import mixed_precision
from lamina.core.dtypes import dtype_named
from lamina.optimizers.loss_scale import LossScaleOptimizer


def policy_of(model: Any) -> mixed_precision.DTypePolicy:
    """The policy the model's steps run under: its own `dtype_policy` if it has one, else
    the global policy."""
    own = getattr(model, "dtype_policy", None)
    return own if isinstance(own, mixed_precision.DTypePolicy) else mixed_precision.global_policy()


def _device_type(model: Any) -> str:
    for param in model.parameters():
        return str(param.device.type)
    return "cpu"


def autocast(model: Any) -> contextlib.AbstractContextManager[Any]:
    """`torch.autocast` in the policy's compute dtype, or nothing for a float policy."""
    policy = policy_of(model)
    if not policy.is_mixed:
        return contextlib.nullcontext()
    device = _device_type(model)
    if policy.compute_dtype == "float16" and device != "cuda":
        raise RuntimeError(
            f"Model '{model.name}': the dtype policy 'mixed_float16' needs a CUDA device, and "
            f"the model's weights are on '{device}'. Use "
            "lamina.mixed_precision.set_global_policy('mixed_bfloat16') on CPU, or move the "
            "model to a GPU with model.to('cuda')."
        )
    dtype = dtype_named(policy.compute_dtype)
    return torch.autocast(device_type=device, dtype=dtype)


def optimizer_for(model: Any, optimizer: Any) -> Any:
    """`optimizer`, wrapped in a `LossScaleOptimizer` (made once per compile) under
    `"mixed_float16"`, as Keras does."""
    if policy_of(model).compute_dtype != "float16" or isinstance(optimizer, LossScaleOptimizer):
        return optimizer
    state = model._compile_state
    scaled = getattr(state, "loss_scale_optimizer", None)
    if scaled is None or scaled.inner_optimizer is not optimizer:
        scaled = LossScaleOptimizer(optimizer)
        state.loss_scale_optimizer = scaled
    return scaled


def backward(optimizer: Any, total: torch.Tensor) -> None:
    """`total.backward()`, with the loss scaled when the optimizer scales it (a
    `LossScaleOptimizer`, or an optimizer's `loss_scale_factor`)."""
    if isinstance(optimizer, LossScaleOptimizer) or getattr(optimizer, "loss_scale_factor", None):
        total = optimizer.scale_loss(total)
    total.backward()  # type: ignore[no-untyped-call]
