"""`lamina.ops.nn`: Keras's `keras.ops.nn` basics, on tensors and on symbolic tensors.

The crossentropies are per element (binary) or per sample (categorical), not averaged, as
Keras's ops are; `lamina.losses` averages them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lamina.ops.elementwise import log_softmax as log_softmax
from lamina.ops.elementwise import relu as relu
from lamina.ops.elementwise import sigmoid as sigmoid
from lamina.ops.elementwise import softmax as softmax
from lamina.ops.recording import symbolic
from lamina.ops.shapes import one_hot as one_hot

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "gelu",
    "log_softmax",
    "one_hot",
    "relu",
    "sigmoid",
    "silu",
    "softmax",
    "sparse_categorical_crossentropy",
]

_EPSILON = 1e-7  # Keras's backend epsilon, which its crossentropies clip to


@symbolic
def gelu(x: torch.Tensor, approximate: bool = True) -> torch.Tensor:
    """The Gaussian error linear unit; Keras's ops default to the tanh approximation.

    Example:
        >>> one = torch.tensor(1.0)
        >>> round(float(gelu(one)), 4), round(float(gelu(one, approximate=False)), 4)
        (0.8412, 0.8413)
    """
    return F.gelu(x, approximate="tanh" if approximate else "none")


@symbolic
def silu(x: torch.Tensor) -> torch.Tensor:
    """`x * sigmoid(x)` (swish)."""
    return F.silu(x)


@symbolic
def binary_crossentropy(
    target: torch.Tensor, output: torch.Tensor, from_logits: bool = False
) -> torch.Tensor:
    """Elementwise binary crossentropy; probabilities are clipped to `[1e-7, 1 - 1e-7]`.

    Example:
        >>> round(float(binary_crossentropy(torch.tensor(1.0), torch.tensor(0.5))), 4)
        0.6931
    """
    target = target.to(output.dtype)
    if from_logits:
        return F.binary_cross_entropy_with_logits(output, target, reduction="none")
    output = output.clamp(_EPSILON, 1.0 - _EPSILON)
    return -(target * torch.log(output) + (1.0 - target) * torch.log1p(-output))


@symbolic
def categorical_crossentropy(
    target: torch.Tensor, output: torch.Tensor, from_logits: bool = False, axis: int = -1
) -> torch.Tensor:
    """Crossentropy of one-hot `target` against `output` along `axis`, one value per sample;
    probabilities are normalized to sum to 1 and clipped, as Keras does."""
    target = target.to(output.dtype)
    if from_logits:
        log_probabilities = torch.log_softmax(output, dim=axis)
    else:
        output = output / output.sum(dim=axis, keepdim=True)
        log_probabilities = torch.log(output.clamp(_EPSILON, 1.0 - _EPSILON))
    return -(target * log_probabilities).sum(dim=axis)


@symbolic
def sparse_categorical_crossentropy(
    target: torch.Tensor, output: torch.Tensor, from_logits: bool = False, axis: int = -1
) -> torch.Tensor:
    """`categorical_crossentropy` with integer class `target`s."""
    classes = output.shape[axis]
    encoded = F.one_hot(target.long(), classes).to(output.dtype)
    if axis not in (-1, output.ndim - 1):
        encoded = encoded.movedim(-1, axis)
    return categorical_crossentropy(encoded, output, from_logits=from_logits, axis=axis)
