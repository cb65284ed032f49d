"""Tensor functions for use inside function layers, with Keras's names and arguments.

Each function is a thin wrapper over torch. Called on torch tensors it computes; called on
symbolic tensors it records an operation layer, so `ops.exp(log_var)` is valid while building
a model (and shows in summaries, plots and saved files).

Example:
    >>> import torch
    >>> from lamina import ops
    >>> ops.sum(torch.ones(2, 3), axis=1)
    tensor([3., 3.])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
import torch.nn.functional as F

from lamina import random
from lamina.core.tensor import SymbolicTensor

Axis = int | Sequence[int] | None
_F = TypeVar("_F", bound=Callable[..., Any])

RAW: dict[str, Callable[..., Any]] = {}
"""The plain torch implementations by name; `Operation` layers call these."""


def _has_symbolic(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    for value in (*args, *kwargs.values()):
        if isinstance(value, SymbolicTensor):
            return True
        if isinstance(value, (list, tuple)) and any(isinstance(v, SymbolicTensor) for v in value):
            return True
    return False


def symbolic(fn: _F) -> _F:
    """Make `fn` record an operation layer when any argument is a symbolic tensor."""
    RAW[fn.__name__] = fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _has_symbolic(args, kwargs):
            from lamina.layers.function import Operation

            return Operation.record(fn.__name__, args, kwargs)
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _dims(x: torch.Tensor, axis: Axis) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


class Shape(tuple):  # type: ignore[type-arg]
    """A tensor's shape as a tuple that remembers the tensor's device.

    `ops.random.normal(ops.shape(x))` thereby draws on `x`'s device, as Keras code expects.
    """

    device: torch.device | None = None


def shape(x: Any) -> tuple[int | None, ...]:
    """The shape of `x` as a tuple (`None` for a symbolic tensor's batch dimension)."""
    if isinstance(x, SymbolicTensor):
        return x.shape
    result = Shape(x.shape)
    result.device = x.device
    return result


# ---------------------------------------------------------------- elementwise
@symbolic
def exp(x: torch.Tensor) -> torch.Tensor:
    """`e ** x`, elementwise."""
    return torch.exp(x)


@symbolic
def log(x: torch.Tensor) -> torch.Tensor:
    """Natural logarithm, elementwise."""
    return torch.log(x)


@symbolic
def log1p(x: torch.Tensor) -> torch.Tensor:
    """`log(1 + x)`, accurate for small `x`."""
    return torch.log1p(x)


@symbolic
def expm1(x: torch.Tensor) -> torch.Tensor:
    """`exp(x) - 1`, accurate for small `x`."""
    return torch.expm1(x)


@symbolic
def sqrt(x: torch.Tensor) -> torch.Tensor:
    """Square root, elementwise."""
    return torch.sqrt(x)


@symbolic
def rsqrt(x: torch.Tensor) -> torch.Tensor:
    """`1 / sqrt(x)`, elementwise."""
    return torch.rsqrt(x)


@symbolic
def square(x: torch.Tensor) -> torch.Tensor:
    """`x * x`, elementwise."""
    return torch.square(x)


@symbolic
def abs(x: torch.Tensor) -> torch.Tensor:
    """Absolute value, elementwise."""
    return torch.abs(x)


@symbolic
def sign(x: torch.Tensor) -> torch.Tensor:
    """-1, 0 or 1 by the sign of each element."""
    return torch.sign(x)


@symbolic
def negative(x: torch.Tensor) -> torch.Tensor:
    """`-x`."""
    return torch.neg(x)


@symbolic
def sin(x: torch.Tensor) -> torch.Tensor:
    """Sine, elementwise."""
    return torch.sin(x)


@symbolic
def cos(x: torch.Tensor) -> torch.Tensor:
    """Cosine, elementwise."""
    return torch.cos(x)


@symbolic
def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent, elementwise."""
    return torch.tanh(x)


@symbolic
def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """`1 / (1 + exp(-x))`, elementwise."""
    return torch.sigmoid(x)


@symbolic
def softplus(x: torch.Tensor) -> torch.Tensor:
    """`log(1 + exp(x))`, elementwise."""
    return F.softplus(x)


@symbolic
def relu(x: torch.Tensor) -> torch.Tensor:
    """`max(x, 0)`, elementwise."""
    return torch.relu(x)


@symbolic
def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Softmax along `axis`."""
    return torch.softmax(x, dim=axis)


@symbolic
def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Log of the softmax along `axis`, computed stably."""
    return torch.log_softmax(x, dim=axis)


@symbolic
def floor(x: torch.Tensor) -> torch.Tensor:
    """Largest integer not above each element."""
    return torch.floor(x)


@symbolic
def ceil(x: torch.Tensor) -> torch.Tensor:
    """Smallest integer not below each element."""
    return torch.ceil(x)


@symbolic
def round(x: torch.Tensor) -> torch.Tensor:
    """Nearest integer, halves to even."""
    return torch.round(x)


@symbolic
def erf(x: torch.Tensor) -> torch.Tensor:
    """The error function, elementwise."""
    return torch.erf(x)


# ---------------------------------------------------------------- binary
@symbolic
def add(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 + x2` with broadcasting."""
    return torch.add(torch.as_tensor(x1), x2)


@symbolic
def subtract(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 - x2` with broadcasting."""
    return torch.sub(torch.as_tensor(x1), x2)


@symbolic
def multiply(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 * x2` with broadcasting."""
    return torch.mul(torch.as_tensor(x1), x2)


@symbolic
def divide(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 / x2` with broadcasting (true division)."""
    return torch.div(torch.as_tensor(x1), x2)


@symbolic
def power(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 ** x2` with broadcasting."""
    return torch.pow(torch.as_tensor(x1), x2)


@symbolic
def maximum(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise maximum with broadcasting."""
    x1, x2 = _tensors(x1, x2)
    return torch.maximum(x1, x2)


@symbolic
def minimum(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise minimum with broadcasting."""
    x1, x2 = _tensors(x1, x2)
    return torch.minimum(x1, x2)


def _tensors(x1: Any, x2: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(x1, torch.Tensor):
        return x1, torch.as_tensor(x2, dtype=x1.dtype, device=x1.device)
    x2 = torch.as_tensor(x2)
    return torch.as_tensor(x1, dtype=x2.dtype, device=x2.device), x2


@symbolic
def matmul(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Matrix product with numpy's broadcasting rules."""
    return torch.matmul(x1, x2)


@symbolic
def where(condition: torch.Tensor, x1: Any, x2: Any) -> torch.Tensor:
    """`x1` where `condition` holds, else `x2`."""
    return torch.where(condition, x1, x2)


@symbolic
def clip(x: torch.Tensor, x_min: float | None, x_max: float | None) -> torch.Tensor:
    """Limit the values of `x` to `[x_min, x_max]`."""
    return torch.clamp(x, x_min, x_max)


# ---------------------------------------------------------------- reductions
@symbolic
def sum(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Sum over `axis` (all axes when `None`)."""
    return torch.sum(x, dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def mean(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Mean over `axis` (all axes when `None`)."""
    return torch.mean(x, dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def max(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Maximum over `axis` (all axes when `None`)."""
    return torch.amax(x, dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def min(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Minimum over `axis` (all axes when `None`)."""
    return torch.amin(x, dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def prod(x: torch.Tensor, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Product over one `axis`, or of all elements when `None`."""
    if axis is None:
        result = torch.prod(x)
        return result.reshape([1] * x.ndim) if keepdims else result
    return torch.prod(x, dim=axis, keepdim=keepdims)


@symbolic
def var(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Population variance over `axis`, as Keras (no Bessel correction)."""
    return torch.var(x, dim=_dims(x, axis), keepdim=keepdims, correction=0)


@symbolic
def std(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """Population standard deviation over `axis`, as Keras (no Bessel correction)."""
    return torch.std(x, dim=_dims(x, axis), keepdim=keepdims, correction=0)


@symbolic
def logsumexp(x: torch.Tensor, axis: Axis = None, keepdims: bool = False) -> torch.Tensor:
    """`log(sum(exp(x)))` over `axis`, computed stably."""
    return torch.logsumexp(x, dim=_dims(x, axis), keepdim=keepdims)


@symbolic
def argmax(x: torch.Tensor, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Index of the maximum along `axis` (of the flattened tensor when `None`)."""
    return torch.argmax(x, dim=axis, keepdim=keepdims)


@symbolic
def argmin(x: torch.Tensor, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Index of the minimum along `axis` (of the flattened tensor when `None`)."""
    return torch.argmin(x, dim=axis, keepdim=keepdims)


@symbolic
def cumsum(x: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """Cumulative sum along `axis`."""
    return torch.cumsum(x, dim=axis)


@symbolic
def norm(x: torch.Tensor, ord: Any = None, axis: Axis = None, keepdims: bool = False) -> Any:
    """Vector or matrix norm (`torch.linalg.norm`)."""
    return torch.linalg.norm(x, ord=ord, dim=axis, keepdim=keepdims)


# ---------------------------------------------------------------- shapes
@symbolic
def reshape(x: torch.Tensor, newshape: Sequence[int]) -> torch.Tensor:
    """`x` with shape `newshape` (one entry may be -1)."""
    return torch.reshape(x, tuple(newshape))


@symbolic
def transpose(x: torch.Tensor, axes: Sequence[int] | None = None) -> torch.Tensor:
    """Permute the axes of `x` (reverse them when `axes` is `None`, as numpy)."""
    return x.permute(tuple(axes) if axes is not None else tuple(reversed(range(x.ndim))))


@symbolic
def expand_dims(x: torch.Tensor, axis: int) -> torch.Tensor:
    """Insert an axis of size 1 at `axis`."""
    return torch.unsqueeze(x, axis)


@symbolic
def squeeze(x: torch.Tensor, axis: Axis = None) -> torch.Tensor:
    """Remove axes of size 1 (only `axis` when given)."""
    return torch.squeeze(x) if axis is None else torch.squeeze(x, _dims(x, axis))


@symbolic
def concatenate(xs: Sequence[torch.Tensor], axis: int = 0) -> torch.Tensor:
    """Join tensors along an existing axis."""
    return torch.cat(tuple(xs), dim=axis)


@symbolic
def stack(xs: Sequence[torch.Tensor], axis: int = 0) -> torch.Tensor:
    """Join tensors along a new axis."""
    return torch.stack(tuple(xs), dim=axis)


@symbolic
def split(x: torch.Tensor, indices_or_sections: int | Sequence[int], axis: int = 0) -> Any:
    """Split into equal sections (an int) or at the given indices, as numpy."""
    if isinstance(indices_or_sections, int):
        size = x.shape[axis]
        if size % indices_or_sections:
            raise ValueError(
                f"split: axis {axis} of size {size} does not divide into "
                f"{indices_or_sections} equal sections."
            )
        return list(torch.split(x, size // indices_or_sections, dim=axis))
    return list(torch.tensor_split(x, list(indices_or_sections), dim=axis))


@symbolic
def tile(x: torch.Tensor, repeats: Sequence[int]) -> torch.Tensor:
    """Repeat the whole tensor `repeats[i]` times along each axis `i`."""
    return torch.tile(x, tuple(repeats))


@symbolic
def repeat(x: torch.Tensor, repeats: int, axis: int | None = None) -> torch.Tensor:
    """Repeat each element `repeats` times along `axis` (numpy's `repeat`)."""
    return torch.repeat_interleave(x, repeats, dim=axis)


@symbolic
def flip(x: torch.Tensor, axis: Axis = None) -> torch.Tensor:
    """Reverse the order of elements along `axis` (all axes when `None`)."""
    return torch.flip(x, _dims(x, axis))


@symbolic
def cast(x: torch.Tensor, dtype: torch.dtype | str) -> torch.Tensor:
    """`x` converted to `dtype` (a torch dtype or its name)."""
    if isinstance(dtype, str):
        named = getattr(torch, dtype, None)
        if not isinstance(named, torch.dtype):
            raise ValueError(f"cast: unknown dtype {dtype!r}; expected a torch dtype name.")
        dtype = named
    return x.to(dtype)


@symbolic
def zeros_like(x: torch.Tensor) -> torch.Tensor:
    """Zeros of `x`'s shape, dtype and device."""
    return torch.zeros_like(x)


@symbolic
def ones_like(x: torch.Tensor) -> torch.Tensor:
    """Ones of `x`'s shape, dtype and device."""
    return torch.ones_like(x)


@symbolic
def one_hot(x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot float encoding of integer `x`, a new last axis of `num_classes`."""
    return F.one_hot(x.long(), num_classes).to(torch.get_default_dtype())


@symbolic
def einsum(subscripts: str, *operands: torch.Tensor) -> torch.Tensor:
    """Einstein summation, as `numpy.einsum`."""
    return torch.einsum(subscripts, *operands)


__all__ = [
    "Shape",
    "abs",
    "add",
    "argmax",
    "argmin",
    "cast",
    "ceil",
    "clip",
    "concatenate",
    "cos",
    "cumsum",
    "divide",
    "einsum",
    "erf",
    "exp",
    "expand_dims",
    "expm1",
    "flip",
    "floor",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "negative",
    "norm",
    "one_hot",
    "ones_like",
    "power",
    "prod",
    "random",
    "relu",
    "repeat",
    "reshape",
    "round",
    "rsqrt",
    "shape",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "softplus",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "subtract",
    "sum",
    "tanh",
    "tile",
    "transpose",
    "var",
    "where",
    "zeros_like",
]
