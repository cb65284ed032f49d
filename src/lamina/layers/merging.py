"""Merging layers (`Concatenate`, `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`,
`Minimum`, `Dot`), their functional helpers, and Keras 1's `merge()`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lamina.core.errors import LayerError, format_shape
from lamina.core.layer import Layer
from lamina.core.tensor import Shape


class Merge(Layer):
    """Base class: combine a list of tensors of compatible shapes into one."""

    supports_masking = True

    min_inputs = 1

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        """A position is kept if any input keeps it (Keras's logical or); `None` as soon as
        one input has no mask."""
        if mask is None or any(m is None for m in mask):
            return None
        return functools.reduce(torch.logical_or, mask)  # type: ignore[no-any-return]

    def build(self, input_shape: Any) -> None:
        self.check_input_shape(input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        # A list or a tuple of inputs (Keras 3 takes both); a tuple of ints is one shape.
        several = isinstance(shapes, (list, tuple)) and all(
            isinstance(s, (list, tuple)) for s in shapes
        )
        if not several or len(shapes) < self.min_inputs:
            raise LayerError(
                f"{type(self).__name__} '{self.name}': expected a list of at least "
                f"{self.min_inputs} input(s), received {format_shape(shapes)}."
            )
        self._check_shapes(list(shapes))

    def _check_shapes(self, shapes: list[Shape]) -> None:
        try:
            torch.broadcast_shapes(*[tuple(d or 1 for d in s) for s in shapes])  # type: ignore[no-untyped-call]
        except RuntimeError:
            raise LayerError(
                f"{type(self).__name__} '{self.name}': input shapes "
                f"{format_shape(shapes)} do not broadcast together; expected equal shapes."
            ) from None


class _Reduce(Merge):
    reduce: Any  # a binary torch function

    def call(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(type(self).reduce, inputs)


class Add(_Reduce):
    """Elementwise sum of the inputs."""

    reduce = torch.add


class Multiply(_Reduce):
    """Elementwise product of the inputs."""

    reduce = torch.mul


class _Extremum(_Reduce):
    def call(self, inputs: Sequence[torch.Tensor], mask: Any = None) -> torch.Tensor:
        if mask is None or all(m is None for m in mask):
            return functools.reduce(type(self).reduce, inputs)
        # Keras's rule: a masked position of one input takes the other's value, so padding
        # never wins; the running mask is the `or` of the masks (None once one is missing).
        output, output_mask = inputs[0], _feature_mask(mask[0], inputs[0])
        for x, m in zip(inputs[1:], mask[1:]):
            m = _feature_mask(m, x)
            if m is not None:
                x = torch.where(m, x, output)
            if output_mask is not None:
                output = torch.where(output_mask, output, x)
            output_mask = None if m is None or output_mask is None else output_mask | m
            output = type(self).reduce(output, x)
        return output


def _feature_mask(mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    return None if mask is None else mask.bool().unsqueeze(-1).expand_as(x)


class Maximum(_Extremum):
    """Elementwise maximum of the inputs (a masked position never wins, as in Keras)."""

    reduce = torch.maximum


class Minimum(_Extremum):
    """Elementwise minimum of the inputs (a masked position never wins, as in Keras)."""

    reduce = torch.minimum


class Average(_Reduce):
    """Elementwise mean of the inputs."""

    reduce = torch.add

    def call(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return super().call(inputs) / len(inputs)


class Subtract(Merge):
    """`inputs[0] - inputs[1]`."""

    min_inputs = 2

    def check_input_shape(self, shapes: Any) -> None:
        super().check_input_shape(shapes)
        if len(shapes) != 2:
            raise LayerError(
                f"Subtract '{self.name}': expected exactly 2 inputs, received {len(shapes)}."
            )

    def call(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return inputs[0] - inputs[1]


class Concatenate(Merge):
    """Join the inputs along `axis`; every other axis must match.

    Args:
        axis: the axis to join along (counting the batch axis), -1 by default.

    Example:
        >>> from lamina import Input
        >>> from lamina.layers import Concatenate
        >>> Concatenate()([Input(shape=(4, 1)), Input(shape=(4, 2))]).shape
        (None, 4, 3)
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def _check_shapes(self, shapes: list[Shape]) -> None:
        ranks = {len(s) for s in shapes}
        axis = self.axis % max(ranks) if len(ranks) == 1 else None
        if axis is None or not -len(shapes[0]) <= self.axis < len(shapes[0]):
            raise LayerError(
                f"Concatenate '{self.name}': cannot join {format_shape(shapes)} on axis "
                f"{self.axis}; expected inputs of one rank containing that axis."
            )
        for i in range(len(shapes[0])):
            sizes = {d for s in shapes if (d := s[i]) is not None}
            if i != axis and len(sizes) > 1:
                raise LayerError(
                    f"Concatenate '{self.name}': cannot join {format_shape(shapes)} on axis "
                    f"{self.axis}; axis {i} differs ({sorted(sizes)}), expected all axes "
                    "but the concatenation axis to match."
                )

    def call(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(tuple(inputs), dim=self.axis)

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        """The masks joined as the inputs are (all-true for an input without one), then
        kept where any feature is (Keras's rule)."""
        if mask is None or all(m is None for m in mask):
            return None
        full = []
        for x, m in zip(inputs, mask):
            if m is None:
                m = torch.ones_like(x, dtype=torch.bool)
            elif m.ndim < x.ndim:
                m = m.unsqueeze(-1).expand_as(x)
            full.append(m)
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """Dot product of two samples along `axes` (counting the batch axis).

    Args:
        axes: one axis for both inputs, or a pair `(axis_of_first, axis_of_second)`.
        normalize: L2-normalize both along `axes` first, giving the cosine similarity.

    Output shape:
        The first input's axes without `axes[0]`, then the second's without `axes[1]`;
        `(batch, 1)` when nothing else remains.
    """

    min_inputs = 2

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axes = tuple(axes) if isinstance(axes, (list, tuple)) else (axes, axes)
        self.normalize = normalize

    def _check_shapes(self, shapes: list[Shape]) -> None:
        if len(shapes) != 2:
            raise LayerError(f"Dot '{self.name}': expected 2 inputs, received {len(shapes)}.")
        try:
            a, b = (s[axis] for s, axis in zip(shapes, self.axes))
        except IndexError:
            raise LayerError(
                f"Dot '{self.name}': axes {self.axes} out of range for {format_shape(shapes)}."
            ) from None
        if a is not None and b is not None and a != b:
            raise LayerError(
                f"Dot '{self.name}': axes {self.axes} of {format_shape(shapes)} have sizes "
                f"{a} and {b}; expected equal sizes."
            )

    def call(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        x, y = inputs
        ax, ay = (a % t.ndim for a, t in zip(self.axes, (x, y)))
        if self.normalize:
            x, y = F.normalize(x, dim=ax), F.normalize(y, dim=ay)
        x, y = x.movedim(ax, -1), y.movedim(ay, 1)
        rest_x, rest_y = x.shape[1:-1], y.shape[2:]
        out = torch.bmm(
            x.reshape(x.shape[0], -1, x.shape[-1]), y.reshape(y.shape[0], y.shape[1], -1)
        )
        out = out.reshape(x.shape[0], *rest_x, *rest_y)
        return out.unsqueeze(1) if out.ndim == 1 else out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def concatenate(inputs: Sequence[Any], axis: int = -1, **kwargs: Any) -> Any:
    """`Concatenate(axis=axis, **kwargs)(inputs)`."""
    return Concatenate(axis=axis, **kwargs)(list(inputs))


def add(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Add(**kwargs)(inputs)`."""
    return Add(**kwargs)(list(inputs))


def subtract(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Subtract(**kwargs)(inputs)`."""
    return Subtract(**kwargs)(list(inputs))


def multiply(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Multiply(**kwargs)(inputs)`."""
    return Multiply(**kwargs)(list(inputs))


def average(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Average(**kwargs)(inputs)`."""
    return Average(**kwargs)(list(inputs))


def maximum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Maximum(**kwargs)(inputs)`."""
    return Maximum(**kwargs)(list(inputs))


def minimum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Minimum(**kwargs)(inputs)`."""
    return Minimum(**kwargs)(list(inputs))


def dot(
    inputs: Sequence[Any], axes: int | Sequence[int], normalize: bool = False, **kwargs: Any
) -> Any:
    """`Dot(axes, normalize=normalize, **kwargs)(inputs)`."""
    return Dot(axes, normalize=normalize, **kwargs)(list(inputs))


_MODES: dict[str, Callable[..., Any]] = {
    "sum": add,
    "mul": multiply,
    "ave": average,
    "max": maximum,
    "min": minimum,
}


def merge(
    inputs: Sequence[Any],
    mode: str | Callable[..., Any] = "sum",
    concat_axis: int = -1,
    dot_axes: int | Sequence[int] = -1,
    output_shape: Any = None,
    name: str | None = None,
) -> Any:
    """Keras 1's `merge`, so old code such as the seed runs unchanged.

    Args:
        inputs: the tensors to merge.
        mode: `'sum'`, `'mul'`, `'concat'`, `'ave'`, `'max'`, `'min'`, `'dot'`, `'cos'`, or a
            function of the list of inputs (wrapped in a `Lambda`).
        concat_axis: the axis for `'concat'`.
        dot_axes: the axes for `'dot'` and `'cos'`.
        output_shape: for a function `mode`, its declared output shape (checked, as Lambda).
        name: the merging layer's name.

    Example:
        >>> from lamina import Input
        >>> from lamina.layers import merge
        >>> merge([Input(shape=(4, 1, 1)), Input(shape=(4, 1, 1))], mode="concat").shape
        (None, 4, 1, 2)
    """
    kwargs: dict[str, Any] = {"name": name} if name else {}
    if callable(mode):
        from lamina.layers.function import Lambda

        return Lambda(mode, output_shape=output_shape, **kwargs)(list(inputs))
    if mode == "concat":
        return concatenate(inputs, axis=concat_axis, **kwargs)
    if mode in ("dot", "cos"):
        return dot(inputs, axes=dot_axes, normalize=mode == "cos", **kwargs)
    if mode not in _MODES:
        raise ValueError(
            f"merge: unknown mode {mode!r}; expected one of "
            f"{sorted([*_MODES, 'concat', 'dot', 'cos'])} or a function."
        )
    return _MODES[mode](inputs, **kwargs)
