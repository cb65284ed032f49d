"""Keras's `keras.models` module: models, and building them from files, configs and JSON.

Example:
    >>> from lamina import Input, Model
    >>> from lamina.layers import Dense
    >>> from lamina.models import model_from_json
    >>> x = Input(shape=(3,))
    >>> model_from_json(Model(x, Dense(2)(x)).to_json()).output_shape
    (None, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lamina.core.model import Model as Model
from lamina.core.sequential import Sequential as Sequential
from lamina.saving import load_model as load_model
from lamina.saving import model_from_config as model_from_config
from lamina.saving import save_model as save_model

__all__ = [
    "Model",
    "Sequential",
    "clone_model",
    "load_model",
    "model_from_config",
    "model_from_json",
    "save_model",
]


def model_from_json(
    text: str | bytes,
    *,
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
) -> Model:
    """Rebuild a model (with fresh weights) from `model.to_json()` text.

    Unlike Keras's, it is safe by default: functions that are not op graphs are refused
    unless `safe_mode=False`.

    Args:
        text: the JSON text.
        custom_objects: classes and functions by name (or registered key), tried first.
        safe_mode: refuse functions that are not op graphs or known by name.

    Raises:
        LoadError: for malformed JSON or config, naming what is wrong.
    """
    from lamina.saving.rebuild import model_from_json_text
    from lamina.saving.values import LoadContext

    ctx = LoadContext(safe_mode=bool(safe_mode), custom_objects=dict(custom_objects or {}))
    return model_from_json_text(text, ctx)  # type: ignore[no-any-return]


def clone_model(model: Model) -> Model:
    """A new model of the same architecture with fresh weights, through its config (so its
    functions go through the serializer; functions from your own modules are trusted).

    Example:
        >>> from lamina import Input, Model
        >>> from lamina.layers import Dense
        >>> x = Input(shape=(3,))
        >>> model = Model(x, Dense(2)(x))
        >>> clone = clone_model(model)
        >>> clone is model, clone.count_params() == model.count_params()
        (False, True)
    """
    from lamina.saving.graph import model_config

    # The model's own layer classes are at hand: no registration needed to clone it.
    classes = {
        type(m).__qualname__.rsplit(".", 1)[-1]: type(m)
        for m in model.modules()
        if not type(m).__module__.startswith("lamina.")
    }
    return model_from_config(  # type: ignore[no-any-return]
        model_config(model), custom_objects=classes, safe_mode=False
    )
