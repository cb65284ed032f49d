"""The optimizers by name: Keras's (`SGD`, `Adam`, ...) and `TorchOptimizer` for any torch one.

Each Keras optimizer maps its arguments and defaults onto one `torch.optim` class (see the
`lamina.optimizers` docstring); `TorchOptimizer` wraps a `torch.optim` class or an instance
already built on the model's weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from lamina.core import config as config_module
from lamina.optimizers.optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Args:
        learning_rate: the step size (Keras's default 0.01).
        momentum: momentum factor.
        nesterov: use Nesterov momentum.
        **kwargs: the common options of `Optimizer`.
    """

    torch_class = torch.optim.SGD
    supports_fused = True

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum = float(momentum)
        self.nesterov = nesterov

    def _torch_kwargs(self) -> dict[str, Any]:
        return {**super()._torch_kwargs(), "momentum": self.momentum, "nesterov": self.nesterov}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014): adaptive moments of the gradient.

    Args:
        learning_rate: the step size.
        beta_1: decay of the first-moment estimate.
        beta_2: decay of the second-moment estimate.
        epsilon: added to the denominator (Keras's default 1e-7).
        amsgrad: use the AMSGrad variant.
        **kwargs: the common options of `Optimizer`; a `weight_decay` is decoupled (AdamW).
    """

    torch_class: Any = torch.optim.Adam
    supports_fused = True

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = amsgrad

    def _make_torch(
        self, params: list[torch.nn.Parameter], torch_class: Any = None
    ) -> torch.optim.Optimizer:
        if self.weight_decay and self.torch_class is torch.optim.Adam:
            return super()._make_torch(params, torch.optim.AdamW)
        return super()._make_torch(params, torch_class)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {
            "betas": (self.beta_1, self.beta_2),
            "eps": self.epsilon,
            "amsgrad": self.amsgrad,
            "weight_decay": self.weight_decay or 0.0,
        }

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); Keras's default decay 0.004."""

    torch_class = torch.optim.AdamW

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs
        )


class Adamax(Adam):
    """Adamax: Adam with the infinity norm."""

    torch_class = torch.optim.Adamax
    supports_fused = False

    def _torch_kwargs(self) -> dict[str, Any]:
        kwargs = super()._torch_kwargs()
        del kwargs["amsgrad"]
        return kwargs


class Nadam(Adam):
    """Adam with Nesterov momentum."""

    torch_class = torch.optim.NAdam
    supports_fused = False

    def _torch_kwargs(self) -> dict[str, Any]:
        kwargs = super()._torch_kwargs()
        del kwargs["amsgrad"]
        # Keras's momentum schedule is beta_1 * (1 - 0.5 * 0.96**t); torch's default
        # (momentum_decay=0.004) raises 0.96 to t * 0.004
        kwargs["momentum_decay"] = 1.0
        return kwargs


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square of recent gradients.

    Args:
        learning_rate: the step size.
        rho: decay of the running average (torch's `alpha`).
        momentum: momentum factor.
        epsilon: added to the denominator.
        centered: normalize by the centered second moment.
        **kwargs: the common options of `Optimizer`.
    """

    torch_class = torch.optim.RMSprop

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = centered

    def _torch_kwargs(self) -> dict[str, Any]:
        return {
            **super()._torch_kwargs(),
            "alpha": self.rho,
            "momentum": self.momentum,
            "eps": self.epsilon,
            "centered": self.centered,
        }

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Adagrad: per-weight rates scaled by the accumulated squared gradients.

    Args:
        learning_rate: the step size.
        initial_accumulator_value: the accumulators' starting value.
        epsilon: added to the denominator.
        **kwargs: the common options of `Optimizer`.
    """

    torch_class = torch.optim.Adagrad
    supports_fused = True

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {
            **super()._torch_kwargs(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "eps": self.epsilon,
        }

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Adadelta(Optimizer):
    """Adadelta: adaptive rates from running averages of updates and gradients."""

    torch_class = torch.optim.Adadelta

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _torch_kwargs(self) -> dict[str, Any]:
        return {**super()._torch_kwargs(), "rho": self.rho, "eps": self.epsilon}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class TorchOptimizer(Optimizer):
    """A `torch.optim` optimizer class with its keyword arguments, or an instance already
    built on the model's weights, behind the lamina optimizer interface.

    Args:
        optimizer: a `torch.optim.Optimizer` subclass or instance.
        **kwargs: keyword arguments for the class (`lr=`, `momentum=`, ...); none with an
            instance.

    Example:
        >>> import torch
        >>> from lamina.optimizers import TorchOptimizer
        >>> opt = TorchOptimizer(torch.optim.SGD, lr=0.1, momentum=0.9)
        >>> opt.build([torch.nn.Parameter(torch.zeros(2))])
        >>> opt.learning_rate
        0.1
    """

    def __init__(self, optimizer: Any, **kwargs: Any) -> None:
        instance = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
        cls = type(optimizer) if instance is not None else optimizer
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise TypeError(
                f"TorchOptimizer: expected a torch.optim.Optimizer class or instance, received "
                f"{type(optimizer).__name__} ({optimizer!r})."
            )
        if instance is not None and kwargs:
            raise ValueError(
                "TorchOptimizer: keyword arguments are for an optimizer class; an instance "
                f"already has its settings (received {sorted(kwargs)})."
            )
        lr = kwargs.get("lr", instance.defaults.get("lr") if instance else None)
        super().__init__(float(lr) if isinstance(lr, (int, float)) else 0.001, name=cls.__name__)
        self.torch_class = cls
        self.kwargs = kwargs
        if instance is not None:
            self.torch_optimizer = instance
            self._params = [p for group in instance.param_groups for p in group["params"]]

    def build(self, params: Iterable[torch.nn.Parameter]) -> None:
        if self.torch_optimizer is None:
            super().build(params)
            return
        wanted = {id(p) for p in params}
        have = {id(p) for p in self._params}
        if not wanted <= have:
            raise ValueError(
                f"compile: the {self.torch_class.__name__} instance holds {len(have)} tensors "
                f"but not all of the model's {len(wanted)} trainable weights; create it with "
                "torch.optim.X(model.parameters(), ...) after the model is built, or pass the "
                "class (optimizer=torch.optim.X) or a name ('adam') instead."
            )

    def _make_torch(
        self, params: list[torch.nn.Parameter], torch_class: Any = None
    ) -> torch.optim.Optimizer:
        return (torch_class or self.torch_class)(params, **self.kwargs)  # type: ignore[no-any-return]

    def get_config(self) -> dict[str, Any]:
        kwargs = self.kwargs
        if not kwargs and self.torch_optimizer is not None:
            kwargs = {
                k: v
                for k, v in self.torch_optimizer.defaults.items()
                if isinstance(v, (bool, int, float, str, tuple)) or v is None
            }
        return {"torch_class": self.torch_class.__name__, **config_module.encode(kwargs)}

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Optimizer:
        config = dict(config)
        name = config.pop("torch_class")
        # vars(), not getattr: a name from a file must not reach a module's lazy __getattr__.
        torch_class = vars(torch.optim).get(name) if isinstance(name, str) else None
        if not (isinstance(torch_class, type) and issubclass(torch_class, torch.optim.Optimizer)):
            raise ValueError(
                f"TorchOptimizer: torch.optim has no optimizer named {name!r}; the config was "
                "saved with another torch version?"
            )
        return cls(torch_class, **config_module.decode(config))
