"""Activation functions with Keras's names, for `Dense(..., activation="relu")` and friends.

Example:
    >>> import torch
    >>> from lamina import activations
    >>> activations.get("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "elu",
    "exponential",
    "gelu",
    "get",
    "hard_sigmoid",
    "hard_silu",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mish",
    "relu",
    "relu6",
    "selu",
    "serialize",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]


def relu(x: torch.Tensor) -> torch.Tensor:
    """`max(x, 0)`."""
    return torch.relu(x)


def relu6(x: torch.Tensor) -> torch.Tensor:
    """`min(max(x, 0), 6)`."""
    return F.relu6(x)


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.2) -> torch.Tensor:
    """`x` for positive inputs, `negative_slope * x` otherwise (Keras's slope: 0.2)."""
    return F.leaky_relu(x, negative_slope)


def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """`x` for positive inputs, `alpha * (exp(x) - 1)` otherwise."""
    return F.elu(x, alpha)


def selu(x: torch.Tensor) -> torch.Tensor:
    """Scaled ELU with the self-normalizing constants."""
    return F.selu(x)


def gelu(x: torch.Tensor, approximate: bool = False) -> torch.Tensor:
    """Gaussian error linear unit (the tanh approximation when `approximate`)."""
    return F.gelu(x, approximate="tanh" if approximate else "none")


def silu(x: torch.Tensor) -> torch.Tensor:
    """`x * sigmoid(x)`."""
    return F.silu(x)


swish = silu


def mish(x: torch.Tensor) -> torch.Tensor:
    """`x * tanh(softplus(x))`."""
    return F.mish(x)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """`1 / (1 + exp(-x))`."""
    return torch.sigmoid(x)


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """`relu6(x + 3) / 6`, Keras 3's piecewise-linear sigmoid."""
    return F.hardsigmoid(x)


def hard_silu(x: torch.Tensor) -> torch.Tensor:
    """`x * hard_sigmoid(x)`."""
    return F.hardswish(x)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent."""
    return torch.tanh(x)


def softplus(x: torch.Tensor) -> torch.Tensor:
    """`log(1 + exp(x))`."""
    return F.softplus(x)


def softsign(x: torch.Tensor) -> torch.Tensor:
    """`x / (1 + |x|)`."""
    return F.softsign(x)


def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Softmax along `axis`."""
    return torch.softmax(x, dim=axis)


def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Log of the softmax along `axis`."""
    return torch.log_softmax(x, dim=axis)


def exponential(x: torch.Tensor) -> torch.Tensor:
    """`exp(x)`."""
    return torch.exp(x)


def linear(x: torch.Tensor) -> torch.Tensor:
    """The identity."""
    return x


BY_NAME: dict[str, Callable[..., torch.Tensor]] = {
    name: globals()[name] for name in __all__ if name not in ("get", "serialize")
}


def get(identifier: str | Callable[..., Any] | None) -> Callable[..., Any]:
    """The activation named `identifier`, or `identifier` itself if callable; `None` is linear."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    try:
        return BY_NAME[identifier]
    except KeyError:
        raise ValueError(
            f"Unknown activation {identifier!r}; expected a function or one of {sorted(BY_NAME)}."
        ) from None


def serialize(activation: Callable[..., Any]) -> str | Callable[..., Any]:
    """The activation's name when it is one of these, else the function itself."""
    for name, fn in BY_NAME.items():
        if fn is activation:
            return name
    return activation
