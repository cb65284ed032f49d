"""`LossScaleOptimizer`: dynamic loss scaling for float16 training (Keras's name and defaults,
torch's `GradScaler` semantics)."""

from __future__ import annotations

from typing import Any

import torch

from lamina.optimizers.optimizer import Optimizer


class LossScaleOptimizer:
    """Wraps an optimizer: the loss is multiplied by `scale` before `backward`, the gradients
    divided by it before the step; a step whose gradients are not finite is skipped and the
    scale halved; after `dynamic_growth_steps` finite steps in a row the scale doubles.

    Args:
        inner_optimizer: the `lamina.optimizers.Optimizer` that applies the updates.
        initial_scale: the first scale (Keras's default 2**15).
        dynamic_growth_steps: finite steps before the scale doubles (Keras's default 2000).

    Example:
        >>> import torch
        >>> from lamina.optimizers import SGD, LossScaleOptimizer
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = LossScaleOptimizer(SGD(learning_rate=0.5))
        >>> opt.build([w])
        >>> opt.scale_loss((w * 2).sum()).backward()
        >>> opt.step()
        >>> w.detach()
        tensor([0., 0.])
    """

    def __init__(
        self,
        inner_optimizer: Optimizer,
        *,
        initial_scale: float = 2.0**15,
        dynamic_growth_steps: int = 2000,
    ) -> None:
        self.inner_optimizer = inner_optimizer
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = dynamic_growth_steps
        self.scale = float(initial_scale)
        self._good_steps = 0
        self.skipped_steps = 0

    def __getattr__(self, name: str) -> Any:  # learning_rate, built, iterations, ...
        return getattr(self.__dict__["inner_optimizer"], name)

    def build(self, params: Any) -> None:
        self.inner_optimizer.build(params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner_optimizer.zero_grad(set_to_none=set_to_none)

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to call `backward` on (the inner optimizer's `loss_scale_factor` too,
        which its step divides out)."""
        return self.inner_optimizer.scale_loss(loss) * self.scale

    def step(self) -> None:
        """Unscale the gradients, then step, or skip and lower the scale if one is not finite."""
        grads = [p.grad for g in self.inner_optimizer.param_groups for p in g["params"]]
        grads = [g for g in grads if g is not None]
        if grads:
            torch._foreach_mul_(grads, 1.0 / self.scale)
            finite = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        else:
            finite = True
        if not finite:
            self.scale /= 2.0
            self._good_steps = 0
            self.skipped_steps += 1
            return
        self.inner_optimizer.step()
        self._good_steps += 1
        if self._good_steps >= self.dynamic_growth_steps:
            self.scale *= 2.0
            self._good_steps = 0

    def get_config(self) -> dict[str, Any]:
        return {
            "inner_optimizer": self.inner_optimizer.get_config(),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    def __repr__(self) -> str:
        return f"LossScaleOptimizer({self.inner_optimizer!r}, scale={self.scale})"
