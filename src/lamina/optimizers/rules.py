"""Keras's update rules that torch has no equal of, as `torch.optim` optimizers.

torch has no Lion, Lamb or Ftrl, and its `Adafactor` is another variant (no update clipping,
`eps1` as a clamp instead of added to the squared gradient, no `max(eps2, rms(w))` floor
shared the same way), so these follow Keras 3's formulas. Each is an ordinary
`torch.optim.Optimizer`: its per-parameter state (`step`, moments, accumulators) saves and
loads with `state_dict`, and every state tensor is a scalar or has its parameter's shape,
possibly with dimensions reduced to 1 (Adafactor's factored moments), which is what the loader
checks (`optimizer._check_state`).

`weight_decay` is decoupled and applied before the update, as Keras's base optimizer does:
`w -= w * weight_decay * lr`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

Params = Any  # what torch.optim accepts: tensors or parameter groups


class _Rule(torch.optim.Optimizer):
    """The loop shared by the rules: the parameters with gradients of each group."""

    def _with_grads(self, group: dict[str, Any]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        params = [p for p in group["params"] if p.grad is not None]
        grads = [p.grad for p in params]
        for grad in grads:
            if grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients.")
        if params and group["weight_decay"]:
            torch._foreach_mul_(params, 1.0 - group["weight_decay"] * group["lr"])
        return params, grads

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads = self._with_grads(group)
            if params:
                self._update(group, params, grads)
        return loss

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        raise NotImplementedError

    def _steps(self, params: list[torch.Tensor]) -> list[float]:
        """Count this step in each parameter's state; return the new counts."""
        counts = []
        for param in params:
            state = self.state[param]
            if "step" not in state:
                state["step"] = torch.tensor(0.0)
            state["step"] += 1
            counts.append(float(state["step"]))
        return counts


class LionRule(_Rule):
    """Lion (Chen et al., 2023): the sign of an interpolated momentum."""

    def __init__(
        self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.99), *,
        weight_decay: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        beta_1, beta_2 = group["betas"]
        moments = []
        for param in params:
            state = self.state[param]
            if "momentum" not in state:
                state["momentum"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            moments.append(state["momentum"])
        direction = torch._foreach_mul(moments, beta_1)
        torch._foreach_add_(direction, grads, alpha=1.0 - beta_1)
        torch._foreach_sign_(direction)
        torch._foreach_add_(params, direction, alpha=-group["lr"])
        torch._foreach_mul_(moments, beta_2)
        torch._foreach_add_(moments, grads, alpha=1.0 - beta_2)


class LambRule(_Rule):
    """Lamb (You et al., 2019): Adam's step scaled per tensor by `||w|| / ||step||`."""

    def __init__(
        self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7, *, weight_decay: float = 0.0,
    ) -> None:  # fmt: skip
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        beta_1, beta_2 = group["betas"]
        steps = self._steps(params)
        moments, velocities = [], []
        for param in params:
            state = self.state[param]
            if "exp_avg" not in state:
                state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            moments.append(state["exp_avg"])
            velocities.append(state["exp_avg_sq"])
        torch._foreach_lerp_(moments, grads, 1.0 - beta_1)
        torch._foreach_lerp_(velocities, torch._foreach_mul(grads, grads), 1.0 - beta_2)
        m_hat = torch._foreach_div(moments, [1.0 - beta_1**t for t in steps])
        v_hat = torch._foreach_div(velocities, [1.0 - beta_2**t for t in steps])
        torch._foreach_sqrt_(v_hat)
        torch._foreach_add_(v_hat, group["eps"])
        updates = torch._foreach_div(m_hat, v_hat)
        w_norm = torch.stack(torch._foreach_norm(params))
        u_norm = torch.stack(torch._foreach_norm(updates))
        ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, 1.0)
        torch._foreach_mul_(updates, list(ratio.unbind()))
        torch._foreach_add_(params, updates, alpha=-group["lr"])


class FtrlRule(_Rule):
    """Follow The Regularized Leader (McMahan et al., 2013), with Keras's shrinkage and
    `beta` terms."""

    def __init__(
        self, params: Params, lr: float = 1e-3, *, lr_power: float = -0.5,
        initial_accumulator_value: float = 0.1, l1: float = 0.0, l2: float = 0.0,
        l2_shrinkage: float = 0.0, beta: float = 0.0, weight_decay: float = 0.0,
    ) -> None:  # fmt: skip
        defaults = {
            "lr": lr, "lr_power": lr_power, "initial_accumulator_value": initial_accumulator_value,
            "l1": l1, "l2": l2, "l2_shrinkage": l2_shrinkage, "beta": beta,
            "weight_decay": weight_decay,
        }  # fmt: skip
        super().__init__(params, defaults)

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        lr, power, l1 = group["lr"], -group["lr_power"], group["l1"]
        l2 = group["l2"] + group["beta"] / (2.0 * lr)
        accums, linears = [], []
        for param in params:
            state = self.state[param]
            if "accumulator" not in state:
                state["accumulator"] = torch.full_like(param, group["initial_accumulator_value"])
                state["linear"] = torch.zeros_like(param)
            accums.append(state["accumulator"])
            linears.append(state["linear"])
        shrunk = torch._foreach_add(grads, params, alpha=2.0 * group["l2_shrinkage"])
        new_accums = torch._foreach_addcmul(accums, grads, grads)
        new_powers = _foreach_power(new_accums, power)
        sigma = torch._foreach_sub(new_powers, _foreach_power(accums, power))
        torch._foreach_div_(sigma, lr)
        torch._foreach_mul_(sigma, params)
        torch._foreach_sub_(shrunk, sigma)
        torch._foreach_add_(linears, shrunk)
        quadratic = torch._foreach_div(new_powers, lr)
        torch._foreach_add_(quadratic, 2.0 * l2)
        clipped = torch._foreach_clamp_min(torch._foreach_clamp_max(linears, l1), -l1)
        torch._foreach_sub_(clipped, linears)
        torch._foreach_div_(clipped, quadratic)
        torch._foreach_copy_(params, clipped)
        torch._foreach_copy_(accums, new_accums)


class AdafactorRule(_Rule):
    """Adafactor (Shazeer & Stern, 2018): second moments of tensors of rank 2 and more kept
    as a row and a column mean over the last two dimensions, updates clipped by their RMS.

    The step size is `min(lr, 1 / sqrt(t))` times `max(epsilon_2, rms(w))`; Keras 3 takes
    that minimum whether or not `relative_step` is set, and so does this.
    """

    def __init__(
        self, params: Params, lr: float = 1e-3, *, beta_2_decay: float = -0.8,
        epsilon_1: float = 1e-30, epsilon_2: float = 1e-3, clip_threshold: float = 1.0,
        weight_decay: float = 0.0,
    ) -> None:  # fmt: skip
        defaults = {
            "lr": lr, "beta_2_decay": beta_2_decay, "epsilon_1": epsilon_1,
            "epsilon_2": epsilon_2, "clip_threshold": clip_threshold,
            "weight_decay": weight_decay,
        }  # fmt: skip
        super().__init__(params, defaults)

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        steps = self._steps(params)
        for param, grad, t in zip(params, grads, steps):
            rho = min(group["lr"], 1.0 / math.sqrt(t))
            keep = 1.0 - t ** group["beta_2_decay"]  # beta_2 at step t
            state = self.state[param]
            alpha = _rms(param).clamp(min=group["epsilon_2"]) * rho
            square = grad * grad + group["epsilon_1"]
            if param.dim() >= 2:
                if "row" not in state:  # kept with the reduced dimension as 1
                    state["row"] = torch.zeros_like(square.mean(-1, keepdim=True))
                    state["col"] = torch.zeros_like(square.mean(-2, keepdim=True))
                row, col = state["row"], state["col"]
                row.lerp_(square.mean(-1, keepdim=True), 1.0 - keep)
                col.lerp_(square.mean(-2, keepdim=True), 1.0 - keep)
                velocity = row / row.mean(-2, keepdim=True) * col
            else:
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(param)
                velocity = state["velocity"].lerp_(square, 1.0 - keep)
            update = grad / velocity.sqrt()
            update /= (_rms(update) / group["clip_threshold"]).clamp(min=1.0)
            param.sub_(alpha * update)


def _foreach_power(
    tensors: list[torch.Tensor] | tuple[torch.Tensor, ...], power: float
) -> tuple[torch.Tensor, ...]:
    # The default power, 0.5, as a square root: several times faster than pow's exp-log.
    return torch._foreach_sqrt(tensors) if power == 0.5 else torch._foreach_pow(tensors, power)


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.square().mean().sqrt()
