"""Transposed convolutions: `Conv1DTranspose`, `Conv2DTranspose`, `Conv3DTranspose`.

The kernel keeps Keras's layout `(*kernel_size, filters, channels)`, which permutes to
torch's `conv_transpose` weight `(channels, filters, *kernel_size)` (see `convolution.py`
for the choice). Output lengths follow Keras:

- `output_padding=None`: `n * stride` with "same"; `n * stride + max(k - stride, 0)` with
  "valid" (`k` the dilated kernel size);
- otherwise `(n - 1) * stride + k - 2 * pad + output_padding` with `pad` 0 ("valid") or
  `k // 2` ("same").

Keras places the padding as the forward convolution's "same" does: `total // 2` on the left,
where `total = k - stride` without output padding and `2 * (k // 2) - output_padding` with
it. Torch pads symmetrically, so an odd `total` costs a crop of the last position.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from lamina.core.tensor import Shape
from lamina.layers.conv_utils import InitializerArg, IntOrTuple, standardize_tuple
from lamina.layers.convolution import BaseConv

_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def deconv_output_length(
    n: int | None, kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None
) -> int | None:
    if n is None:
        return None
    k = (kernel - 1) * dilation + 1
    if output_padding is None:
        return n * stride if padding == "same" else n * stride + max(k - stride, 0)
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * stride + k - 2 * pad + output_padding


class BaseConvTranspose(BaseConv):
    """What `Conv1DTranspose`, `Conv2DTranspose` and `Conv3DTranspose` share."""

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = 1,
        *,
        padding: str = "valid",
        output_padding: IntOrTuple | None = None,
        data_format: str | None = None,
        dilation_rate: IntOrTuple = 1,
        activation: str | Callable[..., Any] | None = None,
        use_bias: bool = True,
        kernel_initializer: InitializerArg = "glorot_uniform",
        bias_initializer: InitializerArg = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        name = type(self).__name__
        self.output_padding = (
            None
            if output_padding is None
            else standardize_tuple(name, "output_padding", output_padding, self.rank, zero=True)
        )
        if self.output_padding is not None:
            for op, s, d in zip(self.output_padding, self.strides, self.dilation_rate):
                if op >= max(s, d):
                    raise ValueError(
                        f"{name}: output_padding {self.output_padding} must be smaller than "
                        f"strides {self.strides} (or dilation_rate {self.dilation_rate}); "
                        "lower it."
                    )
        # Torch pads a transposed convolution by the same amount on both sides. Keras's length
        # is `(n - 1) * stride + k - total` for a `total` of its padding that does not depend
        # on `n`; its left part is `total // 2` (as in the forward convolution's "same"). Any
        # length torch's padding misses is torch's output padding or, if negative, cropped.
        self._transpose_padding: list[int] = []
        self._transpose_output_padding: list[int] = []
        crop: list[int] = []
        paddings = self.output_padding or (None,) * self.rank
        for kernel, s, d, op in zip(self.kernel_size, self.strides, self.dilation_rate, paddings):
            k = (kernel - 1) * d + 1
            total = k - deconv_output_length(1, kernel, s, d, self.padding, op)
            left = max(total, 0) // 2
            self._transpose_padding.append(left)
            self._transpose_output_padding.append(max(2 * left - total, 0))
            crop.append(max(total - 2 * left, 0))
        # The index that crops the spatial axes (channels-first); None if nothing is cropped.
        self._crop: tuple[Any, ...] | None = (
            (Ellipsis, *(slice(0, -c if c else None) for c in crop)) if any(crop) else None
        )

    def _check_spatial(self, spatial: Any, input_shape: Shape) -> None:
        pass  # any length works

    def _output_lengths(self, spatial: Any) -> list[int | None]:
        paddings = self.output_padding or (None,) * self.rank
        return [
            deconv_output_length(n, k, s, d, self.padding, op)
            for n, k, s, d, op in zip(
                spatial, self.kernel_size, self.strides, self.dilation_rate, paddings
            )
        ]

    def build(self, input_shape: Shape) -> None:
        channels = self._channels(input_shape)
        self._built_channels = channels
        shape = (*self.kernel_size, self.filters, channels)
        self.kernel = self.add_weight(
            "kernel",
            shape,
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = self._bias(self.filters)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.permute(self._to_first) if self._channels_last else inputs
        y = _CONV_TRANSPOSE[self.rank](
            x,
            self.kernel.permute(self._kernel_order),
            self.bias,
            self.strides,
            self._transpose_padding,
            self._transpose_output_padding,
            1,
            self.dilation_rate,
        )
        if self._crop is not None:
            y = y[self._crop]
        if self._channels_last:
            y = y.permute(self._to_last)
        return y if self._activate is None else self._activate(y)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["groups"]
        return {**config, "output_padding": self.output_padding}


class Conv1DTranspose(BaseConvTranspose):
    """A 1-D transposed convolution ("deconvolution"): the gradient of a `Conv1D`.

    Args:
        filters: the number of output channels.
        kernel_size: the window's length.
        strides: the upsampling factor.
        padding: `"valid"` or `"same"`.
        output_padding: extra length at the end of the output (each below `strides`), or
            `None` to take it from Keras's formula (see the module's docstring).
        data_format, dilation_rate, activation, use_bias, kernel_initializer,
            bias_initializer: as in `Conv1D`; the kernel is `(kernel_size, filters, channels)`.
        kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
            bias_constraint: as in `Conv1D`.

    Output shape:
        `(batch, new_steps, filters)`.

    Example:
        >>> import torch
        >>> from lamina.layers import Conv1DTranspose
        >>> Conv1DTranspose(4, 3, strides=2, padding="same")(torch.ones(2, 5, 3)).shape
        torch.Size([2, 10, 4])
    """

    rank = 1


class Conv2DTranspose(BaseConvTranspose):
    """A 2-D transposed convolution; arguments as `Conv1DTranspose` with tuples of 2.

    The kernel is `(kh, kw, filters, channels)`, Keras's layout.

    Output shape:
        `(batch, new_rows, new_cols, filters)`.

    Example:
        >>> import torch
        >>> from lamina.layers import Conv2DTranspose
        >>> Conv2DTranspose(8, 3, strides=2, padding="same")(torch.ones(2, 7, 7, 4)).shape
        torch.Size([2, 14, 14, 8])
    """

    rank = 2


class Conv3DTranspose(BaseConvTranspose):
    """A 3-D transposed convolution; arguments as `Conv1DTranspose` with tuples of 3.

    Output shape:
        `(batch, new_dim1, new_dim2, new_dim3, filters)`.

    Example:
        >>> import torch
        >>> from lamina.layers import Conv3DTranspose
        >>> Conv3DTranspose(2, 2, strides=2)(torch.ones(1, 2, 2, 2, 3)).shape
        torch.Size([1, 4, 4, 4, 2])
    """

    rank = 3
