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
(torch adds it after bias correction); trained results match to within that.

`compile` also accepts a torch optimizer class (`torch.optim.SGD`, built with its defaults or
the `kwargs` of `TorchOptimizer`) or an instance already built on the model's weights.

Example:
    >>> import torch
    >>> from lamina import optimizers
    >>> opt = optimizers.get("adam")
    >>> opt.build([torch.nn.Parameter(torch.zeros(2))])
    >>> type(opt.torch_optimizer).__name__, opt.learning_rate
    ('Adam', 0.001)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from lamina import config as config_module

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "TorchOptimizer",
    "deserialize",
    "get",
    "serialize",
]


class Optimizer:
    """Base class: Keras's common options, and the bridge to a `torch.optim` optimizer.

    Args:
        learning_rate: a float, or a function `iterations -> learning rate` evaluated before
            each step.
        weight_decay: weight decay (see the module docstring for how each optimizer applies
            it); `None` for none.
        clipnorm: clip each weight's gradient to this norm.
        clipvalue: clip gradient values to `[-clipvalue, clipvalue]`.
        global_clipnorm: clip the gradients of all weights together to this norm.
        name: the optimizer's name.
        fused: use torch's fused kernel (one kernel for all weights). `None` (the default)
            uses it where torch has one for this optimizer and these weights (SGD, Adam,
            AdamW, Adagrad on CPU or CUDA): on CPU, fused Adam updates the seed's VAE about
            four times faster than torch's default per-tensor loop, with the same results
            to float rounding.
    """

    torch_class: Any = torch.optim.SGD
    supports_fused = False

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        *,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        fused: bool | None = None,
    ) -> None:
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(
                f"{type(self).__name__}: pass clipnorm or global_clipnorm, not both "
                f"(received {clipnorm} and {global_clipnorm})."
            )
        if not callable(learning_rate) and not float(learning_rate) >= 0:
            raise ValueError(
                f"{type(self).__name__}: learning_rate must be >= 0, received {learning_rate!r}."
            )
        self._schedule = learning_rate if callable(learning_rate) else None
        self._learning_rate = 0.0 if callable(learning_rate) else float(learning_rate)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.fused = fused
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.torch_optimizer: torch.optim.Optimizer | None = None
        self._params: list[torch.nn.Parameter] = []
        self._pending_state: dict[str, Any] | None = None

    # ---------------------------------------------------------------- building
    def _torch_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `torch_class` besides the parameters and the rate."""
        return {"weight_decay": self.weight_decay} if self.weight_decay else {}

    def _make_torch(
        self, params: list[torch.nn.Parameter], torch_class: Any = None
    ) -> torch.optim.Optimizer:
        torch_class = torch_class or self.torch_class
        lr = self._current_schedule_rate() if self._schedule else self._learning_rate
        kwargs = self._torch_kwargs()
        if self.fused is not None:
            return torch_class(params, lr=lr, fused=self.fused, **kwargs)  # type: ignore[no-any-return]
        if self.supports_fused and _fusable(params):
            try:
                return torch_class(params, lr=lr, fused=True, **kwargs)  # type: ignore[no-any-return]
            except (RuntimeError, ValueError, TypeError):
                pass  # this torch build has no fused kernel for these weights
        return torch_class(params, lr=lr, **kwargs)  # type: ignore[no-any-return]

    @property
    def built(self) -> bool:
        return self.torch_optimizer is not None

    def build(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Create the torch optimizer over `params` (the model's trainable weights)."""
        params = list(params)
        if not params:
            raise ValueError(
                f"Optimizer '{self.name}': the model has no trainable weights to optimize; "
                "build the model first or check which layers are trainable."
            )
        self._params = params
        self.torch_optimizer = self._make_torch(params)
        if self._pending_state is not None:
            state, self._pending_state = self._pending_state, None
            self.load_state_dict(state)

    def _require(self) -> torch.optim.Optimizer:
        if self.torch_optimizer is None:
            raise RuntimeError(
                f"Optimizer '{self.name}' is not built yet: it gets the model's weights in "
                "compile() (or at the first training step of a model built lazily)."
            )
        return self.torch_optimizer

    # ---------------------------------------------------------------- stepping
    def step(self) -> None:
        """Clip the gradients as configured and apply one update."""
        optimizer = self._require()
        if self._schedule is not None:
            self.learning_rate = self._current_schedule_rate()
        if self.clipvalue is not None:
            torch.nn.utils.clip_grad_value_(self._params, self.clipvalue)
        if self.clipnorm is not None:
            for param in self._params:
                torch.nn.utils.clip_grad_norm_([param], self.clipnorm)
        if self.global_clipnorm is not None:
            torch.nn.utils.clip_grad_norm_(self._params, self.global_clipnorm)
        optimizer.step()
        self.iterations += 1

    def _current_schedule_rate(self) -> float:
        assert self._schedule is not None
        return float(self._schedule(self.iterations))

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._require().zero_grad(set_to_none=set_to_none)

    def apply_gradients(self, grads_and_vars: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Keras's `apply_gradients(zip(grads, weights))`: set the gradients and step."""
        for grad, var in grads_and_vars:
            var.grad = grad
        self.step()

    # ---------------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> float:
        """The current learning rate; assigning it updates every parameter group."""
        if self.torch_optimizer is not None:
            return float(self.torch_optimizer.param_groups[0]["lr"])
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        value = float(value)
        self._learning_rate = value
        if self.torch_optimizer is not None:
            for group in self.torch_optimizer.param_groups:
                group["lr"] = value

    lr = learning_rate

    # ---------------------------------------------------------------- state
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self._require().param_groups

    @property
    def state(self) -> Any:
        return self._require().state

    def state_dict(self) -> dict[str, Any]:
        """The torch optimizer's state dict plus `iterations`; resumable with
        `load_state_dict`. Before `build`, whatever state is waiting to be loaded."""
        if self.torch_optimizer is None:
            return dict(self._pending_state or {"state": {}, "param_groups": []})
        return {**self.torch_optimizer.state_dict(), "iterations": self.iterations}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a `state_dict()`; before `build` it is kept and loaded by `build`."""
        if self.torch_optimizer is None:
            self._pending_state = dict(state_dict)
            return
        state = dict(state_dict)
        self.iterations = int(state.pop("iterations", self.iterations))
        if state.get("param_groups"):
            self.torch_optimizer.load_state_dict(state)

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        rate: Any = self._learning_rate
        if self._schedule is not None:
            from lamina.saving.registry import get_registered_name

            rate = {"__callable__": get_registered_name(self._schedule)}
        elif self.torch_optimizer is not None:
            rate = self.learning_rate
        return {
            "name": self.name,
            "learning_rate": rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "fused": self.fused,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Optimizer:
        config = dict(config)
        rate = config.get("learning_rate")
        if isinstance(rate, dict) and "__callable__" in rate:
            from lamina.saving.registry import get_registered_object

            fn = get_registered_object(rate["__callable__"], custom_objects)
            if fn is None:
                raise ValueError(
                    f"{cls.__name__}: learning-rate schedule {rate['__callable__']!r} is not "
                    "known; pass it in custom_objects or register it with "
                    "lamina.saving.register_serializable()."
                )
            config["learning_rate"] = fn
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.learning_rate:g})"


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
        torch_class = getattr(torch.optim, name, None)
        if not (isinstance(torch_class, type) and issubclass(torch_class, torch.optim.Optimizer)):
            raise ValueError(
                f"TorchOptimizer: torch.optim has no optimizer named {name!r}; the config was "
                "saved with another torch version?"
            )
        return cls(torch_class, **config_module.decode(config))


_CLASSES: dict[str, type[Optimizer]] = {
    cls.__name__: cls
    for cls in (SGD, Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Adadelta, TorchOptimizer)
}
_NAMES = {name.lower(): cls for name, cls in _CLASSES.items() if cls is not TorchOptimizer}


def _fusable(params: list[torch.nn.Parameter]) -> bool:
    devices = {p.device.type for p in params}
    return (
        len(devices) == 1
        and devices <= {"cpu", "cuda"}
        and all(p.is_floating_point() for p in params)
    )


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
