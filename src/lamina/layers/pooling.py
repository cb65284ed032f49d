"""Pooling layers with Keras's names: `MaxPooling1D/2D/3D`, `AveragePooling1D/2D/3D`,
`GlobalMaxPooling1D/2D/3D`, `GlobalAveragePooling1D/2D/3D`, and the Keras 2 aliases
(`MaxPool2D`, `AvgPool2D`, `GlobalAvgPool2D`, ...).

Channels-last inputs are permuted to channels-first views whose memory is torch's
`channels_last` format, on which torch's pooling runs natively (see `convolution.py`).
"same" padding is Keras's: `ceil(n / strides)` outputs, any odd padded value on the right;
max pooling never picks a padded value, and average pooling divides by the number of real
values in each window (padded zeros do not count). That is Keras's documented rule, which its
TensorFlow and JAX backends follow; Keras 3's torch backend instead replicates the edge values
where the padding is uneven, which gives other means for windows of 3 or more.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lamina.core.layer import Layer, LayerError, format_shape
from lamina.core.shape_inference import Spec
from lamina.core.tensor import Shape
from lamina.layers.conv_utils import (
    SPATIAL_AXES,
    IntOrTuple,
    pad_for_torch,
    same_pads,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
)

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _expected(rank: int, channels_last: bool) -> tuple[Any, ...]:
    spatial = SPATIAL_AXES[rank]
    return (None, *spatial, "channels") if channels_last else (None, "channels", *spatial)


class BasePooling(Layer):
    """What the max and average poolings share; `rank` is the number of spatial axes."""

    rank = 2
    average = False

    def __init__(
        self,
        pool_size: IntOrTuple = 2,
        strides: IntOrTuple | None = None,
        *,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        super().__init__(**kwargs)
        self.pool_size = standardize_tuple(name, "pool_size", pool_size, self.rank)
        self.strides = (
            self.pool_size
            if strides is None
            else standardize_tuple(name, "strides", strides, self.rank)
        )
        self.padding = standardize_padding(name, padding, ("valid", "same"))
        self.data_format = standardize_data_format(name, data_format)
        self._channels_last = self.data_format == "channels_last"
        rank = self.rank
        self._to_first = (0, rank + 1, *range(1, rank + 1))
        self._to_last = (0, *range(2, rank + 2), 1)
        self._ones = (1,) * rank

    def build(self, input_shape: Shape) -> None:
        self.check_input_shape(input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        rank = self.rank
        if not isinstance(shapes, tuple) or len(shapes) != rank + 2:
            raise self.incompatible_shape(
                _expected(rank, self._channels_last),
                shapes,
                f"{self.data_format}; {type(self).__name__} takes {rank + 2}-D inputs",
            )
        if self.padding == "valid":
            spatial = shapes[1:-1] if self._channels_last else shapes[2:]
            if any(n is not None and n < k for n, k in zip(spatial, self.pool_size)):
                raise LayerError(
                    f"{type(self).__name__} '{self.name}': input shape {format_shape(shapes)} "
                    f"is smaller than pool_size {self.pool_size} with padding='valid'; use "
                    "padding='same' or a larger input."
                )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_input_shape(input_shape)
        spatial = input_shape[1:-1] if self._channels_last else input_shape[2:]
        lengths = [
            None if n is None else (-(-n // s) if self.padding == "same" else (n - k) // s + 1)
            for n, k, s in zip(spatial, self.pool_size, self.strides)
        ]
        if self._channels_last:
            return (input_shape[0], *lengths, input_shape[-1])
        return (input_shape[0], input_shape[1], *lengths)

    def _infer_output_specs(self, inputs: Any, kwargs: dict[str, Any]) -> Any:
        # Exact, unlike a run on placeholders for unknown spatial sizes (see BaseConv).
        if not type(self).call.__module__.startswith("lamina.layers."):
            return super()._infer_output_specs(inputs, kwargs)
        return Spec(self.compute_output_shape(inputs.shape), inputs.dtype)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.permute(self._to_first) if self._channels_last else inputs
        if self.padding == "valid":
            y = self._pool(x, 0)
        else:
            pads = same_pads(x.shape[2:], self.pool_size, self.strides, self._ones)
            y = self._pool_same(x, pads)
        return y.permute(self._to_last) if self._channels_last else y

    def _pool(self, x: torch.Tensor, padding: Any) -> torch.Tensor:
        if self.average:
            return _AVG[self.rank](
                x, self.pool_size, self.strides, padding, count_include_pad=False
            )
        return _MAX[self.rank](x, self.pool_size, self.strides, padding)

    def _pool_same(self, x: torch.Tensor, pads: list[tuple[int, int]]) -> torch.Tensor:
        if not self.average:
            x, padding = pad_for_torch(x, pads, float("-inf"))
            return self._pool(x, padding)
        if all(left == right for left, right in pads):
            return self._pool(x, tuple(left for left, _ in pads))
        # Uneven padding: torch's count_include_pad=False only knows its own symmetric padding,
        # so divide the zero-padded window means by the share of real values in each window.
        padded, _ = pad_for_torch(x, pads)
        ones, _ = pad_for_torch(x.new_ones((1, 1, *x.shape[2:])), pads)
        means = _AVG[self.rank](padded, self.pool_size, self.strides)
        share = _AVG[self.rank](ones, self.pool_size, self.strides)
        return means / share

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }

    def extra_repr(self) -> str:
        text = f"pool_size={self.pool_size}"
        if self.strides != self.pool_size:
            text += f", strides={self.strides}"
        return text + (f", padding={self.padding!r}" if self.padding != "valid" else "")


class MaxPooling1D(BasePooling):
    """The maximum over windows of `pool_size` steps, every `strides` steps.

    Args:
        pool_size: the window's length.
        strides: the step between windows; `None` means `pool_size`.
        padding: `"valid"` or `"same"` (Keras's: padded values are never the maximum).
        data_format: `"channels_last"` (`(batch, steps, channels)`), `"channels_first"`, or
            `None` for the default (channels-last).

    Output shape:
        `(batch, pooled_steps, channels)`.

    Example:
        >>> import torch
        >>> from lamina.layers import MaxPooling1D
        >>> MaxPooling1D()(torch.arange(8.0).reshape(1, 4, 2)).tolist()
        [[[2.0, 3.0], [6.0, 7.0]]]
    """

    rank = 1


class MaxPooling2D(BasePooling):
    """The maximum over `pool_size` windows of images; arguments as `MaxPooling1D` with
    tuples of 2.

    Output shape:
        `(batch, pooled_rows, pooled_cols, channels)`.

    Example:
        >>> import torch
        >>> from lamina.layers import MaxPooling2D
        >>> MaxPooling2D(2, padding="same")(torch.ones(2, 5, 5, 3)).shape
        torch.Size([2, 3, 3, 3])
    """

    rank = 2


class MaxPooling3D(BasePooling):
    """The maximum over `pool_size` windows of volumes; arguments as `MaxPooling1D` with
    tuples of 3.

    Example:
        >>> import torch
        >>> from lamina.layers import MaxPooling3D
        >>> MaxPooling3D()(torch.ones(1, 4, 4, 4, 2)).shape
        torch.Size([1, 2, 2, 2, 2])
    """

    rank = 3


class AveragePooling1D(BasePooling):
    """The mean over windows of `pool_size` steps, every `strides` steps.

    Args:
        pool_size: the window's length (required, as in Keras 3).
        strides: the step between windows; `None` means `pool_size`.
        padding: `"valid"` or `"same"` (Keras's: padded zeros are not counted in the mean).
        data_format: `"channels_last"`, `"channels_first"`, or `None` for the default.

    Output shape:
        `(batch, pooled_steps, channels)`.

    Example:
        >>> import torch
        >>> from lamina.layers import AveragePooling1D
        >>> AveragePooling1D(2, padding="same")(torch.tensor([[[1.0], [3.0], [5.0]]])).tolist()
        [[[2.0], [5.0]]]
    """

    rank = 1
    average = True

    def __init__(
        self,
        pool_size: IntOrTuple,
        strides: IntOrTuple | None = None,
        *,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding=padding, data_format=data_format, **kwargs)


class AveragePooling2D(AveragePooling1D):
    """The mean over `pool_size` windows of images; arguments as `AveragePooling1D` with
    tuples of 2.

    Example:
        >>> import torch
        >>> from lamina.layers import AveragePooling2D
        >>> AveragePooling2D(2)(torch.ones(2, 4, 4, 3)).shape
        torch.Size([2, 2, 2, 3])
    """

    rank = 2


class AveragePooling3D(AveragePooling1D):
    """The mean over `pool_size` windows of volumes; arguments as `AveragePooling1D` with
    tuples of 3.

    Example:
        >>> import torch
        >>> from lamina.layers import AveragePooling3D
        >>> AveragePooling3D(2)(torch.ones(1, 4, 4, 4, 2)).shape
        torch.Size([1, 2, 2, 2, 2])
    """

    rank = 3


class BaseGlobalPooling(Layer):
    """What the global poolings share: a reduction over all spatial axes."""

    rank = 2

    def __init__(
        self, data_format: str | None = None, *, keepdims: bool = False, **kwargs: Any
    ) -> None:
        name = type(self).__name__
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(name, data_format)
        self.keepdims = bool(keepdims)
        self._channels_last = self.data_format == "channels_last"
        first = 1 if self._channels_last else 2
        self._axes = tuple(range(first, first + self.rank))

    def build(self, input_shape: Shape) -> None:
        self.check_input_shape(input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        if not isinstance(shapes, tuple) or len(shapes) != self.rank + 2:
            raise self.incompatible_shape(
                _expected(self.rank, self._channels_last),
                shapes,
                f"{self.data_format}; {type(self).__name__} takes {self.rank + 2}-D inputs",
            )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_input_shape(input_shape)
        if self.keepdims:
            return tuple(1 if i in self._axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in self._axes)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(BaseGlobalPooling):
    """The maximum over all steps: `(batch, steps, channels)` becomes `(batch, channels)`.

    Args:
        data_format: `"channels_last"`, `"channels_first"`, or `None` for the default.
        keepdims: keep the reduced axes with length 1.

    Example:
        >>> import torch
        >>> from lamina.layers import GlobalMaxPooling1D
        >>> GlobalMaxPooling1D()(torch.tensor([[[1.0, 5.0], [3.0, 2.0]]])).tolist()
        [[3.0, 5.0]]
    """

    rank = 1

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.amax(inputs, dim=self._axes, keepdim=self.keepdims)


class GlobalMaxPooling2D(GlobalMaxPooling1D):
    """The maximum over rows and columns: `(batch, rows, cols, channels)` becomes
    `(batch, channels)`; arguments as `GlobalMaxPooling1D`."""

    rank = 2


class GlobalMaxPooling3D(GlobalMaxPooling1D):
    """The maximum over the three spatial axes; arguments as `GlobalMaxPooling1D`."""

    rank = 3


class GlobalAveragePooling1D(BaseGlobalPooling):
    """The mean over all steps: `(batch, steps, channels)` becomes `(batch, channels)`.

    Args:
        data_format: `"channels_last"`, `"channels_first"`, or `None` for the default.
        keepdims: keep the reduced axes with length 1.

    Call arguments:
        inputs: a 3-D tensor.
        mask: optional `(batch, steps)` booleans; masked steps are left out of the mean.

    Example:
        >>> import torch
        >>> from lamina.layers import GlobalAveragePooling1D
        >>> GlobalAveragePooling1D()(torch.tensor([[[1.0, 5.0], [3.0, 2.0]]])).tolist()
        [[2.0, 3.5]]
    """

    rank = 1

    def call(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return torch.mean(inputs, dim=self._axes, keepdim=self.keepdims)
        weights = mask.to(inputs.dtype).unsqueeze(-1 if self._channels_last else 1)
        total = torch.sum(inputs * weights, dim=self._axes, keepdim=self.keepdims)
        return total / torch.sum(weights, dim=self._axes, keepdim=self.keepdims)


class GlobalAveragePooling2D(BaseGlobalPooling):
    """The mean over rows and columns: `(batch, rows, cols, channels)` becomes
    `(batch, channels)`; arguments as `GlobalAveragePooling1D` (without a mask).

    Example:
        >>> import torch
        >>> from lamina.layers import GlobalAveragePooling2D
        >>> GlobalAveragePooling2D(keepdims=True)(torch.ones(2, 4, 4, 3)).shape
        torch.Size([2, 1, 1, 3])
    """

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.mean(inputs, dim=self._axes, keepdim=self.keepdims)


class GlobalAveragePooling3D(GlobalAveragePooling2D):
    """The mean over the three spatial axes; arguments as `GlobalAveragePooling1D`."""

    rank = 3


# Keras 2's names, which Keras 3 keeps.
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
MaxPool3D = MaxPooling3D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
AvgPool3D = AveragePooling3D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalAvgPool3D = GlobalAveragePooling3D
