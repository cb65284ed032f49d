"""A layer's weights: creating them, listing them in Keras's order, and copying them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lamina import constraints, initializers, regularizers
from lamina.core.budget import charge


class Variable(nn.Parameter):
    """A weight made by `add_weight`: an `nn.Parameter` that also answers what code written
    for a Keras variable asks of it (`.value`, `.assign()`, `.numpy()`, `.path`, ...).

    Everything torch does with a parameter (`.to()`, `state_dict`, optimizers,
    `torch.compile`) sees a plain `nn.Parameter`; operations on it return plain tensors.

    Example:
        >>> import torch
        >>> from lamina import layers
        >>> dense = layers.Dense(2, name="dense"); dense.build((None, 3))
        >>> dense.kernel.path, dense.kernel.name, dense.kernel.trainable
        ('dense/kernel', 'kernel', True)
        >>> _ = dense.bias.assign_add(torch.ones(2)); dense.bias.numpy().tolist()
        [1.0, 1.0]
    """

    _lamina_path: str
    _lamina_trainable: bool

    @staticmethod
    def make(value: torch.Tensor, *, path: str, trainable: bool, requires_grad: bool) -> Variable:
        variable = Variable(value, requires_grad=requires_grad)
        variable._lamina_path = path
        variable._lamina_trainable = trainable
        return variable

    @property
    def value(self) -> Variable:
        """The variable itself (Keras code reads `v.value.grad` in a torch `train_step`)."""
        return self

    @property
    def path(self) -> str:
        """`layer_name/weight_name`, as in Keras."""
        return self._lamina_path

    @property
    def name(self) -> str:
        return self._lamina_path.rsplit("/", 1)[-1]

    @property
    def trainable(self) -> bool:
        return self.requires_grad

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._lamina_trainable = bool(value)
        self.requires_grad_(bool(value))

    def assign(self, value: Any) -> Variable:
        """Set the value in place (same shape), outside autograd."""
        with torch.no_grad():
            self.copy_(torch.as_tensor(value))
        return self

    def assign_add(self, value: Any) -> Variable:
        with torch.no_grad():
            self.add_(torch.as_tensor(value, dtype=self.dtype, device=self.device))
        return self

    def assign_sub(self, value: Any) -> Variable:
        with torch.no_grad():
            self.sub_(torch.as_tensor(value, dtype=self.dtype, device=self.device))
        return self

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """A copy of the value as a numpy array (no need for `.detach().cpu()`)."""
        return self.detach().cpu().numpy()

    def __deepcopy__(self, memo: dict[int, Any]) -> Variable:
        if id(self) not in memo:
            copied = Variable(
                self.data.clone(memory_format=torch.preserve_format), self.requires_grad
            )
            copied.__dict__.update(self.__dict__)
            memo[id(self)] = copied
        return memo[id(self)]  # type: ignore[no-any-return]

    def __reduce_ex__(self, proto: Any) -> Any:
        # torch rebuilds a pickled parameter as a plain nn.Parameter; keep the class.
        return (_rebuild_variable, (self.data, self.requires_grad, dict(self.__dict__)))


def _rebuild_variable(data: torch.Tensor, requires_grad: bool, state: dict[str, Any]) -> Variable:
    variable = Variable(data, requires_grad=requires_grad)
    variable.__dict__.update(state)
    return variable


class LayerWeights(nn.Module):
    """The weights half of `Layer` (a mixin: only `Layer` inherits it)."""

    name: str
    built: bool
    _dtype: torch.dtype
    _trainable: bool
    _build_input_shape: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            setattr(cls, "build", _marking_built(build))  # noqa: B010 (mypy: no build here)

    def add_weight(
        self,
        name: str | None = None,
        shape: Sequence[int] = (),
        initializer: str | Callable[..., torch.Tensor] | None = "glorot_uniform",
        trainable: bool = True,
        *,
        dtype: torch.dtype | None = None,
        regularizer: Any = None,
        constraint: Any = None,
    ) -> Variable:
        """Create, register and return a weight (a `Variable`: an `nn.Parameter`).

        Args:
            name: the attribute name of the weight (`kernel`, `bias`, ...).
            shape: its shape.
            initializer: an initializer name (`"glorot_uniform"`, `"zeros"`, ...) or a function
                `(shape, dtype) -> tensor`.
            trainable: whether training updates it.
            dtype: its dtype; the layer's dtype otherwise.
            regularizer: a `lamina.regularizers` object or name; training adds its penalty
                to the loss (as `param.regularizer`).
            constraint: a `lamina.constraints` object or name; training applies it after
                each optimizer step (as `param.constraint`).
        """
        if name is None:
            name = f"weight_{len(self._parameters)}"
        shape = tuple(int(d) for d in shape)
        dtype = dtype or self._dtype
        charge(f"{type(self).__name__} '{self.name}': weight '{name}'", shape, dtype)
        value = initializers.get(initializer)(shape, dtype)
        param = Variable.make(
            value,
            path=f"{self.name}/{name}",
            trainable=trainable,
            requires_grad=trainable and self._trainable,
        )
        param.regularizer = regularizers.get(regularizer)  # type: ignore[attr-defined]
        param.constraint = constraints.get(constraint)  # type: ignore[attr-defined]
        self.register_parameter(name, param)
        return param

    @property
    def weights(self) -> list[nn.Parameter]:
        """Trainable weights first, then non-trainable ones, as in Keras."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if not p.requires_grad]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights as numpy arrays, in `weights` order and Keras's layout.

        numpy has no bfloat16: bfloat16 weights come back as float32 copies (exact), which
        `set_weights` casts back.
        """
        return [_to_numpy(p.detach()) for p in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Load `weights` (as from `get_weights`), checking their number and shapes."""
        params = self.weights
        if len(weights) != len(params):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': set_weights received {len(weights)} "
                f"arrays, expected {len(params)}."
            )
        names = {id(p): n for n, p in self.named_parameters()}
        with torch.no_grad():
            for param, value in zip(params, weights):
                tensor = torch.as_tensor(np.asarray(value))
                if tuple(tensor.shape) != tuple(param.shape):
                    raise ValueError(
                        f"{type(self).__name__} '{self.name}': weight '{names[id(param)]}' has "
                        f"shape {tuple(param.shape)}, received an array of shape "
                        f"{tuple(tensor.shape)}."
                    )
                param.copy_(tensor)

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    array: np.ndarray = tensor.cpu().numpy().copy()
    return array


def _marking_built(build: Callable[..., Any]) -> Callable[..., Any]:
    """`build` that leaves the layer built, as Keras's does: `layer.build(shape)` called by
    hand is not repeated by the first call, which would make new weights and lose any
    `set_weights` since. The weights are ordinary tensors even when the first call comes
    inside `torch.inference_mode` (as `predict` runs), so they can be loaded and trained."""

    @functools.wraps(build)
    def marked(self: LayerWeights, input_shape: Any, *args: Any, **kwargs: Any) -> Any:
        with torch.inference_mode(False):
            result = build(self, input_shape, *args, **kwargs)
        self.built = True
        if self._build_input_shape is None:
            self._build_input_shape = input_shape
        return result

    marked._marks_built = True  # type: ignore[attr-defined]
    return marked
