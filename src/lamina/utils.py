"""Utilities Keras users look for under `keras.utils`."""

from __future__ import annotations

import random as _random

import numpy as np
import torch

from lamina.core.layer import clear_session as clear_session
from lamina.training.custom_steps import pack_x_y_sample_weight as pack_x_y_sample_weight
from lamina.training.data_adapter import unpack as unpack_x_y_sample_weight
from lamina.visualization.dot import model_to_dot as model_to_dot
from lamina.visualization.figures import plot_history as plot_history
from lamina.visualization.figures import plot_image_grid as plot_image_grid
from lamina.visualization.figures import plot_latent_space as plot_latent_space
from lamina.visualization.plot import plot_model as plot_model

plot = plot_model
"""Keras 1's name (`keras.utils.visualize_util.plot`), so the seed's `plot(model, ...)` runs."""

__all__ = [
    "clear_session",
    "model_to_dot",
    "pack_x_y_sample_weight",
    "plot",
    "plot_history",
    "plot_image_grid",
    "plot_latent_space",
    "plot_model",
    "set_random_seed",
    "unpack_x_y_sample_weight",
]


def set_random_seed(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators, so a run repeats exactly.

    Example:
        >>> import torch
        >>> from lamina.utils import set_random_seed
        >>> set_random_seed(0); a = torch.rand(2)
        >>> set_random_seed(0); bool((a == torch.rand(2)).all())
        True
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative int, received {seed!r}.")
    _random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
