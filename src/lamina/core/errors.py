"""`LayerError`, the error a layer raises on inputs it cannot take, shapes as text, and
`warn`, which points a warning at the user's line."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import torch

# Frames in these folders are lamina's or torch's (nn.Module.__call__), never the user's.
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.dirname(os.path.abspath(path))) + os.sep
    for path in (__file__, torch.nn.__file__)
)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """`warnings.warn` attributed to the first caller outside lamina and torch, so the
    warning names the user's file and line whatever depth lamina warns from (Python 3.12's
    `skip_file_prefixes`, for every supported Python)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)


def format_shape(shape: Any) -> str:
    """`(None, 4)` for a shape, `[(None, 4), (None, 2)]` for several; names of axes in an
    expected shape print bare: `(None, rows, cols, channels)`."""
    if isinstance(shape, tuple) and all(d is None or isinstance(d, (int, str)) for d in shape):
        return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k!r}: {format_shape(v)}" for k, v in shape.items()) + "}"
    return "[" + ", ".join(format_shape(s) for s in shape) + "]"


class LayerError(ValueError):
    """A layer could not be built or called on the inputs it was given."""
