"""Layer-config values as JSON, and back: constants, callables and nested layers.

`get_config()` returns plain Python values, callables (a Lambda's function, a custom
activation) and sometimes layers (a wrapper's inner layer). `encode_value` turns a config into
JSON-safe values: constants as `lamina.core.config.encode` tags them (`{"__tuple__": [...]}`, ...),
callables as `{"__function__": <serialize_function config>}`, layers as
`{"__layer__": <layer entry>}`. `decode_value` is its strict inverse: every tag is checked
before anything is built, and nothing in the value is imported or run (functions load through
`deserialize_function`, which is safe by default).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lamina.core import config as lconfig
from lamina.core.dtypes import DTYPES
from lamina.saving.errors import LoadError, SaveError
from lamina.saving.limits import LoadLimits, json_elements

__all__ = [
    "MAX_DEPTH",
    "EncodedFunction",
    "LoadContext",
    "decode_value",
    "encode_value",
    "parse_json",
]

MAX_DEPTH = 128
"""Deepest nesting of JSON values accepted: far beyond real configs, far below the stack."""

FUNCTION = "__function__"
LAYER = "__layer__"
MODULE = "__torch_module__"

_MAX_RANK = 32
_MAX_SLOT = 1 << 16


@dataclass
class LoadContext:
    """What loading needs to know: where the config comes from and what it may use.

    Attributes:
        source: the file being loaded, for messages; empty for a config given in memory.
        safe_mode: refuse functions that are not op graphs or known by name (see
            `deserialize_function`).
        custom_objects: names (or registered keys) of classes and functions to use.
        trusted_modules: modules whose functions may be imported in safe mode.
        limits: the bounds on sizes and counts (see `LoadLimits`).
    """

    source: str = ""
    safe_mode: bool = True
    custom_objects: Mapping[str, Any] = field(default_factory=dict)
    trusted_modules: tuple[str, ...] = ()
    limits: LoadLimits = field(default_factory=LoadLimits)

    @property
    def where(self) -> str:
        return f"'{self.source}'" if self.source else "model config"

    def error(self, message: str, cls: type[LoadError] = LoadError) -> LoadError:
        return cls(f"{self.where}: {message}")


# ------------------------------------------------------------------------------ encoding
class EncodedFunction:
    """A function config already made with a trace (a function layer's, a loss's, ...;
    see `graph` and `function_roles`), which `encode_value` stores as it is."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config


def encode_value(value: Any, owner: str, depth: int = 0) -> Any:
    """The JSON-safe form of one config value of `owner` (e.g. `"Lambda 'lambda_1'"`).

    Raises:
        SaveError: naming `owner`, for a function or value that cannot be stored.
    """
    if depth > MAX_DEPTH:
        raise SaveError(f"{owner}: a config value is nested more than {MAX_DEPTH} levels deep.")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    from lamina.core.layer import Layer

    if isinstance(value, Layer):
        from lamina.saving.graph import serialize_layer

        return {LAYER: serialize_layer(value)}
    if isinstance(value, torch.nn.Module):
        from lamina.saving.torch_modules import encode_module

        entry = encode_module(value, owner)
        entry["config"] = encode_value(entry["config"], owner, depth + 1)
        return {MODULE: entry}
    if isinstance(value, list):
        return [encode_value(v, owner, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode_value(v, owner, depth + 1) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode_value(v, owner, depth + 1) for k, v in value.items()}
        return {
            "__dict__": [
                [encode_value(k, owner, depth + 1), encode_value(v, owner, depth + 1)]
                for k, v in value.items()
            ]
        }
    if isinstance(value, EncodedFunction):
        return {FUNCTION: value.config}
    if callable(value) and not isinstance(value, (np.ndarray, torch.Tensor)):
        from lamina.saving.functions import serialize_function

        try:
            return {FUNCTION: serialize_function(value, owner=owner)}
        except ValueError as error:
            raise SaveError(str(error)) from error
    try:
        return lconfig.encode(value)
    except TypeError as error:
        raise SaveError(
            f"{owner}: {error} Give the layer a get_config() that returns plain values "
            "(numbers, strings, lists, dicts, arrays, functions)."
        ) from error


# ------------------------------------------------------------------------------ decoding
def decode_value(value: Any, ctx: LoadContext, owner: str, depth: int = 0) -> Any:
    """The Python value `encode_value` turned into `value`; strict about every tag.

    Raises:
        LoadError: naming the file and `owner`, for anything malformed.
        FunctionDeserializationError: from `deserialize_function` (unsafe or broken function).
    """
    if depth > MAX_DEPTH:
        raise ctx.error(f"{owner}: config nested more than {MAX_DEPTH} levels deep.")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode_value(v, ctx, owner, depth + 1) for v in value]
    if not isinstance(value, dict):
        raise ctx.error(f"{owner}: unexpected {type(value).__name__} in config.")
    tags = [k for k in value if isinstance(k, str) and k.startswith("__")]
    if not tags:
        return {k: decode_value(v, ctx, owner, depth + 1) for k, v in value.items()}
    tag = tags[0]
    body = value[tag]
    if tag != "__array__" and len(value) != 1:
        raise ctx.error(f"{owner}: a {tag} value must have no other keys, found {sorted(value)}.")
    if tag == "__tuple__":
        return tuple(decode_value(v, ctx, owner, depth + 1) for v in _list(body, tag, ctx, owner))
    if tag == "__dict__":
        out: dict[Any, Any] = {}
        for pair in _list(body, tag, ctx, owner):
            if not isinstance(pair, list) or len(pair) != 2:
                raise ctx.error(f"{owner}: __dict__ items must be [key, value] pairs.")
            key = decode_value(pair[0], ctx, owner, depth + 1)
            try:
                out[key] = decode_value(pair[1], ctx, owner, depth + 1)
            except TypeError:
                raise ctx.error(f"{owner}: unhashable dict key {str(pair[0])[:60]}.") from None
        return out
    if tag == FUNCTION:
        return _decode_function(body, ctx, owner)
    if tag == LAYER:
        from lamina.saving.rebuild import deserialize_layer

        return deserialize_layer(body, ctx)
    if tag == MODULE:
        from lamina.saving.torch_modules import decode_module

        if isinstance(body, dict) and "config" in body:
            body = {**body, "config": decode_value(body["config"], ctx, owner, depth + 1)}
        return decode_module(body, ctx, owner)
    return _decode_leaf(tag, value, ctx, owner, depth)


def _list(body: Any, tag: str, ctx: LoadContext, owner: str) -> list[Any]:
    if not isinstance(body, list):
        raise ctx.error(f"{owner}: {tag} must hold a list, found {type(body).__name__}.")
    return body


def _decode_function(body: Any, ctx: LoadContext, owner: str) -> Callable[..., Any]:
    from lamina.saving.functions import deserialize_function

    if not isinstance(body, dict):
        raise ctx.error(f"{owner}: a function config must be a dict, found {type(body).__name__}.")
    return deserialize_function(
        body,
        safe_mode=ctx.safe_mode,
        custom_objects=ctx.custom_objects,
        trusted_modules=ctx.trusted_modules,
        source=ctx.source,
        owner=owner,
    )


def _decode_leaf(tag: str, value: dict[str, Any], ctx: LoadContext, owner: str, depth: int) -> Any:
    body = value[tag]
    if tag == "__slice__":
        parts = _list(body, tag, ctx, owner)
        if len(parts) != 3 or not all(p is None or type(p) is int for p in parts):
            raise ctx.error(f"{owner}: __slice__ must be [start, stop, step] of ints or null.")
        return slice(*parts)
    if tag == "__ellipsis__":
        return Ellipsis
    if tag == "__slot__":
        if type(body) is not int or not 0 <= body < _MAX_SLOT:
            raise ctx.error(f"{owner}: __slot__ must be a small non-negative int, found {body!r}.")
        return lconfig.Slot(body)
    if tag == "__dtype__":
        if not isinstance(body, str) or body not in DTYPES:
            raise ctx.error(f"{owner}: unknown dtype {str(body)[:40]!r}; expected a torch dtype.")
        return DTYPES[body]
    if tag == "__array__":
        return _decode_array(value, ctx, owner)
    raise ctx.error(
        f"{owner}: unknown tag {tag[:40]!r} in config; expected a value written by lamina "
        "(__tuple__, __dict__, __slice__, __ellipsis__, __slot__, __dtype__, __array__, "
        "__function__, __layer__, __torch_module__). Was the file written by a newer lamina?"
    )


def _decode_array(value: dict[str, Any], ctx: LoadContext, owner: str) -> Any:
    if set(value) != {"__array__", "dtype", "shape", "data"} or value["__array__"] not in (
        "tensor",
        "ndarray",
    ):
        raise ctx.error(f"{owner}: malformed __array__ value (keys {sorted(value)}).")
    try:
        dtype = np.dtype(value["dtype"]) if isinstance(value["dtype"], str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biufc" or dtype.subdtype is not None:
        raise ctx.error(f"{owner}: array dtype {str(value['dtype'])[:40]!r} is not numeric.")
    shape = value["shape"]
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_RANK
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise ctx.error(f"{owner}: bad array shape {str(shape)[:60]}.")
    data = value["data"]
    if not isinstance(data, str) or len(data) > 2 * lconfig.MAX_ARRAY_BYTES:
        raise ctx.error(f"{owner}: array data must be base64 text of at most 1 MiB.")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ctx.error(f"{owner}: array data is not valid base64.") from None
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise ctx.error(
            f"{owner}: array of shape {tuple(shape)} and dtype {dtype} needs "
            f"{math.prod(shape) * dtype.itemsize} bytes, found {len(raw)}."
        )
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return torch.from_numpy(array) if value["__array__"] == "tensor" else array


# ------------------------------------------------------------------------------ JSON
def parse_json(
    text: str | bytes, what: str, ctx: LoadContext, *, max_elements: int | None = None
) -> Any:
    """JSON from `text`, refusing nesting deeper than `MAX_DEPTH` and more values than
    `max_elements` (default: the context's `max_json_elements`, counted before parsing)."""
    limit = ctx.limits.max_json_elements if max_elements is None else max_elements
    count = json_elements(text)
    if count > limit:
        raise ctx.error(
            f"{what} holds up to {count} JSON values, over the limit of {limit}; for a file "
            "you trust, raise it: load_model(..., limits=LoadLimits(max_json_elements=...))."
        )
    try:
        value = json.loads(text)
    except RecursionError:
        raise ctx.error(f"{what} is nested too deeply to be a lamina file.") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ctx.error(f"{what} is not valid JSON: {error}.") from None
    check_depth(value, what, ctx)
    return value


def check_depth(value: Any, what: str, ctx: LoadContext) -> None:
    """Raise if `value` nests lists and dicts deeper than `MAX_DEPTH` (checked without
    recursion, so any depth gives this error and never a RecursionError)."""
    # Level by level: json.loads makes only plain dicts and lists, so `type(...) is` is
    # exact, and a level is one list whatever its width (60,000 layers cost milliseconds).
    level, depth = [value], 0
    while level:
        children: list[Any] = []
        for item in level:
            kind = type(item)
            if kind is dict:
                children.extend(item.values())
            elif kind is list:
                children.extend(item)
        depth += 1
        if children and depth > MAX_DEPTH:
            raise ctx.error(f"{what} is nested more than {MAX_DEPTH} levels deep.")
        level = children


def sequence_of(value: Any, kind: type, what: str, ctx: LoadContext) -> Sequence[Any]:
    """`value` checked to be a list of `kind`."""
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise ctx.error(f"{what} must be a list of {kind.__name__}, found {str(value)[:60]}.")
    return value
