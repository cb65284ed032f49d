"""The `Optimizer` base class: Keras's common options, and the bridge to `torch.optim`.

An optimizer holds its settings until `build` hands it the trainable weights, then creates its
`torch.optim` optimizer (fused where torch can) and forwards `step`, `zero_grad` and the state
to it. Each concrete optimizer in `classes` only says which torch class to make and how its
Keras arguments map to torch's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from lamina.optimizers import schedules


class Optimizer:
    """Base class: Keras's common options, and the bridge to a `torch.optim` optimizer.

    Args:
        learning_rate: a float, a `lamina.optimizers.schedules` schedule, or any function
            `iterations -> learning rate`, evaluated before each step.
        weight_decay: weight decay (see the `lamina.optimizers` docstring for how each applies
            it); `None` for none.
        clipnorm: clip each weight's gradient to this norm.
        clipvalue: clip gradient values to `[-clipvalue, clipvalue]`.
        global_clipnorm: clip the gradients of all weights together to this norm.
        use_ema: keep an exponential moving average (EMA) of the trained weights, updated
            after each step: `average = ema_momentum * average + (1 - ema_momentum) * weight`
            (the first step copies the weights). `fit` ends by writing the averages into the
            weights (`finalize_variable_values`); `lamina.callbacks.SwapEMAWeights` evaluates
            with them during training.
        ema_momentum: the momentum of the average, in [0, 1].
        ema_overwrite_frequency: with `use_ema`, write the averages into the weights every
            this many steps; `None` only at the end of `fit`.
        loss_scale_factor: multiply the loss by this before `backward` (`scale_loss`; `fit`
            does it) and divide the gradients by it before the update; `None` for neither.
        gradient_accumulation_steps: an int >= 2 to update the weights only every this many
            steps, with the average of the gradients since the last update (accumulated in
            buffers saved with the optimizer's state). `iterations` then counts updates, while
            a learning-rate schedule sees every step, as in Keras.
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
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        fused: bool | None = None,
    ) -> None:
        if gradient_accumulation_steps is not None and (
            not isinstance(gradient_accumulation_steps, int) or gradient_accumulation_steps < 2
        ):
            raise ValueError(
                f"{type(self).__name__}: gradient_accumulation_steps must be an int >= 2 or "
                f"None, received {gradient_accumulation_steps!r}."
            )
        if loss_scale_factor is not None and not float(loss_scale_factor) > 0:
            raise ValueError(
                f"{type(self).__name__}: loss_scale_factor must be > 0 or None, received "
                f"{loss_scale_factor!r}."
            )
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(
                f"{type(self).__name__}: pass clipnorm or global_clipnorm, not both "
                f"(received {clipnorm} and {global_clipnorm})."
            )
        if not callable(learning_rate) and not float(learning_rate) >= 0:
            raise ValueError(
                f"{type(self).__name__}: learning_rate must be >= 0, received {learning_rate!r}."
            )
        if use_ema and not 0.0 <= ema_momentum <= 1.0:
            raise ValueError(
                f"{type(self).__name__}: ema_momentum must be in [0, 1], received {ema_momentum}."
            )
        if (
            use_ema
            and ema_overwrite_frequency
            and (not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1)
        ):
            raise ValueError(
                f"{type(self).__name__}: ema_overwrite_frequency must be an int >= 1 or None, "
                f"received {ema_overwrite_frequency!r}."
            )
        self.use_ema = bool(use_ema)
        self.ema_momentum = float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self._ema: list[torch.Tensor] = []
        self._schedule = learning_rate if callable(learning_rate) else None
        self._learning_rate = 0.0 if callable(learning_rate) else float(learning_rate)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.fused = fused
        self.name = name or type(self).__name__.lower()
        self.loss_scale_factor = None if loss_scale_factor is None else float(loss_scale_factor)
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._accumulated: list[torch.Tensor] = []
        self._iterations = 0  # every step, an update or not (Keras's `_iterations`)
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
        if self.use_ema:  # Keras starts from zeros; the weights are the better thing to swap in
            with torch.no_grad():
                self._ema = [p.detach().clone() for p in params]
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
        """Clip the gradients as configured and apply one update (with
        `gradient_accumulation_steps`, only add them up on all but every N-th step)."""
        optimizer = self._require()
        if (self.loss_scale_factor or self.gradient_accumulation_steps) and not self._gradients():
            self._count_step()
            return
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
        self._count_step()

    def _count_step(self) -> None:
        if self.use_ema:  # Keras averages after every step, accumulating ones included
            self._update_ema()
        self._iterations += 1

    @torch.no_grad()
    def _gradients(self) -> bool:
        """Unscale the gradients (`loss_scale_factor`) and accumulate them; True when this
        step updates, with the gradients replaced by their average since the last update.

        A weight without a gradient is left out of the sum, as Keras filters it out.
        """
        params = [p for p in self._params if p.grad is not None]
        grads: list[torch.Tensor] = [p.grad for p in params]  # type: ignore[misc]
        if self.loss_scale_factor and grads:
            torch._foreach_div_(grads, self.loss_scale_factor)
        steps = self.gradient_accumulation_steps
        if not steps:
            return True
        if len(self._accumulated) != len(self._params):
            self._accumulated = [torch.zeros_like(p) for p in self._params]
        held = {id(p): a for p, a in zip(self._params, self._accumulated)}
        sums = [held[id(p)] for p in params]
        if (self._iterations + 1) % steps:
            if grads:
                torch._foreach_add_(sums, grads)
            return False
        if grads:
            torch._foreach_add_(grads, sums)
            torch._foreach_div_(grads, float(steps))
        torch._foreach_zero_(self._accumulated)
        return True

    @property
    def iterations(self) -> int:
        """The number of updates so far (with `gradient_accumulation_steps`, the steps
        divided by it, rounded down, as Keras counts)."""
        steps = self.gradient_accumulation_steps
        return self._iterations // steps if steps else self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._iterations = int(value) * (self.gradient_accumulation_steps or 1)

    # ---------------------------------------------------------------- moving average
    @torch.no_grad()
    def _update_ema(self) -> None:
        """Keras's order: the average is taken after the update, with `iterations` not yet
        counting it (so the first step copies the weights), then maybe written back."""
        if self.iterations == 0:
            torch._foreach_copy_(self._ema, self._weights())
        else:
            torch._foreach_lerp_(self._ema, self._weights(), 1.0 - self.ema_momentum)
        every = self.ema_overwrite_frequency
        if every and (self.iterations + 1) % every == 0:
            torch._foreach_copy_(self._weights(), self._ema)

    def _weights(self) -> list[torch.Tensor]:
        return list(self._params)

    def finalize_variable_values(self, var_list: Iterable[Any] | None = None) -> None:
        """With `use_ema`, write the moving averages into the weights (`fit` calls this after
        its last epoch, as Keras's does)."""
        if self.use_ema and self._ema:
            with torch.no_grad():
                torch._foreach_copy_(self._weights(), self._ema)

    def _swap_ema_weights(self) -> None:
        """Exchange the weights and their moving averages (`SwapEMAWeights`)."""
        if not self.use_ema:
            raise ValueError(
                f"Optimizer '{self.name}': swapping in the EMA weights needs use_ema=True "
                f"(received use_ema={self.use_ema}); create the optimizer with use_ema=True."
            )
        if not self._ema:
            return  # not built: nothing has been trained yet
        with torch.no_grad():
            held = [p.detach().clone() for p in self._params]
            torch._foreach_copy_(self._weights(), self._ema)
            torch._foreach_copy_(self._ema, held)

    def _follow_params(self) -> None:
        """Move the averages to their weights' device and dtype (after `model.to()`)."""
        self._ema = [e.to(p.device, p.dtype) for e, p in zip(self._ema, self._params)]

    def _current_schedule_rate(self) -> float:
        assert self._schedule is not None
        return float(self._schedule(self._iterations))  # every step, as Keras's schedules see

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to call `backward` on: multiplied by `loss_scale_factor` when set."""
        return loss * self.loss_scale_factor if self.loss_scale_factor else loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._require().zero_grad(set_to_none=set_to_none)

    def apply(self, grads: Iterable[Any], trainable_variables: Iterable[Any] | None = None) -> None:
        """Keras's `optimizer.apply(grads, variables)`: one update of `variables` (by default
        the weights the optimizer was built with) from `grads`, in a custom `train_step`.

        An optimizer not built yet is built on `variables` (a GAN's second optimizer); weights
        it holds but was not given here keep their values.
        """
        grads = list(grads)
        variables = self._params if trainable_variables is None else list(trainable_variables)
        if not self.built:
            self.build(variables)
        known = {id(p) for p in self._params}
        unknown = [
            getattr(v, "path", None) or tuple(v.shape) for v in variables if id(v) not in known
        ]
        if unknown:
            raise ValueError(
                f"Optimizer '{self.name}': apply() received weights it was not built with "
                f"({unknown[:3]}); use one optimizer per set of weights (e.g. a second "
                "optimizer for a GAN's discriminator)."
            )
        for grad, var in zip(grads, variables):
            if grad is not var.grad:
                var.grad = grad
        given = {id(v) for v in variables}
        held = [p for p in self._params if id(p) not in given and p.grad is not None]
        saved = [p.grad for p in held]
        for param in held:
            param.grad = None
        try:
            self.step()
        finally:
            for param, grad in zip(held, saved):
                param.grad = grad

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Any]]) -> None:
        """Keras's `apply_gradients(zip(grads, weights))`: `apply` with pairs."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    # ---------------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> float:
        """The current learning rate (with a schedule, the rate of the next step, as in
        Keras); assigning it updates every parameter group."""
        if self._schedule is not None:
            return self._current_schedule_rate()
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
        state = {**self.torch_optimizer.state_dict(), "iterations": self._iterations}
        if self._ema:
            state["ema"] = list(self._ema)
        if self._accumulated:
            state["accumulated_gradients"] = list(self._accumulated)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a `state_dict()`; before `build` it is kept and loaded by `build`."""
        if self.torch_optimizer is None:
            self._pending_state = dict(state_dict)
            return
        state = dict(state_dict)
        ema = state.pop("ema", None)
        accumulated = state.pop("accumulated_gradients", None)
        iterations = int(state.pop("iterations", self._iterations))
        if state.get("param_groups"):
            _check_state(self.torch_optimizer, state)
        if ema is not None:
            _check_per_weight(ema, self._params, "moving average")
            if self.use_ema:
                self._ema = [v.to(p.device).clone() for v, p in zip(ema, self._params)]
        if accumulated is not None:
            _check_per_weight(accumulated, self._params, "accumulated gradient")
            if self.gradient_accumulation_steps:
                self._accumulated = [
                    v.to(p.device).clone() for v, p in zip(accumulated, self._params)
                ]
        self._iterations = iterations
        if state.get("param_groups"):
            self.torch_optimizer.load_state_dict(state)

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        rate: Any = self._learning_rate
        if isinstance(self._schedule, schedules.LearningRateSchedule):
            rate = schedules.serialize(self._schedule)
        elif self._schedule is not None:
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
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "fused": self.fused,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Optimizer:
        config = dict(config)
        rate = config.get("learning_rate")
        if isinstance(rate, dict) and "class_name" in rate:
            config["learning_rate"] = schedules.deserialize(rate, custom_objects=custom_objects)
        elif isinstance(rate, dict) and "__callable__" in rate:
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


def _check_per_weight(values: Any, params: list[torch.nn.Parameter], what: str) -> None:
    """Raise unless `values` is one tensor per weight, of its shape and dtype."""
    if not isinstance(values, list) or len(values) != len(params):
        raise ValueError(
            f"the saved {what}s are {len(values) if isinstance(values, list) else 0} "
            f"tensors; the optimizer holds {len(params)} weights."
        )
    for i, (value, param) in enumerate(zip(values, params)):
        fits = isinstance(value, torch.Tensor) and value.dtype == param.dtype
        if not fits or value.shape != param.shape:
            shown: Any = type(value).__name__
            if isinstance(value, torch.Tensor):
                shown = (tuple(value.shape), value.dtype)
            raise ValueError(
                f"{what} {i} is {str(shown)[:60]}; its weight is "
                f"{tuple(param.shape)} {param.dtype}."
            )


def _fusable(params: list[torch.nn.Parameter]) -> bool:
    devices = {p.device.type for p in params}
    return (
        len(devices) == 1
        and devices <= {"cpu", "cuda"}
        and all(p.is_floating_point() for p in params)
    )


def _check_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Raise unless every state tensor fits its parameter: torch copies the state in without
    checking, and a fused kernel then writes past a tensor smaller than its parameter.

    A state tensor is a 0-d scalar (`step`), or has its parameter's shape and dtype, possibly
    with some dimensions reduced to 1 (factored states, as Adafactor keeps).
    """
    groups, saved_groups = optimizer.param_groups, state.get("param_groups")
    if not isinstance(saved_groups, list) or len(saved_groups) != len(groups):
        raise ValueError(
            f"the saved state has {len(saved_groups) if isinstance(saved_groups, list) else 0} "
            f"parameter groups, the optimizer {len(groups)}."
        )
    params: dict[Any, torch.Tensor] = {}
    for group, saved in zip(groups, saved_groups, strict=True):
        ids = saved.get("params") if isinstance(saved, dict) else None
        if not isinstance(ids, list) or len(ids) != len(group["params"]):
            raise ValueError("a saved parameter group does not match the optimizer's.")
        params.update(zip(ids, group["params"], strict=True))
    per_param = state.get("state", {})
    if not isinstance(per_param, dict):
        raise ValueError("the saved state must map parameters to their state.")
    for key, entries in per_param.items():
        param = params.get(key)
        if param is None or not isinstance(entries, dict):
            raise ValueError(f"the saved state names an unknown parameter {str(key)[:40]!r}.")
        for name, value in entries.items():
            if isinstance(value, torch.Tensor) and not _fits(value, param):
                raise ValueError(
                    f"state {str(name)[:40]!r} of parameter {key} is "
                    f"{tuple(value.shape)} {value.dtype}; the parameter is "
                    f"{tuple(param.shape)} {param.dtype}"
                )


def _fits(value: torch.Tensor, param: torch.Tensor) -> bool:
    if value.dim() == 0:
        return not value.is_complex() or param.is_complex()
    if value.dtype != param.dtype or value.dim() != param.dim():
        return False
    return all(v in (p, 1) for v, p in zip(value.shape, param.shape, strict=True))
