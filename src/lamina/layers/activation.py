"""Activation layers with options of their own: `ReLU`, `LeakyReLU`, `PReLU`, `ELU`, `Softmax`.

(`Activation`, which applies any activation by name, is in `core.py`.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lamina import activations, constraints, initializers, regularizers
from lamina.core.layer import Layer, LayerError, format_shape
from lamina.core.tensor import Shape, SymbolicTensor


def _check_number(layer: str, name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        wanted = "a number >= 0" + (" or None" if allow_none else "")
        raise ValueError(f"{layer}: expected {wanted} for {name}, received {value!r}.")


class ReLU(Layer):
    """Rectified linear unit with Keras's options (see `activations.relu`).

    Args:
        max_value: the largest output, a number >= 0 (`None`: no limit).
        negative_slope: the slope below `threshold`, >= 0.
        threshold: the value below which inputs are damped, >= 0.

    Example:
        >>> import torch
        >>> from lamina.layers import ReLU
        >>> ReLU(max_value=1.0)(torch.tensor([-1.0, 0.5, 2.0]))
        tensor([0.0000, 0.5000, 1.0000])
    """

    supports_masking = True

    def __init__(
        self,
        max_value: float | None = None,
        *,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs: Any,
    ) -> None:
        _check_number("ReLU", "max_value", max_value, allow_none=True)
        _check_number("ReLU", "negative_slope", negative_slope)
        _check_number("ReLU", "threshold", threshold)
        super().__init__(**kwargs)
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold
        self._plain = max_value is None and negative_slope == 0 and threshold == 0

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if self._plain:
            return torch.relu(inputs)
        return activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(Layer):
    """`x` for positive inputs, `negative_slope * x` otherwise.

    Args:
        negative_slope: the slope for negative inputs, >= 0 (Keras's layer default: 0.3).
    """

    supports_masking = True

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        _check_number("LeakyReLU", "negative_slope", negative_slope)
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """`x` for positive inputs, `alpha * (exp(x) - 1)` otherwise.

    Args:
        alpha: the scale of the negative part.
    """

    supports_masking = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.elu(inputs, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Leaky ReLU with a learned slope per input element: `x` if `x >= 0`, else `alpha * x`.

    Args:
        alpha_initializer: initializer of the `alpha` weight (Keras's default: zeros).
        alpha_regularizer: a regularizer (name, config or function) of `alpha`, or `None`.
        alpha_constraint: a constraint (name, config or function) on `alpha`, or `None`.
        shared_axes: axes (counted from 1, the batch axis being 0) along which one slope is
            shared, e.g. `[1, 2]` for one slope per channel of `(batch, height, width, channels)`
            images.

    Output shape:
        The input's shape.

    Example:
        >>> import torch
        >>> from lamina.layers import PReLU
        >>> layer = PReLU(alpha_initializer="ones", shared_axes=[1])
        >>> layer(torch.ones(2, 3, 4)).shape, tuple(layer.alpha.shape)
        (torch.Size([2, 3, 4]), (1, 4))
    """

    supports_masking = True

    def __init__(
        self,
        alpha_initializer: str | dict[str, Any] | Callable[..., Any] = "zeros",
        *,
        alpha_regularizer: Any = None,
        alpha_constraint: Any = None,
        shared_axes: int | Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None or isinstance(shared_axes, int):
            self.shared_axes = None if shared_axes is None else [shared_axes]
        else:
            self.shared_axes = [int(a) for a in shared_axes]

    def build(self, input_shape: Shape) -> None:
        sizes = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis <= len(sizes):
                raise LayerError(
                    f"PReLU '{self.name}': shared_axes={self.shared_axes} names axis {axis}, "
                    f"but input shape {format_shape(input_shape)} has axes 1 to rank - 1 = "
                    f"{len(sizes)}; pass axes in that range (the batch axis 0 is never shared)."
                )
            sizes[axis - 1] = 1
        if any(d is None for d in sizes):
            raise LayerError(
                f"PReLU '{self.name}': input shape {format_shape(input_shape)} has axes of "
                "unknown size, which need one slope per element; give them a known size, or "
                "list them in shared_axes to share one slope along them."
            )
        self.alpha = self.add_weight(
            "alpha",
            sizes,  # type: ignore[arg-type]
            self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )

    def check_input_shape(self, shapes: Any) -> None:
        sizes = tuple(self.alpha.shape)
        ok = isinstance(shapes, tuple) and len(shapes) == len(sizes) + 1
        if ok:
            ok = all(s == 1 or d is None or d == s for d, s in zip(shapes[1:], sizes))
        if not ok:
            raise self.incompatible_shape((None, *sizes), shapes, "the shape it was built for")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.relu(inputs) - self.alpha * F.relu(-inputs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }


class Softmax(Layer):
    """Softmax along `axis` (an int, or several axes normalized together).

    Args:
        axis: the axis, or a list of axes, to normalize over.

    Call arguments:
        inputs: the logits.
        mask: a boolean tensor broadcastable to the inputs (a symbolic one too, while
            building a model); `False` positions get zero probability (a row masked
            entirely is all zeros, as in Keras).

    Example:
        >>> import torch
        >>> from lamina.layers import Softmax
        >>> Softmax()(torch.zeros(1, 4), mask=torch.tensor([[True, True, False, False]]))
        tensor([[0.5000, 0.5000, 0.0000, 0.0000]])
    """

    supports_masking = True

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis: int | list[int] = axis if isinstance(axis, int) else [int(a) for a in axis]

    def build(self, input_shape: Any) -> None:
        self.check_input_shape(input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        if isinstance(shapes, list):  # [inputs, mask]
            shapes = shapes[0]
        rank = len(shapes)
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        if any(not -rank <= a < rank for a in axes):
            raise LayerError(
                f"Softmax '{self.name}': axis={self.axis} is outside input shape "
                f"{format_shape(shapes)} of rank {rank}; use an axis from {-rank} to {rank - 1}."
            )

    def _symbolic_call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        mask = kwargs.get("mask")
        if isinstance(mask, SymbolicTensor):
            # A symbolic mask is a graph input: the node records `[inputs, mask]`.
            rest = {k: v for k, v in kwargs.items() if k != "mask"}
            return self.record_call([inputs, mask], args, rest)
        return super()._symbolic_call(inputs, *args, **kwargs)

    def call(self, inputs: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        if isinstance(inputs, (list, tuple)):
            inputs, mask = inputs
        if mask is not None:
            mask = torch.as_tensor(mask, device=inputs.device).bool()
            if not inputs.is_meta and not _broadcasts(mask.shape, inputs.shape):
                raise LayerError(
                    f"Softmax '{self.name}': the mask's shape {tuple(mask.shape)} does not "
                    f"broadcast to the inputs' shape {tuple(inputs.shape)}; pass a boolean "
                    "mask of the inputs' shape (or one that broadcasts to it)."
                )
            inputs = inputs.masked_fill(~mask, torch.finfo(inputs.dtype).min)
        if isinstance(self.axis, int):
            outputs = torch.softmax(inputs, dim=self.axis)
        else:
            outputs = torch.exp(inputs - torch.logsumexp(inputs, dim=self.axis, keepdim=True))
        return outputs if mask is None else outputs * mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


def _broadcasts(shape: Sequence[int], target: Sequence[int]) -> bool:
    try:
        return tuple(torch.broadcast_shapes(tuple(shape), tuple(target))) == tuple(target)  # type: ignore[no-untyped-call]
    except RuntimeError:
        return False


__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"]
