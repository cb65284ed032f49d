"""What a saved function config is made of: its version and kinds, and its encoded values.

Both sides of the function serializer share these: ``function_saver`` writes configs and
``function_loader`` reads them. Encoded values (closure constants, default values, partial
arguments) are plain JSON or ``{"__lamina__": tag, ...}`` dicts, as described in
``lamina.saving.functions``; ``function_label`` names a function or a config for messages.
"""

from __future__ import annotations

import base64
import functools
import math
from typing import Any

import numpy as np
import torch

from lamina.saving import op_table

VERSION = 2
"""Version 2 saves function layers as op graphs; version 1's safe expressions need trust."""
KINDS = ("registered", "named", "partial", "graph", "module", "source", "expression")
_DTYPE_NAMES = {dtype: name for name, dtype in op_table.DTYPES.items()}


class FunctionDeserializationError(ValueError):
    """A saved function config is malformed or refers to something that does not exist."""


class UnsafeFunctionError(FunctionDeserializationError):
    """Safe mode refused a saved function: it is code that needs trust to load."""


MAX_CONSTANT_ELEMENTS = 1_000_000
_MAX_NESTING = 8  # helper functions inside helper functions
_MAX_VALUE_DEPTH = 32
_TAG = "__lamina__"
_ARRAY_DTYPES = frozenset(
    ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")
) | {"complex64", "complex128"}

# --------------------------------------------------------------------------- values


class _Unencodable(Exception):
    pass


def _encode(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_VALUE_DEPTH:
        raise _Unencodable("it is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is int:
        return value
    if type(value) is float:
        if math.isfinite(value):
            return value
        return {_TAG: "float", "value": "nan" if math.isnan(value) else str(value)}
    if type(value) is list:
        return [_encode(v, depth + 1) for v in value]
    if type(value) is tuple:
        return {_TAG: "tuple", "items": [_encode(v, depth + 1) for v in value]}
    if type(value) is dict:
        items = [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()]
        return {_TAG: "dict", "items": items}
    if isinstance(value, torch.dtype) and value in _DTYPE_NAMES:
        return {_TAG: "ref", "path": f"torch.{_DTYPE_NAMES[value]}"}
    if isinstance(value, (np.ndarray, np.generic)):
        return _encode_array(np.asarray(value), "ndarray", value.dtype.name)
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().resolve_conj().resolve_neg()
        dtype = str(tensor.dtype).removeprefix("torch.")
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        return _encode_array(tensor.numpy(), "tensor", dtype)
    raise _Unencodable(f"it is a {type(value).__name__}")


def _encode_array(array: np.ndarray, tag: str, dtype: str) -> dict[str, Any]:
    if array.dtype.name not in _ARRAY_DTYPES:
        raise _Unencodable(f"it is an array of dtype {array.dtype}")
    if array.size > MAX_CONSTANT_ELEMENTS:
        raise _Unencodable(
            f"it is an array of {array.size:,} values, more than {MAX_CONSTANT_ELEMENTS:,}; "
            f"make it a layer weight or a model input instead"
        )
    out: dict[str, Any] = {_TAG: tag, "dtype": dtype, "shape": list(array.shape)}
    if array.size <= 64 and array.dtype.kind in "biuf" and np.isfinite(array).all():
        out["data"] = array.reshape(-1).tolist()
    else:
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        out["data"] = base64.b64encode(np.ascontiguousarray(little).tobytes()).decode("ascii")
    return out


def _decode(value: Any, where: str, depth: int = 0) -> Any:
    if depth > _MAX_VALUE_DEPTH:
        raise FunctionDeserializationError(f"{where}: value is nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, where, depth + 1) for v in value]
    if not isinstance(value, dict):
        raise FunctionDeserializationError(
            f"{where}: expected a JSON value, got {type(value).__name__}"
        )
    tag = value.get(_TAG)
    if tag in ("tuple", "dict"):
        items = value.get("items")
        if not isinstance(items, list):
            raise FunctionDeserializationError(f"{where}: a {tag} needs a list of 'items'")
        if tag == "tuple":
            return tuple(_decode(v, where, depth + 1) for v in items)
        out = {}
        for pair in items:
            if not isinstance(pair, list) or len(pair) != 2:
                raise FunctionDeserializationError(f"{where}: dict items must be [key, value]")
            key = _decode(pair[0], where, depth + 1)
            try:
                out[key] = _decode(pair[1], where, depth + 1)
            except TypeError:
                raise FunctionDeserializationError(f"{where}: unhashable dict key") from None
        return out
    if tag == "float" and value.get("value") in ("nan", "inf", "-inf"):
        return float(value["value"])
    if tag == "ref":
        path = value.get("path")
        name = path.removeprefix("torch.") if isinstance(path, str) else None
        if name not in op_table.DTYPES:
            raise UnsafeFunctionError(f"{where}: reference {str(path)[:80]!r} is not a dtype")
        return op_table.DTYPES[name]
    if tag in ("ndarray", "tensor"):
        return _decode_array(value, tag, where)
    raise FunctionDeserializationError(
        f"{where}: unknown encoded value {str(value)[:80]}; expected plain JSON or a "
        f"{{'{_TAG}': 'tuple' | 'dict' | 'float' | 'ref' | 'ndarray' | 'tensor', ...}} dict"
    )


def _decode_array(value: dict[str, Any], tag: str, where: str) -> Any:
    dtype, shape, data = value.get("dtype"), value.get("shape"), value.get("data")
    allowed = _ARRAY_DTYPES | ({"bfloat16"} if tag == "tensor" else set())
    if not isinstance(dtype, str) or dtype not in allowed:
        raise FunctionDeserializationError(
            f"{where}: array dtype {dtype!r} is not one of {sorted(allowed)}"
        )
    if (
        not isinstance(shape, list)
        or len(shape) > 32
        or not all(type(d) is int and 0 <= d <= MAX_CONSTANT_ELEMENTS for d in shape)
    ):
        raise FunctionDeserializationError(f"{where}: bad array shape {str(shape)[:80]}")
    size = math.prod(shape)
    if size > MAX_CONSTANT_ELEMENTS:
        raise FunctionDeserializationError(f"{where}: array of {size} values is too big")
    np_dtype = np.dtype("float32" if dtype == "bfloat16" else dtype)
    if isinstance(data, list):
        kinds = {"b": (bool,), "i": (bool, int), "u": (bool, int)}.get(np_dtype.kind)
        if len(data) != size or not all(type(v) in (kinds or (bool, int, float)) for v in data):
            raise FunctionDeserializationError(
                f"{where}: array data must be {size} numbers of dtype {dtype} for shape {shape}"
            )
        try:
            with np.errstate(all="raise"):
                array = np.array(data, dtype=np_dtype).reshape(shape)
        except (OverflowError, ValueError, FloatingPointError) as err:
            raise FunctionDeserializationError(f"{where}: bad array data: {err}") from None
    elif isinstance(data, str):
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raise FunctionDeserializationError(f"{where}: array data is not base64") from None
        if len(raw) != size * np_dtype.itemsize:
            raise FunctionDeserializationError(
                f"{where}: array data has {len(raw)} bytes, expected "
                f"{size * np_dtype.itemsize} for shape {shape} and dtype {dtype}"
            )
        little = np.frombuffer(raw, dtype=np_dtype.newbyteorder("<"))
        array = little.astype(np_dtype).reshape(shape)
    else:
        raise FunctionDeserializationError(f"{where}: array data must be a list or base64")
    if tag == "ndarray":
        return array
    tensor = torch.from_numpy(array)
    return tensor.to(torch.bfloat16) if dtype == "bfloat16" else tensor


# --------------------------------------------------------------------------- labels


def function_label(fn_or_config: Any) -> str:
    """A short name for display: ``'slice'``, ``'<lambda>'``, ``'exp'``.

    Example:
        >>> function_label(lambda x: x)
        '<lambda>'
        >>> function_label({"kind": "named", "name": "exp", "path": "torch.exp"})
        'exp'
    """
    if isinstance(fn_or_config, dict):
        name = fn_or_config.get("name")
        return name if isinstance(name, str) else "?"
    if isinstance(fn_or_config, functools.partial):
        return function_label(fn_or_config.func)
    name = getattr(fn_or_config, "__name__", None)
    return name if isinstance(name, str) else type(fn_or_config).__name__
