"""The function forms of the initializers, `glorot_uniform(shape, dtype)`, ...: what a name such
as `"glorot_uniform"` gives, drawing from torch's global generator."""

from __future__ import annotations

import torch

from lamina.initializers.classes import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    LecunNormal,
    LecunUniform,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    Shape,
    TruncatedNormal,
    VarianceScaling,
)


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
