"""Weight initializers with Keras 3's classes, names, arguments and fan conventions.

Keras lays a Dense kernel out as `(input_dim, units)` and a convolution kernel as
`(*kernel_size, in_channels, out_channels)`, so fans are read from the last two axes; torch's
own `nn.init` helpers read them the other way round, which is why the fans are computed here.

Two forms work wherever an initializer is expected: the functions `glorot_uniform(shape,
dtype)`, ... (what a name such as `"glorot_uniform"` gives, drawing from torch's global
generator, so `lamina.utils.set_random_seed` repeats them), and the classes
`GlorotUniform(seed=None)`, ... with Keras's arguments.

Seeds: an instance given an int `seed` returns the same values at every call, as Keras 3's
seeded initializers do (two layers given the same seeded instance get equal weights). An
unseeded instance draws from torch's global generator, so each call differs; Keras 3 instead
gives an unseeded instance a random seed once, and so repeats its values too.

Example:
    >>> import torch
    >>> from lamina import initializers
    >>> init = initializers.GlorotUniform(seed=1)
    >>> bool((init((3, 4)) == init((3, 4))).all())
    True
"""

from __future__ import annotations

from typing import Any

from lamina.core.catalog import Catalog
from lamina.initializers.classes import TRUNCATED_STDDEV as TRUNCATED_STDDEV
from lamina.initializers.classes import Constant as Constant
from lamina.initializers.classes import GlorotNormal as GlorotNormal
from lamina.initializers.classes import GlorotUniform as GlorotUniform
from lamina.initializers.classes import HeNormal as HeNormal
from lamina.initializers.classes import HeUniform as HeUniform
from lamina.initializers.classes import Identity as Identity
from lamina.initializers.classes import Initializer as Initializer
from lamina.initializers.classes import InitializerFn as InitializerFn
from lamina.initializers.classes import LecunNormal as LecunNormal
from lamina.initializers.classes import LecunUniform as LecunUniform
from lamina.initializers.classes import Ones as Ones
from lamina.initializers.classes import Orthogonal as Orthogonal
from lamina.initializers.classes import RandomNormal as RandomNormal
from lamina.initializers.classes import RandomUniform as RandomUniform
from lamina.initializers.classes import Shape as Shape
from lamina.initializers.classes import TruncatedNormal as TruncatedNormal
from lamina.initializers.classes import VarianceScaling as VarianceScaling
from lamina.initializers.classes import Zeros as Zeros
from lamina.initializers.functions import glorot_normal as glorot_normal
from lamina.initializers.functions import glorot_uniform as glorot_uniform
from lamina.initializers.functions import he_normal as he_normal
from lamina.initializers.functions import he_uniform as he_uniform
from lamina.initializers.functions import identity as identity
from lamina.initializers.functions import lecun_normal as lecun_normal
from lamina.initializers.functions import lecun_uniform as lecun_uniform
from lamina.initializers.functions import ones as ones
from lamina.initializers.functions import orthogonal as orthogonal
from lamina.initializers.functions import random_normal as random_normal
from lamina.initializers.functions import random_uniform as random_uniform
from lamina.initializers.functions import truncated_normal as truncated_normal
from lamina.initializers.functions import variance_scaling as variance_scaling
from lamina.initializers.functions import zeros as zeros

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "constant",
    "deserialize",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "serialize",
    "truncated_normal",
    "variance_scaling",
    "zeros",
]

constant = Constant

_FUNCTIONS: dict[str, InitializerFn] = {
    fn.__name__: fn
    for fn in (
        glorot_normal,
        glorot_uniform,
        he_normal,
        he_uniform,
        identity,
        lecun_normal,
        lecun_uniform,
        ones,
        orthogonal,
        random_normal,
        random_uniform,
        truncated_normal,
        variance_scaling,
        zeros,
    )
}
_ALIASES = {"normal": "random_normal", "uniform": "random_uniform", "one": "ones", "zero": "zeros"}
_CLASSES: dict[str, type[Initializer]] = {
    cls.__name__: cls
    for cls in (
        Constant,
        GlorotNormal,
        GlorotUniform,
        HeNormal,
        HeUniform,
        Identity,
        LecunNormal,
        LecunUniform,
        Ones,
        Orthogonal,
        RandomNormal,
        RandomUniform,
        TruncatedNormal,
        VarianceScaling,
        Zeros,
    )
}
_CATALOG = Catalog(
    "initializer", Initializer, _CLASSES, {}, hint="RandomNormal(stddev=0.1) or a function"
)


def deserialize(
    config: dict[str, Any], *, custom_objects: dict[str, Any] | None = None
) -> Initializer:
    """The initializer that `serialize` described as `{"class_name", "config"}`."""
    return _CATALOG.deserialize(config, custom_objects=custom_objects)


def get(identifier: Any) -> Any:
    """An initializer from its name (`"glorot_uniform"`, `"truncated_normal"`, ...), its
    `serialize()` dict, or itself (an `Initializer` or a function `(shape, dtype) ->
    tensor`); `None` gives zeros."""
    if identifier is None:
        return zeros
    if isinstance(identifier, str):
        fn = _FUNCTIONS.get(_ALIASES.get(identifier, identifier))
        if fn is not None:
            return fn
        if identifier not in _CLASSES:
            raise ValueError(
                f"Unknown initializer {identifier!r}; expected one of "
                f"{sorted([*_FUNCTIONS, *_ALIASES])}, an Initializer such as "
                "RandomNormal(stddev=0.1), or a function (shape, dtype) -> tensor."
            )
    return _CATALOG.get(identifier)


def serialize(initializer: Any) -> Any:
    """A config form: the name of a built-in function, `{"class_name", "config"}` for an
    `Initializer`, or the function itself (which saving stores as a function)."""
    for name, fn in _FUNCTIONS.items():
        if fn is initializer:
            return name
    return _CATALOG.serialize(initializer)
