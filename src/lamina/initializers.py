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

import math
from collections.abc import Callable
from typing import Any

import torch

Shape = tuple[int, ...]
InitializerFn = Callable[[Shape, torch.dtype], torch.Tensor]

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

TRUNCATED_STDDEV = 0.87962566103423978
"""The standard deviation of a unit normal truncated to [-2, 2]: VarianceScaling divides by
it so that its truncated draws have the variance asked for (Keras's constant)."""


def _fans(shape: Shape) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _draw(
    shape: Shape,
    dtype: torch.dtype | None,
    seed: int | None,
    fill: Callable[[torch.Tensor, torch.Generator | None], Any],
) -> torch.Tensor:
    """A tensor of `shape` filled by `fill(tensor, generator)`: from torch's global generator
    without a seed, from a generator seeded afresh (the same values each time) with one."""
    dtype = dtype or torch.get_default_dtype()
    if seed is None:
        tensor = torch.empty(shape, dtype=dtype)
        fill(tensor, None)
        return tensor
    device = torch.empty(0).device
    if device.type == "meta":  # a load rebuilding the graph: only the shape matters
        return torch.empty(shape, dtype=dtype)
    # A CPU generator gives the same values whatever the default device is.
    tensor = torch.empty(shape, dtype=dtype, device="cpu")
    fill(tensor, torch.Generator(device="cpu").manual_seed(seed))
    return tensor.to(device)


class Initializer:
    """The base class: `__call__(shape, dtype=None) -> tensor` and `get_config()`.

    `from_config(config)` is `cls(**config)`.
    """

    def __call__(self, shape: Shape, dtype: torch.dtype | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define __call__.")

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class Constant(Initializer):
    """Every entry `value`.

    Example:
        >>> from lamina import initializers
        >>> initializers.Constant(0.5)((2,))
        tensor([0.5000, 0.5000])
    """

    def __init__(self, value: float = 0.0) -> None:
        self.value = float(value)

    def __call__(self, shape: Shape, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.full(shape, self.value, dtype=dtype or torch.get_default_dtype())

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class Zeros(Constant):
    """All zeros (Keras's default bias)."""

    def __init__(self) -> None:
        super().__init__(0.0)

    def get_config(self) -> dict[str, Any]:
        return {}


class Ones(Constant):
    """All ones."""

    def __init__(self) -> None:
        super().__init__(1.0)

    def get_config(self) -> dict[str, Any]:
        return {}


class Identity(Initializer):
    """`gain` times the identity matrix, for 2-D weights (rectangular ones too)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = float(gain)

    def __call__(self, shape: Shape, dtype: torch.dtype | None = None) -> torch.Tensor:
        if len(shape) != 2:
            raise ValueError(
                f"Identity: expected a 2-D shape, received shape={tuple(shape)}; the identity "
                "initializer is only defined for matrices."
            )
        eye = torch.eye(*shape, dtype=dtype or torch.get_default_dtype())
        return eye * self.gain if self.gain != 1 else eye

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


class _Seeded(Initializer):
    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                f"{type(self).__name__}: expected an int or None for seed, received seed={seed!r}."
            )
        self.seed = seed


class RandomNormal(_Seeded):
    """Normal with mean `mean` and standard deviation `stddev` (defaults 0.0 and 0.05)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape: Shape, dtype: torch.dtype | None = None) -> torch.Tensor:
        return _draw(
            shape, dtype, self.seed, lambda t, g: t.normal_(self.mean, self.stddev, generator=g)
        )

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(_Seeded):
    """Uniform in `[minval, maxval)` (defaults -0.05 and 0.05)."""

    def __init__(
        self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        if not float(minval) <= float(maxval):
            raise ValueError(
                f"RandomUniform: expected minval <= maxval, received minval={minval!r}, "
                f"maxval={maxval!r}."
            )
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape: Shape, dtype: torch.dtype | None = None) -> torch.Tensor:
        return _draw(
            shape, dtype, self.seed, lambda t, g: t.uniform_(self.minval, self.maxval, generator=g)
        )

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated(mean: float, stddev: float) -> Callable[[torch.Tensor, Any], Any]:
    """Normal draws kept within two standard deviations of the mean (Keras's definition:
    the resulting standard deviation is about 0.88 `stddev`)."""

    def fill(t: torch.Tensor, g: torch.Generator | None) -> Any:
        low, high = mean - 2 * stddev, mean + 2 * stddev
        return torch.nn.init.trunc_normal_(t, mean, stddev, low, high, generator=g)

    return fill


class TruncatedNormal(_Seeded):
    """Normal with `mean` and `stddev` (defaults 0.0 and 0.05), redrawn beyond two
    standard deviations."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape: Shape, dtype: torch.dtype | None = None) -> torch.Tensor:
        return _draw(shape, dtype, self.seed, _truncated(self.mean, self.stddev))

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(_Seeded):
    """Draws whose variance is `scale / n`, `n` the fan chosen by `mode`.

    Args:
        scale: the variance's numerator (positive).
        mode: `"fan_in"`, `"fan_out"` or `"fan_avg"` (their mean).
        distribution: `"truncated_normal"` (standard deviation `sqrt(scale / n) /
            0.8796...`, truncated at two of them), `"untruncated_normal"` or `"uniform"`
            (in `[-sqrt(3 scale / n), sqrt(3 scale / n)]`).
        seed: an int for the same values at every call.
    """

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        name = type(self).__name__
        if not float(scale) > 0:
            raise ValueError(f"{name}: expected a positive scale, received scale={scale!r}.")
        if mode not in self.MODES:
            raise ValueError(f"{name}: expected mode in {self.MODES}, received mode={mode!r}.")
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(
                f"{name}: expected distribution in {self.DISTRIBUTIONS}, received "
                f"distribution={distribution!r}."
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape: Shape, dtype: torch.dtype | None = None) -> torch.Tensor:
        fan_in, fan_out = _fans(tuple(shape))
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
        variance = self.scale / max(1.0, fan[self.mode])
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _draw(
                shape, dtype, self.seed, lambda t, g: t.uniform_(-limit, limit, generator=g)
            )
        stddev = math.sqrt(variance)
        if self.distribution == "untruncated_normal":
            return _draw(shape, dtype, self.seed, lambda t, g: t.normal_(0.0, stddev, generator=g))
        return _draw(shape, dtype, self.seed, _truncated(0.0, stddev / TRUNCATED_STDDEV))

    def get_config(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


class _Named(VarianceScaling):
    """A VarianceScaling with fixed settings, whose config is only its seed."""

    SETTINGS: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(*self.SETTINGS, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_Named):
    """Uniform in `[-l, l]`, `l = sqrt(6 / (fan_in + fan_out))` (Keras's default kernel)."""

    SETTINGS = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Named):
    """Truncated normal with standard deviation `sqrt(2 / (fan_in + fan_out))`."""

    SETTINGS = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_Named):
    """Truncated normal with standard deviation `sqrt(2 / fan_in)`."""

    SETTINGS = (2.0, "fan_in", "truncated_normal")


class HeUniform(_Named):
    """Uniform in `[-l, l]`, `l = sqrt(6 / fan_in)`."""

    SETTINGS = (2.0, "fan_in", "uniform")


class LecunNormal(_Named):
    """Truncated normal with standard deviation `sqrt(1 / fan_in)`."""

    SETTINGS = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_Named):
    """Uniform in `[-l, l]`, `l = sqrt(3 / fan_in)`."""

    SETTINGS = (1.0, "fan_in", "uniform")


class Orthogonal(_Seeded):
    """`gain` times a (semi-)orthogonal matrix, the weight seen as `(prod(shape[:-1]),
    shape[-1])`: orthonormal columns when it has more rows, orthonormal rows otherwise."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape: Shape, dtype: torch.dtype | None = None) -> torch.Tensor:
        if len(shape) < 2:
            raise ValueError(
                f"Orthogonal: expected a shape of at least 2 dimensions, received "
                f"shape={tuple(shape)}."
            )

        def fill(t: torch.Tensor, g: torch.Generator | None) -> Any:
            flat = t.view(-1, shape[-1]).t()  # torch reads rows from the first axis
            return torch.nn.init.orthogonal_(flat, self.gain, generator=g)

        return _draw(tuple(shape), dtype, self.seed, fill)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed}


# ---------------------------------------------------------------------------- functions
def glorot_uniform(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`GlorotUniform()(shape, dtype)`, from torch's global generator."""
    return GlorotUniform()(shape, dtype)


def glorot_normal(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`GlorotNormal()(shape, dtype)`."""
    return GlorotNormal()(shape, dtype)


def he_uniform(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`HeUniform()(shape, dtype)`."""
    return HeUniform()(shape, dtype)


def he_normal(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`HeNormal()(shape, dtype)`."""
    return HeNormal()(shape, dtype)


def lecun_uniform(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`LecunUniform()(shape, dtype)`."""
    return LecunUniform()(shape, dtype)


def lecun_normal(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`LecunNormal()(shape, dtype)`."""
    return LecunNormal()(shape, dtype)


def orthogonal(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`Orthogonal()(shape, dtype)`."""
    return Orthogonal()(shape, dtype)


def zeros(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """All zeros (Keras's default bias)."""
    return torch.zeros(shape, dtype=dtype)


def ones(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """All ones."""
    return torch.ones(shape, dtype=dtype)


def random_normal(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`RandomNormal()(shape, dtype)`: mean 0, standard deviation 0.05."""
    return RandomNormal()(shape, dtype)


def random_uniform(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`RandomUniform()(shape, dtype)`: uniform in `[-0.05, 0.05)`."""
    return RandomUniform()(shape, dtype)


def truncated_normal(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`TruncatedNormal()(shape, dtype)`."""
    return TruncatedNormal()(shape, dtype)


def variance_scaling(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`VarianceScaling()(shape, dtype)`."""
    return VarianceScaling()(shape, dtype)


def identity(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`Identity()(shape, dtype)`."""
    return Identity()(shape, dtype)


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


def deserialize(
    config: dict[str, Any], *, custom_objects: dict[str, Any] | None = None
) -> Initializer:
    """The initializer that `serialize` described as `{"class_name", "config"}`."""
    class_name = config.get("class_name")
    cls: Any = _CLASSES.get(str(class_name))
    if cls is None:
        from lamina.saving.registry import get_registered_object

        cls = get_registered_object(str(class_name), custom_objects)
    if cls is None:
        raise ValueError(
            f"Unknown initializer class {class_name!r}; expected one of "
            f"{', '.join(sorted(_CLASSES))}, or a class passed in custom_objects= or "
            "registered with lamina.saving.register_serializable()."
        )
    return cls.from_config(config.get("config", {}))  # type: ignore[no-any-return]


def get(identifier: Any) -> Any:
    """An initializer from its name (`"glorot_uniform"`, `"truncated_normal"`, ...), its
    `serialize()` dict, or itself (an `Initializer` or a function `(shape, dtype) ->
    tensor`); `None` gives zeros."""
    if identifier is None:
        return zeros
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()  # a class, as Keras accepts: its defaults
    if isinstance(identifier, str):
        fn = _FUNCTIONS.get(_ALIASES.get(identifier, identifier))
        if fn is not None:
            return fn
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(
            f"Unknown initializer {identifier!r}; expected one of "
            f"{sorted([*_FUNCTIONS, *_ALIASES])}, an Initializer such as "
            "RandomNormal(stddev=0.1), or a function (shape, dtype) -> tensor."
        )
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret initializer {identifier!r} ({type(identifier).__name__}); "
        "expected a name, an Initializer, a config dict or a function."
    )


def serialize(initializer: Any) -> Any:
    """A config form: the name of a built-in function, `{"class_name", "config"}` for an
    `Initializer`, or the function itself (which saving stores as a function)."""
    if isinstance(initializer, Initializer):
        name = type(initializer).__name__
        if _CLASSES.get(name) is not type(initializer):
            from lamina.saving.registry import get_registered_name

            name = get_registered_name(type(initializer))
        return {"class_name": name, "config": initializer.get_config()}
    for name, fn in _FUNCTIONS.items():
        if fn is initializer:
            return name
    return initializer
