"""Decoding what a graph config stores beside its layers, checked before use.

Each node's output specs (shapes and dtypes, so the layer need not run again), its nested
tensor references, and a subclassed model's input specs, on zeros of which it is called to
create its weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from lamina.core.budget import BuildLimitError, charge
from lamina.core.dtypes import DTYPES
from lamina.core.layer import Layer
from lamina.core.shape_inference import Spec
from lamina.core.tensor import flatten, map_structure
from lamina.saving.graph import TENSOR
from lamina.saving.values import LoadContext, decode_value

__all__ = ["decode_specs"]


_MAX_RANK = 64


def decode_specs(value: Any) -> Any:
    """The output specs `graph.encode_specs` stored, or None when absent or malformed (the
    layer is then run to infer them, as for a file written before specs were stored).

    Trusting them is safe: they only name shapes and dtypes; the weights are still checked
    against the layers they build, and a wrong shape fails when the model runs.
    """
    try:
        return _decode_specs(value)
    except (TypeError, ValueError, KeyError):
        return None


def _decode_specs(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 3 and value[0] == "spec":
        _, shape, dtype = value
        if not isinstance(shape, list) or len(shape) > _MAX_RANK:
            raise ValueError("shape")
        for dim in shape:
            if dim is not None and (type(dim) is not int or not 0 <= dim < 1 << 48):
                raise ValueError("dim")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ValueError("dtype")
        return Spec(tuple(shape), DTYPES[dtype])
    if isinstance(value, dict) and len(value) == 1:
        ((kind, items),) = value.items()
        if not isinstance(items, list):
            raise TypeError(kind)
        if kind == "list":
            return [_decode_specs(item) for item in items]
        if kind == "tuple":
            return tuple(_decode_specs(item) for item in items)
        if kind == "dict":
            return {str(key): _decode_specs(item) for key, item in items}
    raise ValueError("not a spec structure")


def _build_by_calling(layer: Layer, build_config: Any, ctx: LoadContext, owner: str) -> None:
    """Create a subclassed model's weights the way it first did: call it, here on zeros of
    the shapes and dtypes it was first called on (batch 1 where the batch was free), their
    bytes counted against the load's budget (`LoadLimits.max_build_bytes`) first."""
    specs = (
        decode_specs(build_config.get("input_specs")) if isinstance(build_config, dict) else None
    )
    if specs is None:
        raise ctx.error(f"model {owner}: 'build_config' must hold the input specs it was built on.")
    shapes = [([1 if d is None else d for d in s.shape], s.dtype) for s in flatten(specs)]
    total = sum(math.prod(shape) * dtype.itemsize for shape, dtype in shapes)
    limit = ctx.limits.max_build_bytes
    try:
        if total > limit:
            raise BuildLimitError(
                f"'build_config' asks for inputs of {total:,} bytes, over the limit of "
                f"{limit:,} (LoadLimits.max_build_bytes)."
            )
        for shape, dtype in shapes:
            charge("an input of 'build_config'", shape, dtype)
    except BuildLimitError as error:
        raise ctx.error(f"model {owner}: {error}") from None
    zeros = map_structure(
        lambda spec: torch.zeros([1 if d is None else d for d in spec.shape], dtype=spec.dtype),
        specs,
    )
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            layer(zeros)
    except Exception as error:
        raise ctx.error(
            f"model {owner}: calling it on zeros of its saved input shapes, to create its "
            f"weights, failed: {type(error).__name__}: {error}"
        ) from error


def _struct_refs(value: Any, ctx: LoadContext, where: str) -> list[Any]:
    found: list[Any] = []

    def record(ref: Any, _where: str) -> None:
        found.append(ref)

    _decode_struct(value, record, ctx, where)
    return found


def _decode_struct(
    value: Any, resolve: Callable[[Any, str], Any], ctx: LoadContext, where: str, depth: int = 0
) -> Any:
    if depth > 64:
        raise ctx.error(f"{where}: inputs nested too deeply.")
    if isinstance(value, list):
        return [_decode_struct(v, resolve, ctx, where, depth + 1) for v in value]
    if isinstance(value, dict):
        if TENSOR in value and len(value) == 1:
            return resolve(value[TENSOR], where)
        if "__tuple__" in value and len(value) == 1 and isinstance(value["__tuple__"], list):
            return tuple(
                _decode_struct(v, resolve, ctx, where, depth + 1) for v in value["__tuple__"]
            )
        if "__dict__" in value and len(value) == 1 and isinstance(value["__dict__"], list):
            out = {}
            for pair in value["__dict__"]:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise ctx.error(f"{where}: __dict__ items must be [key, value] pairs.")
                key = decode_value(pair[0], ctx, where)
                try:
                    out[key] = _decode_struct(pair[1], resolve, ctx, where, depth + 1)
                except TypeError:
                    raise ctx.error(f"{where}: unhashable key in inputs.") from None
            return out
        if not any(k.startswith("__") for k in value):
            return {k: _decode_struct(v, resolve, ctx, where, depth + 1) for k, v in value.items()}
    raise ctx.error(
        f"{where}: expected a tensor reference {{'{TENSOR}': [layer, node, index]}} or a "
        f"list/tuple/dict of them, found {str(value)[:80]}."
    )
