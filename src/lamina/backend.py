"""The basics of `keras.backend` for code written against it: settings, `clear_session`,
dtype names. lamina has one backend, torch.

Example:
    >>> from lamina import backend as K
    >>> K.backend(), K.epsilon(), K.image_data_format()
    ('torch', 1e-07, 'channels_last')
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch

from lamina.config import epsilon as epsilon
from lamina.config import floatx as floatx
from lamina.config import image_data_format as image_data_format
from lamina.config import set_epsilon as set_epsilon
from lamina.config import set_floatx as set_floatx
from lamina.config import set_image_data_format as set_image_data_format
from lamina.core.dtypes import dtype_named
from lamina.core.layer import clear_session as _clear_layer_names
from lamina.core.tensor import SymbolicTensor

__all__ = [
    "backend",
    "clear_session",
    "epsilon",
    "floatx",
    "get_uid",
    "image_data_format",
    "is_float_dtype",
    "is_int_dtype",
    "is_keras_tensor",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "standardize_dtype",
]

_uids: defaultdict[str, int] = defaultdict(int)


def backend() -> str:
    """The backend's name: always `"torch"`."""
    return "torch"


def clear_session() -> None:
    """Restart automatic layer names and `get_uid` counts, as Keras's `clear_session`."""
    _clear_layer_names()
    _uids.clear()


def get_uid(prefix: str = "") -> int:
    """1 for the first call with `prefix`, then 2, 3, ... (until `clear_session`)."""
    _uids[prefix] += 1
    return _uids[prefix]


def is_keras_tensor(x: Any) -> bool:
    """Whether `x` is a symbolic tensor (from `Input` or a layer called on one)."""
    return isinstance(x, SymbolicTensor)


def standardize_dtype(dtype: Any) -> str:
    """A dtype's name: `torch.float32`, `"float32"` and `np.float32` all give `"float32"`;
    `None` gives `floatx()`."""
    if dtype is None:
        return floatx()
    if isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", "")
    name = getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or str(dtype)
    if dtype_named(name) is None:
        raise ValueError(f"standardize_dtype: received {dtype!r}, which is not a dtype.")
    return name


def is_float_dtype(dtype: Any) -> bool:
    """Whether `dtype` is a floating-point type."""
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype: Any) -> bool:
    """Whether `dtype` is a (signed or unsigned) integer type."""
    return standardize_dtype(dtype).startswith(("int", "uint"))
