"""Activation functions with Keras 3's names, for `Dense(..., activation="relu")` and friends.

Each works on torch tensors and on symbolic tensors: called while building a model, it records
an `Operation` layer (op `activations.<name>`), which shows in summaries and saves by name.

Example:
    >>> import torch
    >>> from lamina import Input, activations
    >>> activations.get("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    >>> activations.relu(Input(shape=(3,)), max_value=6.0).shape
    (None, 3)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.nn.functional as F

from lamina import ops
from lamina.core.tensor import SymbolicTensor

__all__ = [
    "celu",
    "deserialize",
    "elu",
    "exponential",
    "gelu",
    "get",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "relu",
    "relu6",
    "selu",
    "serialize",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
    "threshold",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def _activation(fn: _F) -> _F:
    """Register `fn` as the operation `activations.<name>`; on a symbolic tensor, record it."""
    op = f"activations.{fn.__name__}"
    ops.RAW[op] = fn

    @functools.wraps(fn)
    def wrapper(x: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(x, SymbolicTensor):
            from lamina.layers.operation import Operation

            return Operation.record(op, (x, *args), kwargs)
        return fn(x, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@_activation
def relu(
    x: torch.Tensor,
    negative_slope: float = 0.0,
    max_value: float | None = None,
    threshold: float = 0.0,
) -> torch.Tensor:
    """`max(x, 0)`; with Keras's options, piecewise:

    `max_value` for `x >= max_value`, `x` for `threshold < x < max_value`, and
    `negative_slope * (x - threshold)` below `threshold`.

    Args:
        x: the input.
        negative_slope: the slope below `threshold`.
        max_value: the largest output (`None` for no limit).
        threshold: the value below which inputs are damped.
    """
    if negative_slope == 0 and max_value is None and threshold == 0:
        return torch.relu(x)
    if threshold == 0 and max_value is None:
        return F.leaky_relu(x, negative_slope)
    out = torch.relu(x) if threshold == 0 else torch.where(x > threshold, x, 0.0)
    if max_value is not None:
        out = torch.clamp(out, 0.0, max_value)
    if negative_slope != 0:
        out = out - negative_slope * torch.relu(threshold - x)
    return out


@_activation
def relu6(x: torch.Tensor) -> torch.Tensor:
    """`min(max(x, 0), 6)`."""
    return F.relu6(x)


@_activation
def leaky_relu(x: torch.Tensor, negative_slope: float = 0.2) -> torch.Tensor:
    """`x` for positive inputs, `negative_slope * x` otherwise (Keras's slope: 0.2)."""
    return F.leaky_relu(x, negative_slope)


@_activation
def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """`x` for positive inputs, `alpha * (exp(x) - 1)` otherwise."""
    return F.elu(x, alpha)


@_activation
def celu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """`max(x, 0) + min(alpha * (exp(x / alpha) - 1), 0)`: ELU, continuously differentiable."""
    return F.celu(x, alpha)


@_activation
def selu(x: torch.Tensor) -> torch.Tensor:
    """Scaled ELU with the self-normalizing constants."""
    return F.selu(x)


@_activation
def gelu(x: torch.Tensor, approximate: bool = False) -> torch.Tensor:
    """Gaussian error linear unit (the tanh approximation when `approximate`)."""
    return F.gelu(x, approximate="tanh" if approximate else "none")


@_activation
def glu(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Gated linear unit: `a * sigmoid(b)`, where `a` and `b` are the two halves of `axis`."""
    if x.shape[axis] % 2:
        raise ValueError(
            f"glu: axis {axis} must have an even size to split in halves, received shape "
            f"{tuple(x.shape)}."
        )
    return F.glu(x, dim=axis)


@_activation
def silu(x: torch.Tensor) -> torch.Tensor:
    """`x * sigmoid(x)`."""
    return F.silu(x)


swish = silu


@_activation
def mish(x: torch.Tensor) -> torch.Tensor:
    """`x * tanh(softplus(x))`."""
    return F.mish(x)


@_activation
def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """`1 / (1 + exp(-x))`."""
    return torch.sigmoid(x)


@_activation
def log_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """`log(sigmoid(x))`, computed stably."""
    return F.logsigmoid(x)


@_activation
def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """`relu6(x + 3) / 6`, Keras 3's piecewise-linear sigmoid."""
    return F.hardsigmoid(x)


@_activation
def sparse_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """0 below -1, 1 above 1, `(x + 1) / 2` between."""
    return torch.clamp((x + 1) / 2, 0.0, 1.0)


@_activation
def hard_silu(x: torch.Tensor) -> torch.Tensor:
    """`x * hard_sigmoid(x)`."""
    return F.hardswish(x)


hard_swish = hard_silu


@_activation
def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent."""
    return torch.tanh(x)


@_activation
def hard_tanh(x: torch.Tensor) -> torch.Tensor:
    """`x` clipped to `[-1, 1]`."""
    return F.hardtanh(x)


@_activation
def tanh_shrink(x: torch.Tensor) -> torch.Tensor:
    """`x - tanh(x)`."""
    return F.tanhshrink(x)


@_activation
def hard_shrink(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """`x` where `|x| > threshold`, 0 elsewhere."""
    return F.hardshrink(x, threshold)


@_activation
def soft_shrink(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """`x` moved `threshold` towards 0; 0 where `|x| <= threshold`."""
    return F.softshrink(x, threshold)


@_activation
def threshold(x: torch.Tensor, threshold: float, default_value: float) -> torch.Tensor:
    """`x` where `x > threshold`, `default_value` elsewhere."""
    return F.threshold(x, threshold, default_value)


@_activation
def softplus(x: torch.Tensor) -> torch.Tensor:
    """`log(1 + exp(x))`."""
    return F.softplus(x)


@_activation
def sparse_plus(x: torch.Tensor) -> torch.Tensor:
    """0 below -1, `x` above 1, `(x + 1)**2 / 4` between: a smooth, sparse relu."""
    return torch.where(x <= -1, 0.0, torch.where(x >= 1, x, (x + 1) ** 2 / 4))


@_activation
def squareplus(x: torch.Tensor, b: float = 4) -> torch.Tensor:
    """`(x + sqrt(x**2 + b)) / 2`, a softplus without exponentials."""
    if b < 0:
        raise ValueError(f"squareplus: expected b >= 0, received {b!r}.")
    return (x + torch.sqrt(x * x + b)) / 2


@_activation
def softsign(x: torch.Tensor) -> torch.Tensor:
    """`x / (1 + |x|)`."""
    return F.softsign(x)


@_activation
def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Softmax along `axis`."""
    return torch.softmax(x, dim=axis)


@_activation
def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Log of the softmax along `axis`."""
    return torch.log_softmax(x, dim=axis)


@_activation
def sparsemax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """The Euclidean projection of `x` onto the probability simplex along `axis`.

    Like softmax it sums to 1, but small entries are exactly 0 (Martins & Astudillo, 2016).
    """
    z = x.movedim(axis, -1)
    sorted_z = torch.sort(z, dim=-1, descending=True).values
    ranks = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cumulative = sorted_z.cumsum(-1)
    support = (1 + ranks * sorted_z > cumulative).sum(-1, keepdim=True)
    tau = (cumulative.gather(-1, support - 1) - 1) / support.to(z.dtype)
    return torch.clamp(z - tau, min=0.0).movedim(-1, axis)


@_activation
def exponential(x: torch.Tensor) -> torch.Tensor:
    """`exp(x)`."""
    return torch.exp(x)


def linear(x: Any) -> Any:
    """The identity (on symbolic tensors too: it records nothing)."""
    return x


BY_NAME: dict[str, Callable[..., Any]] = {
    name: globals()[name] for name in __all__ if name not in ("deserialize", "get", "serialize")
}
# Aliases come after their function's own name, so that `serialize` gives Keras's name.
_NAMES: dict[int, str] = {}
for _name, _fn in BY_NAME.items():
    _NAMES.setdefault(id(_fn), _name)
_NAMES[id(silu)] = "silu"
_NAMES[id(hard_silu)] = "hard_silu"


def get(identifier: str | dict[str, Any] | Callable[..., Any] | None) -> Callable[..., Any]:
    """The activation named `identifier`, or `identifier` itself if callable; `None` is linear.

    A Keras 3 config dict (`{"class_name": "function", "config": "relu", ...}`) is accepted too.
    """
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    try:
        return BY_NAME[identifier]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown activation {identifier!r}; expected a function or one of {sorted(BY_NAME)}."
        ) from None


def deserialize(
    config: str | dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> Callable[..., Any]:
    """The activation a name or a Keras 3 function config (`{"config": "relu", ...}`) names;
    `custom_objects` maps further names to functions."""
    name = config.get("config") if isinstance(config, dict) else config
    if custom_objects and isinstance(name, str) and name in custom_objects:
        return custom_objects[name]  # type: ignore[no-any-return]
    if isinstance(config, dict):
        if not isinstance(name, str) or name not in BY_NAME:
            raise ValueError(
                f"Unknown activation config {config!r}; expected {{'class_name': 'function', "
                f"'config': NAME}} with NAME one of {sorted(BY_NAME)}."
            )
        return BY_NAME[name]
    return get(config)


def serialize(activation: Callable[..., Any]) -> str | Callable[..., Any]:
    """The activation's name when it is one of these, else the function itself."""
    return _NAMES.get(id(activation), activation)
