"""Keras's optimizers that torch has no equal of: `Adafactor`, `Lion`, `Lamb`, `Ftrl`.

Each holds Keras's arguments and defaults and runs the matching rule of `rules` (Keras 3's
formulas as a `torch.optim` optimizer); the common options (`weight_decay`, clipping, EMA)
are the base class's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina.optimizers import rules
from lamina.optimizers.optimizer import Optimizer

Rate = float | Callable[[int], float]


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018): Adam-like steps whose second moments, for weights
    of rank 2 and more, are kept as row and column means (memory of one row and one column
    per matrix instead of one value per weight).

    Args:
        learning_rate: the largest step size: the step at iteration `t` is
            `min(learning_rate, 1 / sqrt(t)) * max(epsilon_2, rms(weight))`.
        beta_2_decay: the second moments decay by `1 - t ** beta_2_decay` at step `t`.
        epsilon_1: added to the squared gradients.
        epsilon_2: the smallest weight RMS the step size scales with.
        clip_threshold: updates whose RMS exceeds it are scaled down to it (independent of
            `clipnorm` and friends).
        relative_step: kept for Keras's configs; Keras 3 takes the `1 / sqrt(t)` minimum
            either way, and so does lamina.
        **kwargs: the common options of `Optimizer`.

    Example:
        >>> import torch
        >>> from lamina.optimizers import Adafactor
        >>> w = torch.nn.Parameter(torch.ones(2, 3))
        >>> opt = Adafactor(learning_rate=0.1)
        >>> opt.build([w])
        >>> w.grad = torch.ones(2, 3)
        >>> opt.step()
        >>> sorted(opt.state[w])  # one row and one column, not a full second moment
        ['col', 'row', 'step']
    """

    torch_class = rules.AdafactorRule

    def __init__(
        self,
        learning_rate: Rate = 0.001,
        beta_2_decay: float = -0.8,
        epsilon_1: float = 1e-30,
        epsilon_2: float = 1e-3,
        clip_threshold: float = 1.0,
        relative_step: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1, self.epsilon_2 = float(epsilon_1), float(epsilon_2)
        self.clip_threshold = float(clip_threshold)
        self.relative_step = bool(relative_step)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {
            **super()._torch_kwargs(),
            "beta_2_decay": self.beta_2_decay,
            "epsilon_1": self.epsilon_1,
            "epsilon_2": self.epsilon_2,
            "clip_threshold": self.clip_threshold,
        }

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_2_decay": self.beta_2_decay,
            "epsilon_1": self.epsilon_1,
            "epsilon_2": self.epsilon_2,
            "clip_threshold": self.clip_threshold,
            "relative_step": self.relative_step,
        }


class Lion(Optimizer):
    """Lion (Chen et al., 2023): steps of size `learning_rate` in the sign of an
    interpolation of the momentum and the gradient; one moment per weight.

    Args:
        learning_rate: the step size (Lion wants one 3-10x smaller than Adam's).
        beta_1: the interpolation that gives the step's sign, in (0, 1].
        beta_2: the decay of the momentum.
        **kwargs: the common options of `Optimizer`.
    """

    torch_class = rules.LionRule

    def __init__(
        self,
        learning_rate: Rate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        if not 0.0 < beta_1 <= 1.0:
            raise ValueError(
                f"Lion: beta_1 must be in (0, 1] (otherwise Lion is sign SGD), received {beta_1}."
            )
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {**super()._torch_kwargs(), "betas": (self.beta_1, self.beta_2)}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Lamb(Optimizer):
    """Lamb (You et al., 2019): Adam's update, scaled per weight tensor by the ratio of the
    weight's norm to the update's (layer-wise adaptation for large batches).

    Args:
        learning_rate: the step size.
        beta_1: decay of the first-moment estimate.
        beta_2: decay of the second-moment estimate.
        epsilon: added to the denominator after bias correction.
        **kwargs: the common options of `Optimizer`.
    """

    torch_class = rules.LambRule

    def __init__(
        self,
        learning_rate: Rate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = float(epsilon)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {
            **super()._torch_kwargs(),
            "betas": (self.beta_1, self.beta_2),
            "eps": self.epsilon,
        }

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Ftrl(Optimizer):
    """Follow The Regularized Leader (McMahan et al., 2013), for large sparse linear models.

    Args:
        learning_rate: the step size.
        learning_rate_power: how the rate shrinks with the accumulated squared gradients
            (<= 0; -0.5 is Adagrad-like).
        initial_accumulator_value: the accumulators' starting value (>= 0).
        l1_regularization_strength: L1 strength (>= 0): weights whose linear term stays
            within it are exactly 0.
        l2_regularization_strength: L2 strength (>= 0) of the stabilization penalty.
        l2_shrinkage_regularization_strength: L2 strength (>= 0) added to the gradient (a
            magnitude penalty).
        beta: adds `beta / (2 * learning_rate)` to the L2 strength.
        **kwargs: the common options of `Optimizer`.
    """

    torch_class = rules.FtrlRule

    def __init__(
        self,
        learning_rate: Rate = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        limits = {
            "learning_rate_power": (learning_rate_power, learning_rate_power <= 0, "<= 0"),
            "initial_accumulator_value": (
                initial_accumulator_value,
                initial_accumulator_value >= 0,
                ">= 0",
            ),
            "l1_regularization_strength": (
                l1_regularization_strength,
                l1_regularization_strength >= 0,
                ">= 0",
            ),
            "l2_regularization_strength": (
                l2_regularization_strength,
                l2_regularization_strength >= 0,
                ">= 0",
            ),
            "l2_shrinkage_regularization_strength": (
                l2_shrinkage_regularization_strength,
                l2_shrinkage_regularization_strength >= 0,
                ">= 0",
            ),
        }
        for name, (value, ok, rule) in limits.items():
            if not ok:
                raise ValueError(f"Ftrl: {name} must be {rule}, received {value}.")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = float(beta)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {
            **super()._torch_kwargs(),
            "lr_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1": self.l1_regularization_strength,
            "l2": self.l2_regularization_strength,
            "l2_shrinkage": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }
