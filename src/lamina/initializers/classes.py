"""Keras 3's initializer classes with their arguments, seeds and fan conventions (see the
package's docstring)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

Shape = tuple[int, ...]
InitializerFn = Callable[[Shape, torch.dtype], torch.Tensor]


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
