"""Depthwise and separable convolutions: `DepthwiseConv1D/2D`, `SeparableConv1D/2D`.

A depthwise convolution convolves each input channel with `depth_multiplier` filters of its
own (torch's `groups=channels`); output channel `c * depth_multiplier + m` is channel `c`'s
`m`-th filter, as in Keras. A separable convolution follows it with a 1x1 convolution. The
kernels keep Keras's layouts, `(*kernel_size, channels, depth_multiplier)` and
`(*ones, channels * depth_multiplier, filters)`, as views on each call (see `convolution.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lamina import activations, constraints, initializers, regularizers
from lamina.core.tensor import Shape
from lamina.layers.conv_utils import InitializerArg, IntOrTuple
from lamina.layers.convolution import BaseConv


def _check_depth_multiplier(layer: str, value: Any) -> int:
    if not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{layer}: expected a positive int for depth_multiplier, received {value!r}."
        )
    return value


class BaseDepthwiseConv(BaseConv):
    """What `DepthwiseConv1D` and `DepthwiseConv2D` share."""

    def __init__(
        self,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = 1,
        *,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: IntOrTuple = 1,
        activation: str | Callable[..., Any] | None = None,
        use_bias: bool = True,
        depthwise_initializer: InitializerArg = "glorot_uniform",
        bias_initializer: InitializerArg = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        depth = _check_depth_multiplier(name, depth_multiplier)
        super().__init__(
            None,  # type: ignore[arg-type]
            kernel_size,
            strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.depth_multiplier = depth
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def _output_channels(self, channels: int) -> int:
        return channels * self.depth_multiplier

    def build(self, input_shape: Shape) -> None:
        channels = self._channels(input_shape)
        self._built_channels = channels
        shape = (*self.kernel_size, channels, self.depth_multiplier)
        self.kernel = self.add_weight(
            "kernel",
            shape,
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )
        self.bias = self._bias(channels * self.depth_multiplier)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.permute(self._to_first) if self._channels_last else inputs
        padding = self._torch_padding
        if padding is None:
            x, padding = self._pad(x)
        # (*k, C, M) -> (*k, 1, C * M) -> (C * M, 1, *k): output channel c * M + m.
        kernel = self.kernel.reshape(*self.kernel_size, 1, -1).permute(self._kernel_order)
        y = self._conv(
            x, kernel, self.bias, self.strides, padding, self.dilation_rate, self._built_channels
        )
        if self._channels_last:
            y = y.permute(self._to_last)
        return y if self._activate is None else self._activate(y)

    def get_config(self) -> dict[str, Any]:
        return {
            **super(BaseConv, self).get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "depth_multiplier": self.depth_multiplier,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **self._regularizer_config("depthwise", "bias"),
        }

    def extra_repr(self) -> str:
        text = f"kernel_size={self.kernel_size}, depth_multiplier={self.depth_multiplier}"
        return text + (f", padding={self.padding!r}" if self.padding != "valid" else "")


class BaseSeparableConv(BaseConv):
    """What `SeparableConv1D` and `SeparableConv2D` share."""

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = 1,
        *,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: IntOrTuple = 1,
        depth_multiplier: int = 1,
        activation: str | Callable[..., Any] | None = None,
        use_bias: bool = True,
        depthwise_initializer: InitializerArg = "glorot_uniform",
        pointwise_initializer: InitializerArg = "glorot_uniform",
        bias_initializer: InitializerArg = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        depth = _check_depth_multiplier(name, depth_multiplier)
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.depth_multiplier = depth
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape: Shape) -> None:
        channels = self._channels(input_shape)
        self._built_channels = channels
        middle = channels * self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel",
            (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel",
            (*(1,) * self.rank, middle, self.filters),
            self.pointwise_initializer,
            regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
        )
        self.bias = self._bias(self.filters)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        conv = self._conv
        x = inputs.permute(self._to_first) if self._channels_last else inputs
        padding = self._torch_padding
        if padding is None:
            x, padding = self._pad(x)
        depthwise = self.depthwise_kernel.reshape(*self.kernel_size, 1, -1)
        x = conv(
            x,
            depthwise.permute(self._kernel_order),
            None,
            self.strides,
            padding,
            self.dilation_rate,
            self._built_channels,
        )
        y = conv(x, self.pointwise_kernel.permute(self._kernel_order), self.bias)
        if self._channels_last:
            y = y.permute(self._to_last)
        return y if self._activate is None else self._activate(y)

    def get_config(self) -> dict[str, Any]:
        return {
            **super(BaseConv, self).get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "depth_multiplier": self.depth_multiplier,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **self._regularizer_config("depthwise", "pointwise", "bias"),
        }


class DepthwiseConv1D(BaseDepthwiseConv):
    """A 1-D depthwise convolution: each channel convolved with its own filters.

    Args:
        kernel_size: the window's length.
        strides: the step between windows.
        padding: `"valid"` or `"same"` (Keras's).
        depth_multiplier: filters per input channel; the output has `channels *
            depth_multiplier` channels.
        data_format, dilation_rate, activation, use_bias: as in `Conv1D`.
        depthwise_initializer: initializer of the `(kernel_size, channels, depth_multiplier)`
            kernel (named `kernel`, as in Keras 3).
        bias_initializer: initializer of the bias.
        depthwise_regularizer, bias_regularizer, activity_regularizer, depthwise_constraint,
            bias_constraint: as `kernel_regularizer`, ... in `Conv1D`.

    Output shape:
        `(batch, new_steps, channels * depth_multiplier)`.

    Example:
        >>> import torch
        >>> from lamina.layers import DepthwiseConv1D
        >>> DepthwiseConv1D(3, depth_multiplier=2)(torch.ones(2, 10, 3)).shape
        torch.Size([2, 8, 6])
    """

    rank = 1


class DepthwiseConv2D(BaseDepthwiseConv):
    """A 2-D depthwise convolution; arguments as `DepthwiseConv1D` with tuples of 2.

    Output shape:
        `(batch, new_rows, new_cols, channels * depth_multiplier)`.

    Example:
        >>> import torch
        >>> from lamina.layers import DepthwiseConv2D
        >>> DepthwiseConv2D(3, padding="same")(torch.ones(2, 8, 8, 4)).shape
        torch.Size([2, 8, 8, 4])
    """

    rank = 2


class SeparableConv1D(BaseSeparableConv):
    """A depthwise 1-D convolution followed by a pointwise (1x1) one mixing the channels.

    Args:
        filters: the number of output channels.
        kernel_size, strides, padding, data_format, dilation_rate: of the depthwise step, as
            in `DepthwiseConv1D`.
        depth_multiplier: depthwise filters per input channel.
        activation, use_bias: as in `Conv1D`; the bias is added after the pointwise step.
        depthwise_initializer, pointwise_initializer, bias_initializer: initializers of the
            `(kernel_size, channels, depth_multiplier)` and `(1, channels * depth_multiplier,
            filters)` kernels and of the bias.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
            depthwise_constraint, pointwise_constraint, bias_constraint: as
            `kernel_regularizer`, ... in `Conv1D`.

    Output shape:
        `(batch, new_steps, filters)`.

    Example:
        >>> import torch
        >>> from lamina.layers import SeparableConv1D
        >>> SeparableConv1D(4, 3, padding="same")(torch.ones(2, 10, 3)).shape
        torch.Size([2, 10, 4])
    """

    rank = 1


class SeparableConv2D(BaseSeparableConv):
    """A depthwise 2-D convolution followed by a pointwise one; arguments as
    `SeparableConv1D` with tuples of 2.

    Output shape:
        `(batch, new_rows, new_cols, filters)`.

    Example:
        >>> import torch
        >>> from lamina.layers import SeparableConv2D
        >>> SeparableConv2D(8, 3, strides=2)(torch.ones(2, 9, 9, 3)).shape
        torch.Size([2, 4, 4, 8])
    """

    rank = 2
