"""Image helpers shared by the preprocessing and augmentation layers (private).

Images are batches `(batch, height, width, channels)` (`channels_last`, Keras's default) or
`(batch, channels, height, width)`, or single images without the batch axis. The helpers work
on `(batch, channels, height, width)` tensors: `to_nchw` and `from_nchw` convert.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lamina.core.layer import Layer, LayerError, format_shape

INTERPOLATIONS = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic"}
FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def check_choice(layer: str, name: str, value: Any, choices: Any) -> str:
    if value not in choices:
        raise ValueError(
            f"{layer}: expected {name} to be one of {sorted(choices)}, received {value!r}."
        )
    return str(value)


def check_data_format(layer: str, data_format: str | None) -> str:
    return check_choice(
        layer, "data_format", data_format or "channels_last", ("channels_last", "channels_first")
    )


def check_image_shape(layer: Layer, shape: Any) -> None:
    """Raise unless `shape` is that of images: rank 4 with the batch, or a single rank-3 image."""
    if not isinstance(shape, tuple) or len(shape) not in (3, 4):
        layout = getattr(layer, "data_format", "channels_last")
        axes = "height, width, channels" if layout == "channels_last" else "channels, height, width"
        raise LayerError(
            f"{type(layer).__name__} '{layer.name}': expected images of shape "
            f"(batch, {axes}) or one image ({axes}), received shape {format_shape(shape)}."
        )


def to_nchw(images: torch.Tensor, data_format: str) -> tuple[torch.Tensor, bool]:
    """The images as a float `(batch, channels, height, width)` tensor, and whether the input
    was a single image."""
    single = images.ndim == 3
    if single:
        images = images.unsqueeze(0)
    if data_format == "channels_last":
        images = images.permute(0, 3, 1, 2)
    if not images.is_floating_point():
        images = images.to(torch.get_default_dtype())
    return images, single


def from_nchw(images: torch.Tensor, data_format: str, single: bool) -> torch.Tensor:
    if data_format == "channels_last":
        images = images.permute(0, 2, 3, 1)
    return images[0] if single else images


def resize(images: torch.Tensor, height: int, width: int, interpolation: str) -> torch.Tensor:
    if tuple(images.shape[-2:]) == (height, width):
        return images
    mode = INTERPOLATIONS[interpolation]
    corners = None if mode.startswith("nearest") else False
    return F.interpolate(images, size=(height, width), mode=mode, align_corners=corners)


def crop_to_aspect_ratio(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The largest centred window of `images` with the aspect ratio `height / width`."""
    in_h, in_w = images.shape[-2:]
    crop_h = max(min(in_h, int(in_w * height / width)), 1)
    crop_w = max(min(in_w, int(in_h * width / height)), 1)
    top, left = (in_h - crop_h) // 2, (in_w - crop_w) // 2
    return images[..., top : top + crop_h, left : left + crop_w]


def pad_to_aspect_ratio(
    images: torch.Tensor, height: int, width: int, fill_value: float
) -> torch.Tensor:
    """`images` centred on a canvas of about the aspect ratio `height / width`.

    As in Keras, each side gets half the missing rows (or columns), rounded down, so an odd
    difference leaves the canvas one short and keeps the image exactly centred.
    """
    in_h, in_w = images.shape[-2:]
    top = (max(in_h, int(in_w * height / width)) - in_h) // 2
    left = (max(in_w, int(in_h * width / height)) - in_w) // 2
    return F.pad(images, (left, left, top, top), value=fill_value)


def center_crop(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The centred `height x width` window; smaller images are first cropped to the target's
    aspect ratio and resized (bilinear), as Keras does."""
    in_h, in_w = images.shape[-2:]
    if in_h < height or in_w < width:
        return resize(crop_to_aspect_ratio(images, height, width), height, width, "bilinear")
    top, left = (in_h - height) // 2, (in_w - width) // 2
    return images[..., top : top + height, left : left + width]


def _fill_index(index: torch.Tensor, size: int, fill_mode: str) -> torch.Tensor:
    """Map integer pixel indices outside `[0, size)` back inside, by the fill mode."""
    if fill_mode == "wrap":
        return torch.remainder(index, size)
    if fill_mode == "reflect":  # d c b a | a b c d | d c b a
        index = torch.remainder(index, 2 * size)
        return torch.where(index >= size, 2 * size - 1 - index, index)
    return index.clamp(0, size - 1)  # nearest; constant masks the outside separately


def affine_transform(
    images: torch.Tensor,
    transforms: torch.Tensor,
    interpolation: str = "bilinear",
    fill_mode: str = "reflect",
    fill_value: float = 0.0,
) -> torch.Tensor:
    """Apply one projective transform per image to `(batch, channels, height, width)` images.

    `transforms` is `(batch, 8)`: `[a0, a1, a2, b0, b1, b2, c0, c1]` maps an output pixel
    `(x, y)` to the input point `((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)` with
    `k = c0 x + c1 y + 1` (Keras's and TensorFlow's convention). Points between pixels are
    interpolated; pixels outside the image are filled by `fill_mode`.
    """
    batch, channels, height, width = images.shape
    device = images.device
    # Pixel coordinates in at least float32: half precision cannot count past 256 (bfloat16)
    # or 2048 (float16) pixels exactly.
    dtype = torch.promote_types(images.dtype, torch.float32)
    ys = torch.arange(height, dtype=dtype, device=device).view(1, height, 1)
    xs = torch.arange(width, dtype=dtype, device=device).view(1, 1, width)
    t = transforms.to(dtype).view(batch, 8, 1, 1).unbind(1)
    k = t[6] * xs + t[7] * ys + 1
    src_x = (t[0] * xs + t[1] * ys + t[2]) / k
    src_y = (t[3] * xs + t[4] * ys + t[5]) / k
    flat = images.reshape(batch, channels, height * width)

    def sample(iy: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
        row, col = _fill_index(iy, height, fill_mode), _fill_index(ix, width, fill_mode)
        index = (row * width + col).reshape(batch, 1, -1).expand(-1, channels, -1)
        values = flat.gather(2, index).reshape(batch, channels, *iy.shape[1:])
        if fill_mode != "constant":
            return values
        inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
        return torch.where(inside.unsqueeze(1), values, fill_value)

    if interpolation == "nearest":
        return sample(torch.round(src_y).long(), torch.round(src_x).long())
    y0, x0 = torch.floor(src_y), torch.floor(src_x)
    wy = (src_y - y0).unsqueeze(1).to(images.dtype)
    wx = (src_x - x0).unsqueeze(1).to(images.dtype)
    y0, x0 = y0.long(), x0.long()
    top = sample(y0, x0) * (1 - wx) + sample(y0, x0 + 1) * wx
    bottom = sample(y0 + 1, x0) * (1 - wx) + sample(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy
