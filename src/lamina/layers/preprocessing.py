"""Preprocessing layers: `Rescaling`, `Normalization` (with `adapt`), `Resizing`, `CenterCrop`.

The random image augmentation layers are in `image_augmentation.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from lamina.core.layer import Layer, LayerError, format_shape
from lamina.core.tensor import Shape
from lamina.layers import _images

_EPSILON = 1e-7  # Keras's backend.epsilon(), the floor of the standard deviation


def _plain(value: Any) -> Any:
    """A config value as plain Python (lists for arrays)."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return np.asarray(value).tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def _check_size(layer: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{layer}: expected a positive int for {name}, received {value!r}.")
    return value


class Rescaling(Layer):
    """`inputs * scale + offset`, on float inputs (integer inputs are cast first).

    Args:
        scale: the factor, a number or one per channel (a list broadcast to the inputs).
        offset: the offset, likewise.

    Example:
        >>> import torch
        >>> from lamina.layers import Rescaling
        >>> Rescaling(1 / 127.5, offset=-1.0)(torch.tensor([[0, 255]]))
        tensor([[-1.,  1.]])
    """

    supports_masking = True

    def __init__(
        self, scale: float | Sequence[float], offset: float | Sequence[float] = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._scale: torch.Tensor
        self._offset: torch.Tensor
        self.scale = _plain(scale)
        self.offset = _plain(offset)
        self.register_buffer("_scale", torch.as_tensor(self.scale, dtype=self._dtype), False)
        self.register_buffer("_offset", torch.as_tensor(self.offset, dtype=self._dtype), False)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dtype != self._scale.dtype:
            inputs = inputs.to(self._scale.dtype)
        return inputs * self._scale + self._offset

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    """Shift and scale inputs to mean 0 and variance 1: `(x - mean) / sqrt(variance)`.

    The mean and variance are given, or learned from data by `adapt(data)` before training;
    adapted, they are non-trainable weights (`mean`, `variance`) that save and load with the
    model.

    Args:
        axis: the axis (or axes) that keep their own mean and variance, e.g. `-1` for one per
            feature; the statistics are taken over all other axes. `None`: one mean and
            variance for everything.
        mean: the mean to use (a number, or an array broadcast to the kept axes); `None` to
            adapt.
        variance: the variance, likewise; given together with `mean`.
        invert: apply the inverse, `x * sqrt(variance) + mean`, to undo a normalization.

    Example:
        >>> import numpy as np
        >>> import torch
        >>> from lamina.layers import Normalization
        >>> layer = Normalization()
        >>> layer.adapt(np.array([[1.0, 10.0], [3.0, 30.0]]))
        >>> layer(torch.tensor([[2.0, 20.0]]))
        tensor([[0., 0.]])
    """

    supports_masking = True

    def __init__(
        self,
        axis: int | Sequence[int] | None = -1,
        *,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        **kwargs: Any,
    ) -> None:
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization: pass both mean and variance, or neither (to learn them with "
                f"adapt()); received mean={mean!r} and variance={variance!r}."
            )
        super().__init__(**kwargs)
        if axis is None:
            self.axis: tuple[int, ...] = ()
        elif isinstance(axis, int):
            self.axis = (axis,)
        else:
            self.axis = tuple(int(a) for a in axis)
        self.input_mean = _plain(mean)
        self.input_variance = _plain(variance)
        self.invert = bool(invert)
        self._keep: tuple[int, ...] = ()
        self._broadcast: tuple[int, ...] = ()

    def build(self, input_shape: Shape) -> None:
        rank = len(input_shape)
        keep = sorted(a + rank if a < 0 else a for a in self.axis)
        if any(not 0 < a < rank for a in keep) or len(set(keep)) != len(keep):
            raise LayerError(
                f"Normalization '{self.name}': axis={list(self.axis)} does not name distinct "
                f"non-batch axes of input shape {format_shape(input_shape)}; use axes from 1 "
                f"to {rank - 1} (or -1 for the last)."
            )
        sizes = [input_shape[a] for a in keep]
        if any(d is None for d in sizes):
            raise LayerError(
                f"Normalization '{self.name}': the kept axes {keep} of input shape "
                f"{format_shape(input_shape)} must have known sizes, one mean and variance "
                "each; give the Input those sizes or normalize over a different axis."
            )
        self._keep = tuple(keep)
        self._broadcast = tuple(input_shape[a] if a in keep else 1 for a in range(rank))  # type: ignore[misc]
        self._broadcast = (1, *self._broadcast[1:])
        if self.input_mean is None:
            self.mean = self.add_weight("mean", sizes, "zeros", trainable=False)  # type: ignore[arg-type]
            self.variance = self.add_weight("variance", sizes, "ones", trainable=False)  # type: ignore[arg-type]
        else:
            ones = torch.ones(sizes, dtype=self._dtype)  # type: ignore[arg-type]
            mean = torch.as_tensor(self.input_mean, dtype=self._dtype) * ones
            variance = torch.as_tensor(self.input_variance, dtype=self._dtype) * ones
            self.register_buffer("mean", mean, persistent=False)
            self.register_buffer("variance", variance, persistent=False)

    def check_input_shape(self, shapes: Any) -> None:
        rank = len(self._broadcast)
        ok = isinstance(shapes, tuple) and len(shapes) == rank
        if ok:
            ok = all(shapes[a] in (None, self._broadcast[a]) for a in self._keep)
        if not ok:
            expected = tuple(self._broadcast[a] if a in self._keep else None for a in range(rank))
            raise self.incompatible_shape(expected, shapes, f"kept axes {list(self._keep)}")

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Set the mean and variance to those of `data`, over all axes but `axis`.

        Args:
            data: a numpy array or tensor (the first axis is the batch), or an iterable of
                batches (a `DataLoader`, a generator; `(x, y)` pairs use `x`).
            batch_size: unused; for Keras's signature.
            steps: read at most this many batches from an iterable.
        """
        if self.input_mean is not None:
            raise LayerError(
                f"Normalization '{self.name}': it was given mean and variance, so adapt() has "
                "nothing to learn; create Normalization(axis=...) without them to adapt."
            )
        count = 0
        mean = m2 = None
        for index, batch in enumerate(_batches(data)):
            if steps is not None and index >= steps:
                break
            if not self.built:
                self._build_from_shapes((None, *tuple(batch.shape)[1:]))
            self.check_input_shape((None, *tuple(batch.shape)[1:]))
            reduce = [a for a in range(batch.ndim) if a not in self._keep]
            n = int(np.prod([batch.shape[a] for a in reduce]))
            if n == 0:
                continue
            batch_mean = batch.mean(dim=reduce)
            batch_m2 = ((batch - batch.mean(dim=reduce, keepdim=True)) ** 2).sum(dim=reduce)
            if mean is None or m2 is None:
                count, mean, m2 = n, batch_mean, batch_m2
                continue
            # Chan et al.'s pairwise update, in float64: stable over any number of batches.
            delta = batch_mean - mean
            total = count + n
            mean = mean + delta * n / total
            m2 = m2 + batch_m2 + delta**2 * count * n / total
            count = total
        if mean is None or m2 is None:
            raise ValueError(f"Normalization '{self.name}': adapt() received no data.")
        with torch.no_grad():
            self.mean.copy_(mean.reshape(self.mean.shape))
            self.variance.copy_((m2 / count).reshape(self.variance.shape))

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dtype != self.mean.dtype:
            inputs = inputs.to(self.mean.dtype)
        mean = self.mean.reshape(self._broadcast)
        std = torch.sqrt(self.variance).clamp(min=_EPSILON).reshape(self._broadcast)
        if self.invert:
            return mean + inputs * std
        return (inputs - mean) / std

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": list(self.axis),
            "invert": self.invert,
            "mean": self.input_mean,
            "variance": self.input_variance,
        }


def _batches(data: Any) -> Iterable[torch.Tensor]:
    """The batches of `data` as float64 tensors; nested Python lists of numbers are one batch."""
    if isinstance(data, (np.ndarray, torch.Tensor)):
        data = [data]
    elif isinstance(data, list) and data and isinstance(data[0], (list, int, float)):
        data = [np.asarray(data)]
    for batch in data:
        if isinstance(batch, (tuple, list)) and batch and not np.isscalar(batch[0]):
            batch = batch[0]
        yield torch.as_tensor(
            np.asarray(batch) if not isinstance(batch, torch.Tensor) else batch
        ).to(torch.float64)


class Resizing(Layer):
    """Resize images to `height x width`.

    Args:
        height: the output height.
        width: the output width.
        interpolation: `"bilinear"` (default), `"nearest"` or `"bicubic"`.
        crop_to_aspect_ratio: first crop the largest centred window of the target's aspect
            ratio, so that nothing is distorted.
        pad_to_aspect_ratio: first pad (with `fill_value`) to the target's aspect ratio.
        fill_mode: how padding is filled; only `"constant"`, as in Keras.
        fill_value: the padding value.
        antialias: filter when downsampling (bilinear and bicubic).
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Call arguments:
        inputs: a batch of images `(batch, height, width, channels)` or one image.

    Example:
        >>> import torch
        >>> from lamina.layers import Resizing
        >>> Resizing(2, 3)(torch.ones(1, 4, 6, 3)).shape
        torch.Size([1, 2, 3, 3])
    """

    def __init__(
        self,
        height: int,
        width: int,
        *,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant",
        fill_value: float = 0.0,
        antialias: bool = False,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.height = _check_size("Resizing", "height", height)
        self.width = _check_size("Resizing", "width", width)
        self.interpolation = _images.check_choice(
            "Resizing", "interpolation", interpolation, _images.INTERPOLATIONS
        )
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                "Resizing: crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be True; "
                "choose one."
            )
        self.fill_mode = _images.check_choice("Resizing", "fill_mode", fill_mode, ("constant",))
        self.data_format = _images.check_data_format("Resizing", data_format)
        super().__init__(**kwargs)
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_value = fill_value
        self.antialias = bool(antialias)

    def build(self, input_shape: Shape) -> None:
        _images.check_image_shape(self, input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        _images.check_image_shape(self, shapes)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        images, single = _images.to_nchw(inputs, self.data_format)
        if self.crop_to_aspect_ratio:
            images = _images.crop_to_aspect_ratio(images, self.height, self.width)
        elif self.pad_to_aspect_ratio:
            images = _images.pad_to_aspect_ratio(images, self.height, self.width, self.fill_value)
        if self.antialias and self.interpolation != "nearest":
            images = torch.nn.functional.interpolate(
                images,
                size=(self.height, self.width),
                mode=self.interpolation,
                align_corners=False,
                antialias=True,
            )
        else:
            images = _images.resize(images, self.height, self.width, self.interpolation)
        return _images.from_nchw(images, self.data_format, single)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
            "data_format": self.data_format,
        }


class CenterCrop(Layer):
    """Crop the centre `height x width` of images.

    Images smaller than the target are cropped to its aspect ratio and resized (bilinear), as
    in Keras, so the output always has the target size.

    Args:
        height: the output height.
        width: the output width.
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Example:
        >>> import torch
        >>> from lamina.layers import CenterCrop
        >>> CenterCrop(2, 2)(torch.arange(16.0).reshape(1, 4, 4, 1))[0, ..., 0]
        tensor([[ 5.,  6.],
                [ 9., 10.]])
    """

    def __init__(
        self, height: int, width: int, *, data_format: str | None = None, **kwargs: Any
    ) -> None:
        self.height = _check_size("CenterCrop", "height", height)
        self.width = _check_size("CenterCrop", "width", width)
        self.data_format = _images.check_data_format("CenterCrop", data_format)
        super().__init__(**kwargs)

    def build(self, input_shape: Shape) -> None:
        _images.check_image_shape(self, input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        _images.check_image_shape(self, shapes)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        images, single = _images.to_nchw(inputs, self.data_format)
        images = _images.center_crop(images, self.height, self.width)
        return _images.from_nchw(images, self.data_format, single)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "data_format": self.data_format,
        }


__all__ = ["CenterCrop", "Normalization", "Rescaling", "Resizing"]
