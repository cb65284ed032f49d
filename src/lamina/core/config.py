"""JSON-safe encoding of the constants that appear in layer configs.

`get_config()` returns plain Python values; some of them (slices, `...`, tuples, dtypes,
arrays, the tensor slots of an `Operation`) have no JSON form, so they are tagged here:
`{"__slice__": [start, stop, step]}` and so on. `decode(encode(v)) == v` for every value
`encode` accepts; anything else raises `TypeError` naming the value.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import torch

from lamina.core.dtypes import dtype_named

MAX_ARRAY_BYTES = 1 << 20


class Slot:
    """Where the `index`-th input tensor goes in an `Operation`'s arguments."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Slot) and other.index == self.index

    def __hash__(self) -> int:
        return hash(("Slot", self.index))

    def __repr__(self) -> str:
        return f"Slot({self.index})"


def encode(value: Any) -> Any:
    """A JSON-compatible form of `value`."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"__dict__": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, slice):
        return {"__slice__": [encode(value.start), encode(value.stop), encode(value.step)]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, Slot):
        return {"__slot__": value.index}
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).replace("torch.", "")}
    if isinstance(value, (np.generic,)):
        return encode(value.item())
    if isinstance(value, (np.ndarray, torch.Tensor)):
        kind = "tensor" if isinstance(value, torch.Tensor) else "ndarray"
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        array = np.ascontiguousarray(array)
        if array.nbytes > MAX_ARRAY_BYTES:
            raise TypeError(
                f"An array constant of {array.nbytes} bytes is too large for a config "
                f"(limit {MAX_ARRAY_BYTES}); store it as a weight instead."
            )
        if array.dtype.kind == "O":
            raise TypeError("Arrays of Python objects cannot be stored in a config.")
        return {
            "__array__": kind,
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "data": base64.b64encode(array.tobytes()).decode("ascii"),
        }
    raise TypeError(f"Cannot store a {type(value).__name__} ({value!r}) in a config.")


def decode(value: Any) -> Any:
    """The Python value that `encode` turned into `value`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {decode(k): decode(v) for k, v in value["__dict__"]}
    if "__slice__" in value:
        return slice(*(decode(v) for v in value["__slice__"]))
    if "__ellipsis__" in value:
        return Ellipsis
    if "__slot__" in value:
        return Slot(int(value["__slot__"]))
    if "__dtype__" in value:
        named = dtype_named(value["__dtype__"])
        if named is None:
            raise ValueError(f"Unknown dtype {value['__dtype__']!r} in config.")
        return named
    if "__array__" in value:
        dtype = np.dtype(value["dtype"])
        if dtype.kind == "O":
            raise ValueError("Arrays of Python objects are not allowed in a config.")
        shape = tuple(int(d) for d in value["shape"])
        raw = base64.b64decode(value["data"], validate=True)
        if len(raw) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise ValueError(f"Array constant of shape {shape} has {len(raw)} bytes of data.")
        array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        return torch.from_numpy(array) if value["__array__"] == "tensor" else array
    return {k: decode(v) for k, v in value.items()}
