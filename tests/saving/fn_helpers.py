"""Importable functions for the saving tests: stand-ins for code in a user's own package."""

from __future__ import annotations

from typing import Any

import numpy as np


def uses_numpy(x: Any) -> Any:
    """An op graph (numpy on a constant runs at trace time), though it is importable."""
    return x * float(np.sqrt(4.0))


def safe_double(x: Any) -> Any:
    """An op graph, even though it lives in an importable module."""
    return x * 2


class Namespace:
    @staticmethod
    def halve(x: Any) -> Any:
        return x / 2


def reads_values(x: Any) -> Any:
    """Not an op graph (it reads a tensor's value), so it saves as a reference to this module."""
    return x * float(x.sum().item() > 0)
