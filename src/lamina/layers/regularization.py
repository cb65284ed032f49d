"""Regularization layers: `SpatialDropout1D/2D/3D`, `GaussianNoise`, `GaussianDropout`,
`AlphaDropout` (all identity at inference, as in Keras) and `ActivityRegularization`.

(`Dropout` is in `core.py`.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch

from lamina import regularizers
from lamina.core.layer import Layer, LayerError, format_shape
from lamina.layers.core import Dropout


def _check_rate(
    layer: str, name: str, value: Any, *, upper: float = 1.0, closed: bool = False
) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (0 <= value <= upper if closed else 0 <= value < upper):
        if upper == math.inf:
            wanted = "a number >= 0"
        else:
            wanted = f"a number in [0, {upper:g}" + ("]" if closed else ")")
        raise ValueError(f"{layer}: expected {wanted} for {name}, received {value!r}.")
    return float(value)


class _Random:
    """A layer's source of noise: torch's global generator, or its own when seeded."""

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self.generator: torch.Generator | None = None

    def get(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return None
        if self.generator is None or self.generator.device != device:
            self.generator = torch.Generator(device=device).manual_seed(self.seed)
        return self.generator


def _training(layer: Layer, training: bool | None) -> bool:
    return layer.training if training is None else bool(training)


class _SpatialDropout(Dropout):
    """Dropout of whole channels: one keep/drop draw per sample and channel."""

    rank = 0

    def __init__(
        self,
        rate: float,
        *,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(
                f"{type(self).__name__}: expected data_format 'channels_last' or "
                f"'channels_first', received {data_format!r}."
            )
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = data_format or "channels_last"

    def build(self, input_shape: Any) -> None:
        self.check_input_shape(input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        if not isinstance(shapes, tuple) or len(shapes) != self.rank + 2:
            where = "(batch, steps..., channels)"
            if self.data_format == "channels_first":
                where = "(batch, channels, steps...)"
            raise LayerError(
                f"{type(self).__name__} '{self.name}': expected a {self.rank + 2}-D input "
                f"{where}, received shape {format_shape(shapes)}."
            )

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not _training(self, training) or self.rate == 0:
            return inputs
        shape = [1] * inputs.ndim
        shape[0] = inputs.shape[0]
        channel = 1 if self.data_format == "channels_first" else -1
        shape[channel] = inputs.shape[channel]
        if self.seed is not None and self._generator is None:
            self._generator = torch.Generator(device=inputs.device).manual_seed(self.seed)
        keep = torch.rand(shape, device=inputs.device, generator=self._generator) >= self.rate
        return inputs * keep.to(inputs.dtype) / (1 - self.rate)

    def get_config(self) -> dict[str, Any]:
        config = {**Layer.get_config(self), "rate": self.rate, "seed": self.seed}
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drop whole channels of `(batch, steps, channels)` sequences during training.

    Args:
        rate: the fraction of channels to drop, in `[0, 1)`; the rest are scaled by
            `1 / (1 - rate)`.
        seed: a seed for repeatable masks.

    Call arguments:
        training: drop only when true; `None` follows the layer's mode (`fit` turns it on).
    """

    rank = 1

    def __init__(self, rate: float, *, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Drop whole feature maps of `(batch, height, width, channels)` images during training.

    Args:
        rate: the fraction of channels to drop, in `[0, 1)`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: a seed for repeatable masks.

    Example:
        >>> import torch
        >>> from lamina.layers import SpatialDropout2D
        >>> y = SpatialDropout2D(0.5, seed=1)(torch.ones(2, 3, 3, 4), training=True)
        >>> bool(((y == 0) | (y == 2)).all())
        True
    """

    rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drop whole feature volumes of `(batch, d1, d2, d3, channels)` inputs during training.

    Args:
        rate: the fraction of channels to drop, in `[0, 1)`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: a seed for repeatable masks.
    """

    rank = 3


class GaussianNoise(Layer):
    """Add zero-mean Gaussian noise of standard deviation `stddev` during training.

    Args:
        stddev: the noise's standard deviation, in `[0, 1]` as in Keras.
        seed: a seed for repeatable noise.

    Call arguments:
        training: add noise only when true; `None` follows the layer's mode.
    """

    supports_masking = True

    def __init__(self, stddev: float, *, seed: int | None = None, **kwargs: Any) -> None:
        stddev = _check_rate("GaussianNoise", "stddev", stddev, closed=True)
        super().__init__(**kwargs)
        self.stddev = stddev
        self.seed = seed
        self._random = _Random(seed)

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not _training(self, training) or self.stddev == 0:
            return inputs
        generator = self._random.get(inputs.device)
        noise = torch.randn(
            inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype
        )
        return inputs + self.stddev * noise

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiply by Gaussian noise of mean 1 and variance `rate / (1 - rate)` during training.

    Args:
        rate: the drop probability of the equivalent `Dropout`, in `[0, 1)`.
        seed: a seed for repeatable noise.

    Call arguments:
        training: apply noise only when true; `None` follows the layer's mode.
    """

    supports_masking = True

    def __init__(self, rate: float, *, seed: int | None = None, **kwargs: Any) -> None:
        rate = _check_rate("GaussianDropout", "rate", rate)
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self._random = _Random(seed)

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not _training(self, training) or self.rate == 0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        generator = self._random.get(inputs.device)
        noise = torch.randn(
            inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype
        )
        return inputs * (1.0 + stddev * noise)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


# SELU's constants: dropped units take SELU's negative saturation value.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(Layer):
    """Dropout for self-normalizing (SELU) networks: keeps the mean and variance of inputs.

    Dropped units are set to SELU's negative saturation value `-alpha * scale`, then an affine
    correction restores the inputs' mean and variance (Klambauer et al., 2017).

    Args:
        rate: the fraction to drop, in `[0, 1)`.
        noise_shape: a shape broadcast against the input, `None` entries taking the input's
            size (`None` for the input's own shape).
        seed: a seed for repeatable masks.

    Call arguments:
        training: drop only when true; `None` follows the layer's mode.
    """

    supports_masking = True

    def __init__(
        self,
        rate: float,
        *,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        rate = _check_rate("AlphaDropout", "rate", rate)
        super().__init__(**kwargs)
        self.rate = rate
        self.noise_shape = tuple(noise_shape) if noise_shape is not None else None
        self.seed = seed
        self._random = _Random(seed)

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not _training(self, training) or self.rate == 0:
            return inputs
        noise_shape = self.noise_shape or tuple(inputs.shape)
        shape = [s if d is None else d for d, s in zip(noise_shape, inputs.shape)]
        generator = self._random.get(inputs.device)
        keep = torch.rand(shape, generator=generator, device=inputs.device) >= self.rate
        keep = keep.to(inputs.dtype)
        saturation = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * saturation**2)) ** -0.5
        b = -a * saturation * self.rate
        return cast(torch.Tensor, a * (inputs * keep + saturation * (1 - keep)) + b)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }


class ActivityRegularization(Layer):
    """The identity, adding `(l1 * sum(|x|) + l2 * sum(x**2)) / batch_size` to the losses.

    The penalty is added on every call (in training and at inference, as in Keras); `fit`
    adds it to the loss it minimizes, and `layer.losses` shows the latest one.

    Args:
        l1: the weight of the L1 penalty, >= 0.
        l2: the weight of the L2 penalty, >= 0.

    Example:
        >>> import torch
        >>> from lamina.layers import ActivityRegularization
        >>> layer = ActivityRegularization(l1=0.1)
        >>> _ = layer(torch.ones(2, 3))
        >>> layer.losses
        [tensor(0.3000)]
    """

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        l1 = _check_rate("ActivityRegularization", "l1", l1, upper=math.inf)
        l2 = _check_rate("ActivityRegularization", "l2", l2, upper=math.inf)
        kwargs.pop("activity_regularizer", None)  # it is made of l1 and l2
        super().__init__(**kwargs)
        self.l1 = l1
        self.l2 = l2
        # Layer.forward adds the penalty, divided by the batch size, at each call.
        self.activity_regularizer = regularizers.L1L2(l1=l1, l2=l2)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "l1": self.l1, "l2": self.l2}
        config.pop("activity_regularizer", None)
        return config


__all__ = [
    "ActivityRegularization",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
]
