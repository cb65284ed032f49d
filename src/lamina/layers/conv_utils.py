"""What the convolution and pooling layers share: their argument checks, Keras's "same" and
"causal" padding worked out for torch, and output lengths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lamina import config as lamina_config

InitializerArg = str | dict[str, Any] | Callable[..., Any]
IntOrTuple = int | Sequence[int]
Pads = list[tuple[int, int]]

SPATIAL_AXES = {1: ("steps",), 2: ("rows", "cols"), 3: ("dim1", "dim2", "dim3")}


def standardize_data_format(layer: str, value: str | None) -> str:
    if value is None:
        return lamina_config.image_data_format()
    if not isinstance(value, str) or value.lower() not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{layer}: expected data_format 'channels_last', 'channels_first' or None, "
            f"received {value!r}."
        )
    return value.lower()


def standardize_tuple(layer: str, arg: str, value: Any, rank: int, *, zero: bool = False) -> Any:
    """`value` (an int or `rank` ints) as a tuple of `rank` positive (or non-negative) ints."""
    items = (value,) * rank if isinstance(value, int) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    lowest = 0 if zero else 1
    if len(items) != rank or not all(isinstance(v, int) and v >= lowest for v in items):
        kind = "non-negative" if zero else "positive"
        raise ValueError(
            f"{layer}: expected {arg} to be a {kind} int or a tuple of {rank} {kind} ints, "
            f"received {value!r}."
        )
    return items


def standardize_padding(layer: str, value: Any, allowed: tuple[str, ...]) -> str:
    padding = value.lower() if isinstance(value, str) else value
    if padding not in allowed:
        raise ValueError(
            f"{layer}: expected padding {' or '.join(repr(p) for p in allowed)}, "
            f"received {value!r}."
        )
    return padding


def same_pads(
    sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int]
) -> Pads:
    """Keras's "same" padding: `ceil(n / s)` outputs, the odd padded value on the right."""
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def static_pads(
    padding: str, kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int]
) -> Pads | None:
    """The padding when it does not depend on the input's size; `None` when it does."""
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "causal":
        return [((kernel[0] - 1) * dilation[0], 0)]
    if all(s == 1 for s in strides):
        return same_pads([1] * len(kernel), kernel, strides, dilation)
    return None


def pad_for_torch(x: torch.Tensor, pads: Pads, value: float = 0.0) -> tuple[torch.Tensor, Any]:
    """`x` and the symmetric padding torch takes; uneven `pads` are applied with `F.pad`."""
    if all(left == right for left, right in pads):
        return x, tuple(left for left, _ in pads)
    flat = [amount for pair in reversed(pads) for amount in pair]
    return F.pad(x, flat, value=value), (0,) * len(pads)


def conv_output_length(
    n: int | None, kernel: int, stride: int, dilation: int, padding: str
) -> int | None:
    if n is None:
        return None
    if padding in ("same", "causal"):
        return -(-n // stride)
    return (n - (kernel - 1) * dilation - 1) // stride + 1
