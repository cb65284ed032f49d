"""A layer's weights: creating them, listing them in Keras's order, and copying them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lamina import constraints, initializers, regularizers


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
    ) -> nn.Parameter:
        """Create, register and return a weight.

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
        value = initializers.get(initializer)(shape, dtype or self._dtype)
        param = nn.Parameter(value, requires_grad=trainable and self._trainable)
        param._lamina_trainable = trainable  # type: ignore[attr-defined]
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
