"""Random image augmentation layers: `RandomFlip`, `RandomRotation`, `RandomZoom`,
`RandomTranslation`, `RandomCrop`, `RandomContrast`.

They change images only in training (`fit`, or `training=True`); at inference they return
their inputs, as in Keras 3. Images
are `(batch, height, width, channels)` or single `(height, width, channels)` images
(`data_format="channels_first"` for channels first). Each image of a batch gets its own draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from lamina.core.layer import Layer
from lamina.core.tensor import Shape
from lamina.layers import _images

Factor = float | Sequence[float]


def _factor(layer: str, name: str, value: Any, low: float, high: float) -> tuple[float, float]:
    """`value` as a `(lower, upper)` range: a number `f` gives `(-f, f)` (`(f, f)` when `low`
    is 0, for contrast); both ends must lie in `[low, high]`."""
    pair: tuple[float, float] | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        pair = (float(value), float(value)) if low == 0 else (-abs(value), abs(value))
    elif (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        pair = (float(min(value)), float(max(value)))
    if pair is None or pair[0] < low or pair[1] > high:
        raise ValueError(
            f"{layer}: expected {name} to be a number or a (lower, upper) pair within "
            f"[{low:g}, {high:g}], received {value!r}."
        )
    return pair


class _RandomImageLayer(Layer):
    """Draws per image with the layer's generator (seeded) or torch's; identity at inference."""

    def __init__(self, seed: int | None, data_format: str | None, **kwargs: Any) -> None:
        self.data_format = _images.check_data_format(type(self).__name__, data_format)
        super().__init__(**kwargs)
        self.seed = seed
        self._generator: torch.Generator | None = None

    def build(self, input_shape: Shape) -> None:
        _images.check_image_shape(self, input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        _images.check_image_shape(self, shapes)

    def uniform(self, batch: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
        """`batch` draws from `[low, high)`, in `like`'s dtype and on its device."""
        generator = None
        if self.seed is not None:
            if self._generator is None or self._generator.device != like.device:
                self._generator = torch.Generator(device=like.device).manual_seed(self.seed)
            generator = self._generator
        draws = torch.rand(batch, generator=generator, device=like.device, dtype=like.dtype)
        return low + (high - low) * draws

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not (self.training if training is None else training):
            return inputs
        images, single = _images.to_nchw(inputs, self.data_format)
        return _images.from_nchw(self.augment(images), self.data_format, single)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class _AffineLayer(_RandomImageLayer):
    """A random geometric transform, resampled with `interpolation` and `fill_mode`."""

    def __init__(
        self,
        fill_mode: str,
        interpolation: str,
        seed: int | None,
        fill_value: float,
        data_format: str | None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        self.fill_mode = _images.check_choice(name, "fill_mode", fill_mode, _images.FILL_MODES)
        self.interpolation = _images.check_choice(
            name, "interpolation", interpolation, ("bilinear", "nearest")
        )
        super().__init__(seed, data_format, **kwargs)
        self.fill_value = float(fill_value)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        transforms = self.transforms(images)
        return _images.affine_transform(
            images, transforms, self.interpolation, self.fill_mode, self.fill_value
        )

    def transforms(self, images: torch.Tensor) -> torch.Tensor:
        """`(batch, 8)` projective transforms from output to input pixels."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "interpolation": self.interpolation,
        }


class RandomFlip(_RandomImageLayer):
    """Flip images left-right and/or top-bottom, each with probability 1/2, in training.

    Args:
        mode: `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"` (each direction
            drawn independently).
        seed: a seed for repeatable draws.
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Example:
        >>> import torch
        >>> from lamina.layers import RandomFlip
        >>> x = torch.arange(4.0).reshape(1, 2, 2, 1)
        >>> bool((RandomFlip()(x) == x).all())  # inference: unchanged
        True
    """

    def __init__(
        self,
        mode: str = "horizontal_and_vertical",
        *,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.mode = _images.check_choice(
            "RandomFlip", "mode", mode, ("horizontal", "vertical", "horizontal_and_vertical")
        )
        super().__init__(seed, data_format, **kwargs)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        batch = images.shape[0]
        for axis, direction in ((-1, "horizontal"), (-2, "vertical")):
            if direction in self.mode:
                flip = self.uniform(batch, 0, 1, images) < 0.5
                images = torch.where(flip.view(-1, 1, 1, 1), images.flip(axis), images)
        return images

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_AffineLayer):
    """Rotate images by a random angle in training.

    Args:
        factor: the angle range as a fraction of a full turn: `f` for `[-f, f]`, or a pair
            `(lower, upper)`; `0.25` is up to 90 degrees either way. Positive angles turn
            counter-clockwise.
        fill_mode: how points outside the image are filled: `"reflect"` (default), `"wrap"`,
            `"constant"` (with `fill_value`) or `"nearest"`.
        interpolation: `"bilinear"` (default) or `"nearest"`.
        seed: a seed for repeatable draws.
        fill_value: the value for `fill_mode="constant"`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
    """

    def __init__(
        self,
        factor: Factor,
        *,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.lower, self.upper = _factor("RandomRotation", "factor", factor, -1.0, 1.0)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = list(factor) if isinstance(factor, (list, tuple)) else factor

    def transforms(self, images: torch.Tensor) -> torch.Tensor:
        angle = self.uniform(images.shape[0], self.lower, self.upper, images) * (2 * math.pi)
        cos, sin = torch.cos(angle), torch.sin(angle)
        w, h = images.shape[-1] - 1, images.shape[-2] - 1
        x_offset = (w - (cos * w - sin * h)) / 2
        y_offset = (h - (sin * w + cos * h)) / 2
        zero = torch.zeros_like(cos)
        return torch.stack([cos, -sin, x_offset, sin, cos, y_offset, zero, zero], dim=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_AffineLayer):
    """Zoom images in or out by a random amount in training.

    Args:
        height_factor: the vertical zoom range as a fraction: `f` for `[-f, f]`, or a pair
            `(lower, upper)`; positive values zoom out (`0.2`: the image shrinks by up to 20%),
            negative values zoom in. Within `[-1, 1]`.
        width_factor: the horizontal range, likewise; `None` zooms both axes by the same
            amount (keeping the aspect ratio).
        fill_mode, interpolation, seed, fill_value, data_format: as in `RandomRotation`.
    """

    def __init__(
        self,
        height_factor: Factor,
        width_factor: Factor | None = None,
        *,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._height = _factor("RandomZoom", "height_factor", height_factor, -1.0, 1.0)
        self._width = (
            None
            if width_factor is None
            else _factor("RandomZoom", "width_factor", width_factor, -1.0, 1.0)
        )
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = _config(height_factor)
        self.width_factor = _config(width_factor)

    def transforms(self, images: torch.Tensor) -> torch.Tensor:
        batch = images.shape[0]
        zoom_h = 1 + self.uniform(batch, *self._height, images)
        zoom_w = zoom_h if self._width is None else 1 + self.uniform(batch, *self._width, images)
        w, h = images.shape[-1] - 1, images.shape[-2] - 1
        zero = torch.zeros_like(zoom_h)
        return torch.stack(
            [zoom_w, zero, w / 2 * (1 - zoom_w), zero, zoom_h, h / 2 * (1 - zoom_h), zero, zero],
            dim=1,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


class RandomTranslation(_AffineLayer):
    """Shift images by a random offset in training.

    Args:
        height_factor: the vertical shift range as a fraction of the height: `f` for
            `[-f, f]`, or a pair `(lower, upper)`; positive values shift down. Within `[-1, 1]`.
        width_factor: the horizontal range as a fraction of the width; positive values shift
            right.
        fill_mode, interpolation, seed, fill_value, data_format: as in `RandomRotation`.
    """

    def __init__(
        self,
        height_factor: Factor,
        width_factor: Factor,
        *,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._height = _factor("RandomTranslation", "height_factor", height_factor, -1.0, 1.0)
        self._width = _factor("RandomTranslation", "width_factor", width_factor, -1.0, 1.0)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = _config(height_factor)
        self.width_factor = _config(width_factor)

    def transforms(self, images: torch.Tensor) -> torch.Tensor:
        batch, height, width = images.shape[0], images.shape[-2], images.shape[-1]
        dy = self.uniform(batch, *self._height, images) * height
        dx = self.uniform(batch, *self._width, images) * width
        one, zero = torch.ones_like(dx), torch.zeros_like(dx)
        return torch.stack([one, zero, -dx, zero, one, -dy, zero, zero], dim=1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


class RandomCrop(_RandomImageLayer):
    """Crop a random `height x width` window in training (identity at inference, as in
    Keras 3.15, so the shape differs between training and inference).

    One window is drawn per call (per batch), as in Keras. Images smaller than the target
    are cropped to its aspect ratio and resized instead, so the output always has the target
    size.

    Args:
        height: the output height.
        width: the output width.
        seed: a seed for repeatable draws.
        data_format: `"channels_last"` (default) or `"channels_first"`.
    """

    def __init__(
        self,
        height: int,
        width: int,
        *,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        for name, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"RandomCrop: expected a positive int for {name}, received {value!r}."
                )
        super().__init__(seed, data_format, **kwargs)
        self.height = height
        self.width = width

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        in_h, in_w = images.shape[-2:]
        if in_h < self.height or in_w < self.width:
            return _images.center_crop(images, self.height, self.width)
        draws = self.uniform(2, 0, 1, images)
        top = min(int(draws[0].item() * (in_h - self.height + 1)), in_h - self.height)
        left = min(int(draws[1].item() * (in_w - self.width + 1)), in_w - self.width)
        return images[..., top : top + self.height, left : left + self.width]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomContrast(_RandomImageLayer):
    """Scale each image's contrast by a random factor in training.

    Each channel of an image becomes `(x - mean) * c + mean`, with `mean` the channel's mean
    over the image and `c` drawn from `[1 - lower, 1 + upper]`, then clipped to
    `value_range`.

    Args:
        factor: `f` for `c` in `[1 - f, 1 + f]` (as Keras documents it; Keras 3.15's code
            draws from `[1, 1 + f]`), or a pair `(lower, upper)`; within `[0, 1]`.
        value_range: the `(low, high)` range of the images' values, e.g. `(0, 255)` or
            `(0, 1)`.
        seed: a seed for repeatable draws.
        data_format: `"channels_last"` (default) or `"channels_first"`.
    """

    def __init__(
        self,
        factor: Factor,
        *,
        value_range: Sequence[float] = (0, 255),
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.lower, self.upper = _factor("RandomContrast", "factor", factor, 0.0, 1.0)
        if len(value_range) != 2 or value_range[0] >= value_range[1]:
            raise ValueError(
                f"RandomContrast: expected value_range as (low, high) with low < high, "
                f"received {value_range!r}."
            )
        super().__init__(seed, data_format, **kwargs)
        self.factor = _config(factor)
        self.value_range = [float(v) for v in value_range]

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        contrast = self.uniform(images.shape[0], 1 - self.lower, 1 + self.upper, images)
        mean = images.mean(dim=(-2, -1), keepdim=True)
        outputs = (images - mean) * contrast.view(-1, 1, 1, 1) + mean
        return outputs.clamp(self.value_range[0], self.value_range[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


def _config(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


__all__ = [
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
]
