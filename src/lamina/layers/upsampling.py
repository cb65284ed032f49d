"""`UpSampling1D/2D/3D`: nearest (one expand-and-reshape) and, in 2D, bilinear, with Keras's
results; they share `_Spatial` with the other reshaping layers (`reshaping.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lamina.layers.reshaping import _sizes, _Spatial, standardize_data_format


class _UpSampling(_Spatial):
    interpolation = "nearest"

    def _setup(self, size: Any, data_format: str | None) -> None:
        name = type(self).__name__
        self._size = _sizes(name, size, self.rank)
        self.data_format = standardize_data_format(name, data_format)

    def _output_size(self, index: int, size: int) -> int:
        return size * self._size[index]

    def _nearest(self, inputs: torch.Tensor) -> torch.Tensor:
        # Each spatial axis of size n becomes (n, 1), expanded to (n, factor) and merged: one
        # copy, and exact (F.interpolate's nearest index rounds in floating point).
        shape = list(inputs.shape)
        view, expanded, final = [], [], []
        for axis, size in enumerate(shape):
            view.append(size)
            expanded.append(size)
            if axis in self._spatial_axes():
                factor = self._size[axis - self._spatial_axes()[0]]
                view.append(1)
                expanded.append(factor)
                final.append(size * factor)
            else:
                final.append(size)
        return inputs.reshape(view).expand(expanded).reshape(final)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._nearest(inputs)


class UpSampling1D(_UpSampling):
    """Repeat each step `size` times: `(batch, steps, channels)` to
    `(batch, steps * size, channels)`.

    Args:
        size: the repetition factor.

    Example:
        >>> import torch
        >>> from lamina.layers import UpSampling1D
        >>> UpSampling1D(2)(torch.tensor([[[1.0], [2.0]]])).flatten()
        tensor([1., 1., 2., 2.])
    """

    rank = 1

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._setup(size, None)
        self.size = self._size[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}

    def extra_repr(self) -> str:
        return f"size={self.size}"


class UpSampling2D(_UpSampling):
    """Enlarge images by integer factors, repeating pixels (`"nearest"`) or interpolating
    between them (`"bilinear"`, half-pixel centers, as Keras's image resize).

    Args:
        size: the factor for rows and columns: an int or `(rows, columns)`.
        data_format: `"channels_last"` or `"channels_first"`; `None` follows
            `lamina.config.image_data_format()` (`"channels_last"` unless set).
        interpolation: `"nearest"` or `"bilinear"`.

    Example:
        >>> import torch
        >>> from lamina.layers import UpSampling2D
        >>> UpSampling2D((2, 3))(torch.ones(1, 2, 2, 4)).shape
        torch.Size([1, 4, 6, 4])
    """

    rank = 2

    def __init__(
        self,
        size: int | Sequence[int] = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        mode = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if mode not in ("nearest", "bilinear"):
            raise ValueError(
                f"UpSampling2D: expected interpolation 'nearest' or 'bilinear', received "
                f"{interpolation!r}."
            )
        super().__init__(**kwargs)
        self._setup(size, data_format)
        self.size = self._size
        self.interpolation = mode

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.interpolation == "nearest":
            return self._nearest(inputs)
        channels_last = self.data_format == "channels_last"
        # The NCHW view of a channels-last tensor is in channels_last memory format, which
        # F.interpolate keeps: permuting back costs no copy.
        x = inputs.permute(0, 3, 1, 2) if channels_last else inputs
        height, width = x.shape[2], x.shape[3]
        size = (height * self._size[0], width * self._size[1])
        out = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return out.permute(0, 2, 3, 1) if channels_last else out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "size": self.size,
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }

    def extra_repr(self) -> str:
        return f"size={self.size}, interpolation={self.interpolation!r}"


class UpSampling3D(_UpSampling):
    """Enlarge volumes by repeating each voxel `size` times along each spatial axis.

    Args:
        size: the factor per spatial axis: an int or three ints.
        data_format: `"channels_last"` or `"channels_first"`; `None` follows
            `lamina.config.image_data_format()` (`"channels_last"` unless set).
    """

    rank = 3

    def __init__(
        self,
        size: int | Sequence[int] = (2, 2, 2),
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._setup(size, data_format)
        self.size = self._size

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}

    def extra_repr(self) -> str:
        return f"size={self.size}"
