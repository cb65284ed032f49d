"""Elementwise ops, of one tensor or of two with broadcasting."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lamina.ops.recording import symbolic


# ---------------------------------------------------------------- elementwise
@symbolic
def exp(x: torch.Tensor) -> torch.Tensor:
    """`e ** x`, elementwise."""
    return torch.exp(x)


@symbolic
def log(x: torch.Tensor) -> torch.Tensor:
    """Natural logarithm, elementwise."""
    return torch.log(x)


@symbolic
def log1p(x: torch.Tensor) -> torch.Tensor:
    """`log(1 + x)`, accurate for small `x`."""
    return torch.log1p(x)


@symbolic
def expm1(x: torch.Tensor) -> torch.Tensor:
    """`exp(x) - 1`, accurate for small `x`."""
    return torch.expm1(x)


@symbolic
def sqrt(x: torch.Tensor) -> torch.Tensor:
    """Square root, elementwise."""
    return torch.sqrt(x)


@symbolic
def rsqrt(x: torch.Tensor) -> torch.Tensor:
    """`1 / sqrt(x)`, elementwise."""
    return torch.rsqrt(x)


@symbolic
def square(x: torch.Tensor) -> torch.Tensor:
    """`x * x`, elementwise."""
    return torch.square(x)


@symbolic
def abs(x: torch.Tensor) -> torch.Tensor:
    """Absolute value, elementwise."""
    return torch.abs(x)


@symbolic
def sign(x: torch.Tensor) -> torch.Tensor:
    """-1, 0 or 1 by the sign of each element."""
    return torch.sign(x)


@symbolic
def negative(x: torch.Tensor) -> torch.Tensor:
    """`-x`."""
    return torch.neg(x)


@symbolic
def sin(x: torch.Tensor) -> torch.Tensor:
    """Sine, elementwise."""
    return torch.sin(x)


@symbolic
def cos(x: torch.Tensor) -> torch.Tensor:
    """Cosine, elementwise."""
    return torch.cos(x)


@symbolic
def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent, elementwise."""
    return torch.tanh(x)


@symbolic
def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """`1 / (1 + exp(-x))`, elementwise."""
    return torch.sigmoid(x)


@symbolic
def softplus(x: torch.Tensor) -> torch.Tensor:
    """`log(1 + exp(x))`, elementwise."""
    return F.softplus(x)


@symbolic
def relu(x: torch.Tensor) -> torch.Tensor:
    """`max(x, 0)`, elementwise."""
    return torch.relu(x)


@symbolic
def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Softmax along `axis`."""
    return torch.softmax(x, dim=axis)


@symbolic
def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Log of the softmax along `axis`, computed stably."""
    return torch.log_softmax(x, dim=axis)


@symbolic
def floor(x: torch.Tensor) -> torch.Tensor:
    """Largest integer not above each element."""
    return torch.floor(x)


@symbolic
def ceil(x: torch.Tensor) -> torch.Tensor:
    """Smallest integer not below each element."""
    return torch.ceil(x)


@symbolic
def round(x: torch.Tensor) -> torch.Tensor:
    """Nearest integer, halves to even."""
    return torch.round(x)


@symbolic
def erf(x: torch.Tensor) -> torch.Tensor:
    """The error function, elementwise."""
    return torch.erf(x)


# ---------------------------------------------------------------- binary
@symbolic
def add(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 + x2` with broadcasting."""
    return torch.add(torch.as_tensor(x1), x2)


@symbolic
def subtract(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 - x2` with broadcasting."""
    return torch.sub(torch.as_tensor(x1), x2)


@symbolic
def multiply(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 * x2` with broadcasting."""
    return torch.mul(torch.as_tensor(x1), x2)


@symbolic
def divide(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 / x2` with broadcasting (true division)."""
    return torch.div(torch.as_tensor(x1), x2)


@symbolic
def power(x1: Any, x2: Any) -> torch.Tensor:
    """`x1 ** x2` with broadcasting."""
    return torch.pow(torch.as_tensor(x1), x2)


@symbolic
def maximum(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise maximum with broadcasting."""
    x1, x2 = _tensors(x1, x2)
    return torch.maximum(x1, x2)


@symbolic
def minimum(x1: Any, x2: Any) -> torch.Tensor:
    """Elementwise minimum with broadcasting."""
    x1, x2 = _tensors(x1, x2)
    return torch.minimum(x1, x2)


def _tensors(x1: Any, x2: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(x1, torch.Tensor):
        return x1, torch.as_tensor(x2, dtype=x1.dtype, device=x1.device)
    x2 = torch.as_tensor(x2)
    return torch.as_tensor(x1, dtype=x2.dtype, device=x2.device), x2


@symbolic
def matmul(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Matrix product with numpy's broadcasting rules."""
    return torch.matmul(x1, x2)


@symbolic
def where(condition: torch.Tensor, x1: Any, x2: Any) -> torch.Tensor:
    """`x1` where `condition` holds, else `x2`."""
    return torch.where(condition, x1, x2)


@symbolic
def clip(x: torch.Tensor, x_min: float | None, x_max: float | None) -> torch.Tensor:
    """Limit the values of `x` to `[x_min, x_max]`."""
    return torch.clamp(x, x_min, x_max)
