"""Constructor and activation signatures against Keras 3's: names and defaults."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from keras_cases import FIXTURES
from lamina import activations, layers

with np.load(FIXTURES / "signatures.npz") as _data:
    SIGNATURES = [json.loads(str(c)) for c in _data["cases"]]

BASE = {"name", "dtype", "trainable"}  # every Layer takes these through **kwargs


def ours(fn) -> dict[str, str | None]:
    return {
        p.name: None if p.default is p.empty else repr(p.default)
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self" and p.kind is not p.VAR_KEYWORD
    }


def same_default(keras: str | None, mine: str | None) -> bool:
    if keras == mine:
        return True
    # "Zeros" and "zeros" name the same initializer.
    return keras is not None and mine is not None and keras.lower() == mine.lower()


@pytest.mark.parametrize(
    "spec", SIGNATURES, ids=lambda s: s.get("layer") or f"activations.{s['function']}"
)
def test_names_and_defaults_match_keras(spec) -> None:
    if "layer" in spec:
        mine = ours(getattr(layers, spec["layer"]).__init__)
    else:
        mine = ours(getattr(activations, spec["function"]))
    for name, default in spec["params"].items():
        if name in BASE and name not in mine:
            continue
        assert name in mine, f"missing argument {name!r} (Keras default {default})"
        assert same_default(default, mine[name]), (name, default, mine[name])
