"""Normalization layers: `LayerNormalization`, `GroupNormalization`, `UnitNormalization`, with
Keras's arguments, defaults and math, and the helpers `BatchNormalization` shares
(`batch_normalization.py`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lamina import constraints, initializers, regularizers
from lamina.core.errors import LayerError
from lamina.core.layer import Layer
from lamina.core.tensor import Shape

InitializerArg = str | dict[str, Any] | Callable[..., Any]
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _axes(name: str, axis: int | Sequence[int]) -> int | list[int]:
    """`axis` as Keras keeps it: an int, or a list of ints."""
    if isinstance(axis, bool) or not isinstance(axis, (int, list, tuple)):
        raise TypeError(f"{name}: expected an int or a list of ints for axis, received {axis!r}.")
    if isinstance(axis, int):
        return axis
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
        raise TypeError(f"{name}: expected an int or a list of ints for axis, received {axis!r}.")
    return list(axis)


def _resolve_axes(layer: Layer, axis: int | list[int], shape: Shape) -> list[int]:
    """`axis` as sorted non-negative positions in `shape`, each known and not the batch axis."""
    rank = len(shape)
    listed = [axis] if isinstance(axis, int) else axis
    resolved = sorted({a + rank if a < 0 else a for a in listed})
    if rank < 2:
        raise LayerError(
            f"{type(layer).__name__} '{layer.name}': expected an input of rank 2 or more "
            f"(batch, ..., features), received shape {shape}; add a features axis, e.g. "
            "Reshape((-1, 1))."
        )
    if any(a < 1 or a >= rank for a in resolved) or len(resolved) != len(listed) or not listed:
        raise LayerError(
            f"{type(layer).__name__} '{layer.name}': axis={axis} does not name distinct "
            f"non-batch axes of an input of shape {shape}; expected axes in 1..{rank - 1} "
            f"(or -{rank - 1}..-1)."
        )
    for a in resolved:
        if shape[a] is None:
            raise layer.incompatible_shape(
                shape, shape, f"axis {a} must have a known size to create the weights"
            )
    return resolved


def _sizes(shape: Shape, axes: list[int]) -> tuple[int, ...]:
    """The sizes of `axes` in `shape`, which `_resolve_axes` has checked are known."""
    return tuple(int(shape[a]) for a in axes)  # type: ignore[arg-type]


def _cast(weight: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """`weight` in the compute dtype of `x` (float32 for low-precision layers, as Keras)."""
    return weight if weight is None or weight.dtype == x.dtype else weight.to(x.dtype)


def _add_gamma_beta(layer: Any, shape: tuple[int, ...], *, scale: bool, center: bool) -> None:
    """Create `layer.gamma` and `layer.beta` (or set them to `None`), in Keras's order."""
    layer.gamma = (
        layer.add_weight(
            "gamma",
            shape,
            layer.gamma_initializer,
            regularizer=layer.gamma_regularizer,
            constraint=layer.gamma_constraint,
        )
        if scale
        else None
    )
    layer.beta = (
        layer.add_weight(
            "beta",
            shape,
            layer.beta_initializer,
            regularizer=layer.beta_regularizer,
            constraint=layer.beta_constraint,
        )
        if center
        else None
    )


def _check_same(layer: Layer, built: Shape, shapes: Any, axes: list[int]) -> None:
    if not isinstance(shapes, tuple) or len(shapes) != len(built):
        raise layer.incompatible_shape(built, shapes, f"a {len(built)}-D input")
    if any(shapes[a] != built[a] for a in axes):
        raise layer.incompatible_shape(built, shapes, f"sizes of axes {axes}")


class LayerNormalization(Layer):
    """Normalize each sample over `axis` by its own mean and variance, then scale by `gamma`
    and shift by `beta` (both shaped like the normalized axes).

    Args:
        axis: the axis or list of axes to normalize over (not the batch axis).
        epsilon: added to the variance before its square root.
        center: whether to add the learned offset `beta`.
        scale: whether to multiply by the learned `gamma`.
        rms_scaling: Keras's deprecated option, kept for loading its models: multiply by
            `gamma / sqrt(variance + epsilon)` without subtracting the mean and without `beta`
            (the variance, not the mean square; prefer a real RMS normalization).
        beta_initializer, gamma_initializer: initializers of the two weights.
        beta_regularizer, gamma_regularizer: regularizers (`lamina.regularizers`) whose
            penalties training adds to the loss.
        beta_constraint, gamma_constraint: constraints (`lamina.constraints`) applied after
            each optimizer step.

    Output shape:
        The input's shape.

    Example:
        >>> import torch
        >>> from lamina.layers import LayerNormalization
        >>> LayerNormalization()(torch.tensor([[1.0, 3.0]])).detach()
        tensor([[-0.9995,  0.9995]])
    """

    supports_masking = True

    gamma: torch.nn.Parameter | None
    beta: torch.nn.Parameter | None

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        rms_scaling: bool = False,
        *,
        beta_initializer: InitializerArg = "zeros",
        gamma_initializer: InitializerArg = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        axis = _axes("LayerNormalization", axis)
        if epsilon <= 0:
            raise ValueError(
                f"LayerNormalization: expected a positive epsilon, received {epsilon!r}."
            )
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.rms_scaling = rms_scaling
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self._axes: list[int] = []
        self._trailing = True

    def build(self, input_shape: Shape) -> None:
        self._axes = _resolve_axes(self, self.axis, input_shape)
        rank = len(input_shape)
        self._trailing = self._axes == list(range(rank - len(self._axes), rank))
        shape = _sizes(input_shape, self._axes)
        scale, center = self.scale or self.rms_scaling, self.center and not self.rms_scaling
        _add_gamma_beta(self, shape, scale=scale, center=center)
        # How gamma and beta broadcast against an input whose normalized axes are not last.
        sizes = dict(zip(self._axes, shape))
        self._broadcast = tuple(sizes.get(i, 1) for i in range(rank))

    def check_input_shape(self, shapes: Any) -> None:
        _check_same(self, self._build_input_shape, shapes, self._axes)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.float() if inputs.dtype in _LOW_PRECISION else inputs
        gamma, beta = _cast(self.gamma, x), _cast(self.beta, x)
        if self.rms_scaling:
            variance = x.var(dim=self._axes, correction=0, keepdim=True)
            out = x * torch.rsqrt(variance + self.epsilon)
            if gamma is not None:
                out = out * (gamma if self._trailing else gamma.reshape(self._broadcast))
        elif self._trailing:
            normalized = tuple(x.shape[x.ndim - len(self._axes) :])
            out = F.layer_norm(x, normalized, gamma, beta, self.epsilon)
        else:
            variance, mean = torch.var_mean(x, dim=self._axes, correction=0, keepdim=True)
            out = (x - mean) * torch.rsqrt(variance + self.epsilon)
            if gamma is not None:
                out = out * gamma.reshape(self._broadcast)
            if beta is not None:
                out = out + beta.reshape(self._broadcast)
        return out.to(inputs.dtype) if out.dtype != inputs.dtype else out

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }

    def extra_repr(self) -> str:
        return f"axis={self.axis}, epsilon={self.epsilon}"


class GroupNormalization(Layer):
    """Split the features of `axis` into `groups` groups of consecutive features; normalize
    each sample over each group (and every other non-batch axis), then scale by `gamma` and
    shift by `beta` per feature.

    Args:
        groups: the number of groups; it must divide the number of features; `-1` makes one
            group per feature (instance normalization).
        axis: the features axis.
        epsilon: added to the variance before its square root.
        center: whether to add the learned offset `beta`.
        scale: whether to multiply by the learned `gamma`.
        beta_initializer, gamma_initializer: initializers of the two weights.
        beta_regularizer, gamma_regularizer: regularizers (`lamina.regularizers`) whose
            penalties training adds to the loss.
        beta_constraint, gamma_constraint: constraints (`lamina.constraints`) applied after
            each optimizer step.

    Output shape:
        The input's shape.

    Example:
        >>> import torch
        >>> from lamina.layers import GroupNormalization
        >>> GroupNormalization(groups=2)(torch.tensor([[1.0, 3.0, 0.0, 0.0]])).detach()
        tensor([[-0.9995,  0.9995,  0.0000,  0.0000]])
    """

    supports_masking = True

    gamma: torch.nn.Parameter | None
    beta: torch.nn.Parameter | None

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        *,
        beta_initializer: InitializerArg = "zeros",
        gamma_initializer: InitializerArg = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        if (
            isinstance(groups, bool)
            or not isinstance(groups, int)
            or not (groups > 0 or groups == -1)
        ):
            raise ValueError(
                f"GroupNormalization: expected a positive int (or -1, one group per feature) "
                f"for groups, received {groups!r}."
            )
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"GroupNormalization: expected an int for axis, received {axis!r}.")
        super().__init__(**kwargs)
        self.groups = groups
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self._feature_axis = 1
        self._groups = groups

    def build(self, input_shape: Shape) -> None:
        (self._feature_axis,) = _resolve_axes(self, self.axis, input_shape)
        features = input_shape[self._feature_axis]
        assert features is not None
        self._groups = features if self.groups == -1 else self.groups
        if features % self._groups:
            raise LayerError(
                f"GroupNormalization '{self.name}': groups={self.groups} must divide the "
                f"{features} features of axis {self.axis} (input shape "
                f"{input_shape}); pass a divisor of {features}, or -1 for one group per feature."
            )
        _add_gamma_beta(self, (features,), scale=self.scale, center=self.center)

    def check_input_shape(self, shapes: Any) -> None:
        _check_same(self, self._build_input_shape, shapes, [self._feature_axis])

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.float() if inputs.dtype in _LOW_PRECISION else inputs
        axis = self._feature_axis
        view = x if axis == 1 else x.movedim(axis, 1)
        if not self._channels_last_safe(view):
            view = view.contiguous()
        gamma, beta = _cast(self.gamma, x), _cast(self.beta, x)
        out = F.group_norm(view, self._groups, gamma, beta, self.epsilon)
        out = out if axis == 1 else out.movedim(1, axis)
        return out.to(inputs.dtype) if out.dtype != inputs.dtype else out

    def _channels_last_safe(self, view: torch.Tensor) -> bool:
        """Whether F.group_norm may take `view` as it is: a 4-D channels_last view (from a
        channels-last input, no copy) is the fast case, except that torch 2.13's CPU backward
        crashes on one that needs no gradient while gamma or beta does (a model's first
        layer), which gets a contiguous copy instead."""
        if view.is_contiguous():
            return True
        if view.ndim != 4 or not view.is_contiguous(memory_format=torch.channels_last):
            return False
        if view.device.type != "cpu" or view.requires_grad or not torch.is_grad_enabled():
            return True
        return not any(w is not None and w.requires_grad for w in (self.gamma, self.beta))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }

    def extra_repr(self) -> str:
        return f"groups={self.groups}, axis={self.axis}"


class UnitNormalization(Layer):
    """Scale each sample to unit L2 norm over `axis`: `x / sqrt(sum(x**2))` (zero stays zero).

    Args:
        axis: the axis or list of axes whose norm is made 1.

    Example:
        >>> import torch
        >>> from lamina.layers import UnitNormalization
        >>> UnitNormalization()(torch.tensor([[3.0, 4.0]]))
        tensor([[0.6000, 0.8000]])
    """

    supports_masking = True

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any) -> None:
        axis = _axes("UnitNormalization", axis)
        super().__init__(**kwargs)
        self.axis = axis
        self._axes: list[int] = []

    def build(self, input_shape: Shape) -> None:
        self._axes = _resolve_axes(self, self.axis, input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        rank = len(self._build_input_shape)
        if not isinstance(shapes, tuple) or len(shapes) != rank:
            raise self.incompatible_shape(self._build_input_shape, shapes, f"a {rank}-D input")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.float() if inputs.dtype in _LOW_PRECISION else inputs
        # 1e-12 bounds the inverse norm, as Keras does, so that zero vectors stay zero.
        inverse = torch.rsqrt(x.square().sum(dim=self._axes, keepdim=True)).clamp(max=1e12)
        out = x * inverse
        return out.to(inputs.dtype) if out.dtype != inputs.dtype else out

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
