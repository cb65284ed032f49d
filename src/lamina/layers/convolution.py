"""Convolution layers with Keras's names and arguments: `Conv1D`, `Conv2D`, `Conv3D`.

Transposed, depthwise and separable convolutions are in `convolution_transpose.py` and
`depthwise.py`; they and the poolings share the argument checks and the padding arithmetic of
`conv_utils.py`.

Layout. Keras is channels-last, torch channels-first. An `(N, H, W, C)` input permuted to
`(N, C, H, W)` is a view whose memory is torch's `channels_last` format, on which torch's
convolutions and poolings run natively; their output is `channels_last` too, so permuting it
back gives an `(N, H, W, C)`-contiguous tensor. Channels-last therefore costs no copy of the
activations, unlike Keras 3 on torch, which transposes on every call.

Kernels are stored in Keras's layout (Conv2D: `(kh, kw, in, out)`) and permuted to torch's
`(out, in, kh, kw)` view on each call. Measured against storing torch's layout (and
transposing in `get_weights`/`set_weights`), forward and backward of a batch of 128 on one CPU
thread, best of 30, 3x3 kernels: 28x28x1 -> 32 took 3.17-3.54 ms against 3.16-3.25 ms, and
13x13x32 -> 64 took 7.05-7.61 ms against 7.04-7.68 ms (NCHW-contiguous input to the same
torch call: 3.12-3.32 and 7.14-7.26 ms): the difference is the copy of a kernel of a few
thousand values, lost in the noise. Keras's layout keeps `get_weights`/`set_weights`, the
initializers' fans, constraints with Keras's `axis` and saved files identical to Keras.
End to end, `benchmarks/cnn_fit.py` (the keras.io MNIST convnet, `fit` on channels-last data)
runs at the speed of the same model hand-written channels-first in torch (ratio 0.93 to 1.05
over runs), and 1.6 times faster than Keras 3 on torch.

"same" padding is Keras's: with strides > 1 or an even kernel the padding can be larger on the
right (bottom, back) than on the left; torch's own padding is symmetric, so those cases pad
with `F.pad` first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lamina import activations, constraints, initializers, regularizers
from lamina.core.layer import Layer, LayerError, format_shape
from lamina.core.shape_inference import Spec
from lamina.core.tensor import Shape
from lamina.layers.conv_utils import (
    SPATIAL_AXES,
    InitializerArg,
    IntOrTuple,
    conv_output_length,
    pad_for_torch,
    same_pads,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
    static_pads,
)

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class BaseConv(Layer):
    """What `Conv1D`, `Conv2D` and `Conv3D` share; `rank` is the number of spatial axes.

    The other convolutions reuse its argument checks, layout handling and shape checks.
    """

    rank = 2
    paddings: tuple[str, ...] = ("valid", "same")

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = 1,
        *,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: IntOrTuple = 1,
        groups: int = 1,
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
        name = type(self).__name__
        if filters is not None and (not isinstance(filters, int) or filters <= 0):
            raise ValueError(f"{name}: expected a positive int for filters, received {filters!r}.")
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"{name}: expected a positive int for groups, received {groups!r}.")
        if filters is not None and filters % groups:
            raise ValueError(
                f"{name}: filters ({filters}) must be a multiple of groups ({groups}); change "
                "one of them."
            )
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = filters
        self.kernel_size = standardize_tuple(name, "kernel_size", kernel_size, self.rank)
        self.strides = standardize_tuple(name, "strides", strides, self.rank)
        self.padding = standardize_padding(name, padding, self.paddings)
        self.data_format = standardize_data_format(name, data_format)
        self.dilation_rate = standardize_tuple(name, "dilation_rate", dilation_rate, self.rank)
        self.groups = groups
        self.activation = activations.get(activation)
        self._activate = None if self.activation is activations.linear else self.activation
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._channels_last = self.data_format == "channels_last"
        self._conv = _CONV[self.rank]
        rank = self.rank
        # (N, *spatial, C) <-> (N, C, *spatial); a Keras kernel (*k, in, out) -> (out, in, *k).
        self._to_first = (0, rank + 1, *range(1, rank + 1))
        self._to_last = (0, *range(2, rank + 2), 1)
        self._kernel_order = (rank + 1, rank, *range(rank))
        self._static_pads = static_pads(
            self.padding, self.kernel_size, self.strides, self.dilation_rate
        )
        # torch's own padding, when it does all of it: worked out once, not on each call.
        self._torch_padding: tuple[int, ...] | None = None
        if self._static_pads is not None and all(a == b for a, b in self._static_pads):
            self._torch_padding = tuple(left for left, _ in self._static_pads)

    # ------------------------------------------------------------------ shapes
    def _expected_shape(self, channels: Any = "channels") -> tuple[Any, ...]:
        spatial = SPATIAL_AXES[self.rank]
        if self._channels_last:
            return (None, *spatial, channels)
        return (None, channels, *spatial)

    def _channels(self, input_shape: Any) -> int:
        """The input's channel count, after checking the input's rank and sizes."""
        rank = self.rank
        if not isinstance(input_shape, tuple) or len(input_shape) != rank + 2:
            received = len(input_shape) if isinstance(input_shape, tuple) else 0
            hint = (
                "; add a channels axis, e.g. with Reshape"
                if received == rank + 1
                else f"; {type(self).__name__} takes {rank + 2}-D inputs"
            )
            raise self.incompatible_shape(
                self._expected_shape(), input_shape, f"{self.data_format}{hint}"
            )
        channels = input_shape[-1 if self._channels_last else 1]
        if channels is None:
            raise self.incompatible_shape(
                self._expected_shape(), input_shape, "the channels axis must be known"
            )
        spatial = input_shape[1:-1] if self._channels_last else input_shape[2:]
        self._check_spatial(spatial, input_shape)
        return int(channels)

    def _check_spatial(self, spatial: Sequence[int | None], input_shape: Shape) -> None:
        if self.padding != "valid":
            return
        for n, k, d in zip(spatial, self.kernel_size, self.dilation_rate):
            if n is not None and n < (k - 1) * d + 1:
                raise LayerError(
                    f"{type(self).__name__} '{self.name}': input shape "
                    f"{format_shape(input_shape)} is smaller than the kernel "
                    f"{self.kernel_size} (dilation {self.dilation_rate}) with padding='valid'; "
                    "use padding='same' or a larger input."
                )

    def check_input_shape(self, shapes: Any) -> None:
        channels = self._channels(shapes)
        if channels != self._built_channels:
            raise self.incompatible_shape(
                self._expected_shape(self._built_channels), shapes, "channels axis"
            )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = input_shape[1:-1] if self._channels_last else input_shape[2:]
        lengths = self._output_lengths(spatial)
        channels = self._output_channels(self._channels(input_shape))
        if self._channels_last:
            return (input_shape[0], *lengths, channels)
        return (input_shape[0], channels, *lengths)

    def _infer_output_specs(self, inputs: Any, kwargs: dict[str, Any]) -> Any:
        # The arithmetic is exact, and a run on placeholders cannot tell a spatial size that
        # is unknown from one that the placeholders happen to map to the same length. A
        # subclass with a call() of its own is run, as any layer.
        if not type(self).call.__module__.startswith("lamina.layers."):
            return super()._infer_output_specs(inputs, kwargs)
        return Spec(self.compute_output_shape(inputs.shape), inputs.dtype)

    def _output_lengths(self, spatial: Sequence[int | None]) -> list[int | None]:
        return [
            conv_output_length(n, k, s, d, self.padding)
            for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        ]

    def _output_channels(self, channels: int) -> int:
        return self.filters

    # ------------------------------------------------------------------ weights and call
    def build(self, input_shape: Shape) -> None:
        channels = self._channels(input_shape)
        if channels % self.groups:
            raise self.incompatible_shape(
                self._expected_shape(),
                input_shape,
                f"channels must be a multiple of groups={self.groups}",
            )
        self._built_channels = channels
        shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.kernel = self.add_weight(
            "kernel",
            shape,
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = self._bias(self.filters)

    def _bias(self, size: int) -> torch.nn.Parameter | None:
        if not self.use_bias:
            return None
        return self.add_weight(
            "bias",
            (size,),
            self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """`x`, padded with `F.pad` where torch's symmetric padding cannot do it, and the
        padding to give torch (when `_torch_padding` does not say it all)."""
        pads = self._static_pads or same_pads(
            x.shape[2:], self.kernel_size, self.strides, self.dilation_rate
        )
        return pad_for_torch(x, pads)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.permute(self._to_first) if self._channels_last else inputs
        padding = self._torch_padding
        if padding is None:
            x, padding = self._pad(x)
        kernel = self.kernel.permute(self._kernel_order)
        y = self._conv(x, kernel, self.bias, self.strides, padding, self.dilation_rate, self.groups)
        if self._channels_last:
            y = y.permute(self._to_last)
        return y if self._activate is None else self._activate(y)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **self._regularizer_config("kernel", "bias"),
        }

    def _regularizer_config(self, *weights: str) -> dict[str, Any]:
        """`{weight}_regularizer`, `activity_regularizer`, `{weight}_constraint`: Keras's keys."""
        config = {
            f"{w}_regularizer": regularizers.serialize(getattr(self, f"{w}_regularizer"))
            for w in weights
        }
        config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        for w in weights:
            config[f"{w}_constraint"] = constraints.serialize(getattr(self, f"{w}_constraint"))
        return config

    def extra_repr(self) -> str:
        text = f"{self.filters}, kernel_size={self.kernel_size}"
        if any(s != 1 for s in self.strides):
            text += f", strides={self.strides}"
        if self.padding != "valid":
            text += f", padding={self.padding!r}"
        activation = activations.serialize(self.activation)
        return text + (f", activation={activation!r}" if activation != "linear" else "")


class Conv1D(BaseConv):
    """A 1-D convolution (temporal convolution) over `(batch, steps, channels)` inputs.

    Args:
        filters: the number of output channels.
        kernel_size: the window's length (an int or a 1-tuple).
        strides: the step between windows.
        padding: `"valid"` (no padding), `"same"` (`ceil(steps / strides)` outputs, Keras's
            padding) or `"causal"` (padded on the left only, so output `t` sees inputs `<= t`).
        data_format: `"channels_last"` (`(batch, steps, channels)`), `"channels_first"`, or
            `None` for the default (channels-last).
        dilation_rate: the spacing between the kernel's taps.
        groups: split the input channels into this many groups, each convolved with
            `filters / groups` filters.
        activation: an activation name or function; `None` for none.
        use_bias: whether to add a bias.
        kernel_initializer: initializer of the `(kernel_size, channels / groups, filters)`
            kernel (Keras's layout).
        bias_initializer: initializer of the bias.
        kernel_regularizer, bias_regularizer: regularizers (`lamina.regularizers`, or their
            names) whose penalties training adds to the loss.
        activity_regularizer: a regularizer of the output.
        kernel_constraint, bias_constraint: constraints (`lamina.constraints`) applied to the
            weights after each training step; axes count in Keras's kernel layout.

    Call arguments:
        inputs: a tensor of shape `(batch, steps, channels)` (channels-last).

    Output shape:
        `(batch, new_steps, filters)`.

    Example:
        >>> import torch
        >>> from lamina.layers import Conv1D
        >>> Conv1D(4, 3, padding="causal")(torch.ones(2, 10, 3)).shape
        torch.Size([2, 10, 4])
    """

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(BaseConv):
    """A 2-D convolution over images, `(batch, rows, cols, channels)` by default.

    Args: those of `Conv1D` (without `"causal"` padding), with tuples of 2 for
    `kernel_size`, `strides` and `dilation_rate`; the kernel is `(kh, kw, channels / groups,
    filters)`, as in Keras, so Keras's weights load with `set_weights`.

    Output shape:
        `(batch, new_rows, new_cols, filters)`.

    Example:
        >>> import torch
        >>> from lamina.layers import Conv2D
        >>> Conv2D(8, 3, strides=2, padding="same")(torch.ones(2, 28, 28, 1)).shape
        torch.Size([2, 14, 14, 8])
    """

    rank = 2


class Conv3D(BaseConv):
    """A 3-D convolution over volumes, `(batch, dim1, dim2, dim3, channels)` by default.

    Args: those of `Conv2D` with tuples of 3; the kernel is `(k1, k2, k3, channels / groups,
    filters)`.

    Output shape:
        `(batch, new_dim1, new_dim2, new_dim3, filters)`.

    Example:
        >>> import torch
        >>> from lamina.layers import Conv3D
        >>> Conv3D(2, 3)(torch.ones(1, 5, 5, 5, 1)).shape
        torch.Size([1, 3, 3, 3, 2])
    """

    rank = 3
