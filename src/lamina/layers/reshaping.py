"""Spatial reshaping layers: `ZeroPadding1D/2D/3D`, `Cropping1D/2D/3D`, `UpSampling1D/2D/3D`.

`Flatten`, `Reshape`, `Permute` and `RepeatVector` live in `layers/core.py`. Each class here is
one of three families parametrized by its number of spatial axes; the inputs are
`(batch, *spatial, channels)` for `data_format="channels_last"` (Keras's default) and
`(batch, channels, *spatial)` for `"channels_first"`; `None` follows
`lamina.config.image_data_format()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lamina import config
from lamina.core.errors import LayerError
from lamina.core.layer import Layer
from lamina.core.tensor import Shape

Pairs = tuple[tuple[int, int], ...]
_FORMATS = ("channels_last", "channels_first")


def standardize_data_format(name: str, data_format: str | None) -> str:
    """`data_format`, with `None` meaning `lamina.config.image_data_format()`."""
    if data_format is None:
        return config.image_data_format()
    if data_format not in _FORMATS:
        raise ValueError(
            f"{name}: expected data_format 'channels_last', 'channels_first' or None, received "
            f"{data_format!r}."
        )
    return data_format


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _pairs(name: str, arg: str, value: Any, rank: int) -> Pairs:
    """Keras's forms of a per-axis (before, after) amount: an int for every side, `rank`
    ints (one per axis, both sides), or `rank` pairs; 1-D layers take an int or one pair."""
    forms = (
        "an int, a pair (before, after)"
        if rank == 1
        else (f"an int, {rank} ints (one per axis) or {rank} pairs (before, after)")
    )
    error = ValueError(
        f"{name}: expected {arg} as {forms} of non-negative ints, received {value!r}."
    )
    if _is_count(value):
        return ((value, value),) * rank
    if not isinstance(value, (list, tuple)):
        raise error
    if rank == 1 and len(value) == 2 and all(_is_count(v) for v in value):
        return ((value[0], value[1]),)
    if rank == 1 or len(value) != rank:
        raise error
    pairs = []
    for item in value:
        if _is_count(item):
            pairs.append((item, item))
        elif isinstance(item, (list, tuple)) and len(item) == 2 and all(_is_count(v) for v in item):
            pairs.append((item[0], item[1]))
        else:
            raise error
    return tuple(pairs)


def _sizes(name: str, value: Any, rank: int) -> tuple[int, ...]:
    """An upsampling factor per spatial axis, from an int or `rank` ints."""
    items = (value,) * rank if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(items, (list, tuple))
        or len(items) != rank
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items)
    ):
        wanted = "a positive int" + ("" if rank == 1 else f" or {rank} positive ints")
        raise ValueError(f"{name}: expected size as {wanted}, received {value!r}.")
    return tuple(items)


class _Spatial(Layer):
    """A layer on `(batch, *spatial, channels)` or `(batch, channels, *spatial)` inputs."""

    rank = 1
    data_format = "channels_last"

    def _spatial_axes(self) -> range:
        start = 1 if self.data_format == "channels_last" else 2
        return range(start, start + self.rank)

    def build(self, input_shape: Shape) -> None:
        self.check_input_shape(input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        if not isinstance(shapes, tuple) or len(shapes) != self.rank + 2:
            spatial = ("d1", "d2", "d3")[: self.rank] if self.rank > 1 else ("steps",)
            expected = (
                ("batch", *spatial, "channels")
                if self.data_format == "channels_last"
                else ("batch", "channels", *spatial)
            )
            name = type(self).__name__
            fix = "reshape the input"
            if isinstance(shapes, tuple) and 3 <= len(shapes) <= 5:
                fix = f"use {name.replace(f'{self.rank}D', f'{len(shapes) - 2}D')} for it"
            raise LayerError(
                f"{name} '{self.name}': expected a {self.rank + 2}-D input "
                f"({', '.join(expected)}), received shape {shapes}; {fix}."
            )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = list(input_shape)
        for index, axis in enumerate(self._spatial_axes()):
            size = shape[axis]
            shape[axis] = None if size is None else self._output_size(index, size)
        return tuple(shape)

    def _output_size(self, index: int, size: int) -> int:
        raise NotImplementedError


class _ZeroPadding(_Spatial):
    def __init__(self, padding: Any, data_format: str | None = None, **kwargs: Any) -> None:
        name = type(self).__name__
        pairs = _pairs(name, "padding", padding, self.rank)
        data_format = standardize_data_format(name, data_format)
        super().__init__(**kwargs)
        self.padding = pairs[0] if self.rank == 1 else pairs
        self.data_format = data_format
        # F.pad lists (before, after) from the last axis backwards.
        pad: list[int] = [0, 0] if data_format == "channels_last" else []
        for before, after in reversed(pairs):
            pad += [before, after]
        self._pad = pad
        self._pairs = pairs

    def _output_size(self, index: int, size: int) -> int:
        return size + sum(self._pairs[index])

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.pad(inputs, self._pad)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}

    def extra_repr(self) -> str:
        return f"padding={self.padding}"


class ZeroPadding1D(_ZeroPadding):
    """Add zeros before and after the steps of `(batch, steps, channels)` inputs.

    Args:
        padding: an int (both ends) or a pair `(before, after)`.
        data_format: `"channels_last"` or `"channels_first"`; `None` follows
            `lamina.config.image_data_format()` (`"channels_last"` unless set).

    Example:
        >>> import torch
        >>> from lamina.layers import ZeroPadding1D
        >>> ZeroPadding1D((1, 2))(torch.ones(1, 3, 2)).shape
        torch.Size([1, 6, 2])
    """

    rank = 1

    def __init__(
        self, padding: int | Sequence[int] = 1, data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Add rows and columns of zeros around images.

    Args:
        padding: an int (every side), `(rows, columns)` (both sides of each), or
            `((top, bottom), (left, right))`.
        data_format: `"channels_last"` or `"channels_first"`; `None` follows
            `lamina.config.image_data_format()` (`"channels_last"` unless set).

    Example:
        >>> import torch
        >>> from lamina.layers import ZeroPadding2D
        >>> ZeroPadding2D(((1, 0), (2, 2)))(torch.ones(1, 3, 3, 2)).shape
        torch.Size([1, 4, 7, 2])
    """

    rank = 2

    def __init__(
        self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Add zeros around volumes `(batch, d1, d2, d3, channels)`.

    Args:
        padding: an int (every side), three ints (both sides of each axis), or three pairs
            `(before, after)`.
        data_format: `"channels_last"` or `"channels_first"`; `None` follows
            `lamina.config.image_data_format()` (`"channels_last"` unless set).
    """

    rank = 3

    def __init__(
        self, padding: Any = (1, 1, 1), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):
    def __init__(self, cropping: Any, data_format: str | None = None, **kwargs: Any) -> None:
        name = type(self).__name__
        pairs = _pairs(name, "cropping", cropping, self.rank)
        data_format = standardize_data_format(name, data_format)
        super().__init__(**kwargs)
        self.cropping = pairs[0] if self.rank == 1 else pairs
        self.data_format = data_format
        self._pairs = pairs
        index: list[slice] = [slice(None)] * (self.rank + 2)
        for axis, (before, after) in zip(self._spatial_axes(), pairs):
            index[axis] = slice(before, -after if after else None)
        self._index = tuple(index)

    def check_input_shape(self, shapes: Any) -> None:
        super().check_input_shape(shapes)
        for axis, (before, after) in zip(self._spatial_axes(), self._pairs):
            size = shapes[axis]
            if size is not None and before + after >= size:
                raise LayerError(
                    f"{type(self).__name__} '{self.name}': cropping {before} + {after} from "
                    f"axis {axis} of size {size} (input shape {shapes}) leaves nothing; "
                    f"expected a total below {size}. Reduce the cropping."
                )

    def _output_size(self, index: int, size: int) -> int:
        return size - sum(self._pairs[index])

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs[self._index]

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "cropping": self.cropping}
        if self.rank > 1:  # Keras's Cropping1D has no data_format
            config["data_format"] = self.data_format
        return config

    def extra_repr(self) -> str:
        return f"cropping={self.cropping}"


class Cropping1D(_Cropping):
    """Remove steps at the start and end of `(batch, steps, channels)` inputs.

    Args:
        cropping: an int (both ends) or a pair `(start, end)`.

    Example:
        >>> import torch
        >>> from lamina.layers import Cropping1D
        >>> Cropping1D((1, 2))(torch.ones(1, 5, 2)).shape
        torch.Size([1, 2, 2])
    """

    rank = 1

    def __init__(self, cropping: int | Sequence[int] = (1, 1), **kwargs: Any) -> None:
        super().__init__(cropping, None, **kwargs)


class Cropping2D(_Cropping):
    """Remove rows and columns at the borders of images.

    Args:
        cropping: an int (every side), `(rows, columns)` (both sides of each), or
            `((top, bottom), (left, right))`.
        data_format: `"channels_last"` or `"channels_first"`; `None` follows
            `lamina.config.image_data_format()` (`"channels_last"` unless set).

    Example:
        >>> import torch
        >>> from lamina.layers import Cropping2D
        >>> Cropping2D(((1, 0), (0, 2)))(torch.ones(1, 4, 5, 3)).shape
        torch.Size([1, 3, 3, 3])
    """

    rank = 2

    def __init__(
        self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Remove slices at the borders of volumes `(batch, d1, d2, d3, channels)`.

    Args:
        cropping: an int (every side), three ints (both sides of each axis), or three pairs
            `(before, after)`.
        data_format: `"channels_last"` or `"channels_first"`; `None` follows
            `lamina.config.image_data_format()` (`"channels_last"` unless set).
    """

    rank = 3

    def __init__(
        self,
        cropping: Any = ((1, 1), (1, 1), (1, 1)),
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(cropping, data_format, **kwargs)
