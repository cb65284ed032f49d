"""Utilities Keras users look for under `keras.utils`."""

from __future__ import annotations

import random as _random

import numpy as np
import torch

from lamina.layer import clear_session as clear_session

__all__ = ["clear_session", "set_random_seed"]


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
