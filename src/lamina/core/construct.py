"""Constructing a layer from its config, and a constructor call's arguments as a config."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lamina.core.dtypes import dtype_named


def constructor_arguments(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The arguments of a `cls(*args, **kwargs)` call by parameter name (`**kwargs` spread)."""
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)  # type: ignore[misc]
    except TypeError:
        return dict(kwargs)
    bound.apply_defaults()
    named: dict[str, Any] = {}
    for index, (key, value) in enumerate(bound.arguments.items()):
        parameter = bound.signature.parameters[key]
        if index == 0:
            continue  # self
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                named[key] = list(value)  # `construct` passes them back by position
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        else:
            named[key] = value
    return named


def construct(cls: type, config: dict[str, Any]) -> Any:
    """`cls(**config)`; the base settings (`name`, `trainable`, `dtype`) a constructor without
    `**kwargs` does not take are set on the new layer instead."""
    try:
        parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    except (TypeError, ValueError):
        return cls(**config)
    config = dict(config)
    positional: list[Any] = []
    for name, parameter in parameters.items():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL and name in config:
            positional = list(config.pop(name))
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return cls(*positional, **config)
    later = {
        k: config[k]
        for k in ("name", "trainable", "dtype", "activity_regularizer")
        if k in config and k not in parameters
    }
    layer = cls(*positional, **{k: v for k, v in config.items() if k not in later})
    if "name" in later:
        layer.name = later["name"]
    if "trainable" in later:
        layer.trainable = later["trainable"]
    if "activity_regularizer" in later:
        from lamina import regularizers

        layer.activity_regularizer = regularizers.get(later["activity_regularizer"])
    return layer


def _to_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    value = dtype_named(dtype)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"Unknown dtype {dtype!r}; expected a torch dtype or its name.")
    return value


@functools.lru_cache(maxsize=1024)
def _accepted_keywords(fn: Callable[..., Any]) -> frozenset[str]:
    """The parameter names `fn` declares; `training`/`mask` are passed only when named, as in
    Keras (a `**kwargs` catch-all does not count)."""
    if isinstance(fn, nn.Module):
        fn = fn.forward
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(p.name for p in params if p.kind is not p.VAR_KEYWORD)
