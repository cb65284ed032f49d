"""`LayerError`, the error a layer raises on inputs it cannot take, and shapes as text."""

from __future__ import annotations

from typing import Any


def format_shape(shape: Any) -> str:
    """`(None, 4)` for a shape, `[(None, 4), (None, 2)]` for several."""
    if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
        return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k!r}: {format_shape(v)}" for k, v in shape.items()) + "}"
    return "[" + ", ".join(format_shape(s) for s in shape) + "]"


class LayerError(ValueError):
    """A layer could not be built or called on the inputs it was given."""
