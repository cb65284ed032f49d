"""Global settings with Keras 3's names (`keras.config`): the fuzz factor `epsilon`, the
default float type, and the image data format that layers with `data_format=None` follow.

This is the public module; `lamina.core.config` is something else (the slots of saved
`Operation` configs).

Example:
    >>> from lamina import config
    >>> config.epsilon(), config.floatx(), config.image_data_format()
    (1e-07, 'float32', 'channels_last')
"""

from __future__ import annotations

import torch

__all__ = [
    "epsilon",
    "floatx",
    "image_data_format",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
]

_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"
_FLOATS = {
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
    "float64": torch.float64,
}


def epsilon() -> float:
    """The small number added to divisors (Keras's default 1e-7)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Set the value `epsilon()` returns."""
    global _EPSILON
    _EPSILON = float(value)


def floatx() -> str:
    """The default float type as a name (`"float32"`): torch's default dtype, which layers
    create their weights in."""
    return str(torch.get_default_dtype()).replace("torch.", "")


def set_floatx(value: str) -> None:
    """Set the default float type (`"float16"`, `"bfloat16"`, `"float32"` or `"float64"`);
    this sets torch's default dtype, so it applies to every tensor torch creates."""
    dtype = _FLOATS.get(str(value))
    if dtype is None:
        raise ValueError(f"set_floatx: expected one of {sorted(_FLOATS)}, received {value!r}.")
    torch.set_default_dtype(dtype)


def image_data_format() -> str:
    """`"channels_last"` (Keras's default: images are `(batch, height, width, channels)`)
    or `"channels_first"`; layers given `data_format=None` follow it."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format: str) -> None:
    """Set the value `image_data_format()` returns."""
    global _IMAGE_DATA_FORMAT
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "set_image_data_format: expected 'channels_last' or 'channels_first', received "
            f"{data_format!r}."
        )
    _IMAGE_DATA_FORMAT = data_format
