"""lamina: Keras-style functional models on PyTorch, where any function is a first-class layer.

Example:
    >>> import numpy as np
    >>> from lamina import Input, Model
    >>> from lamina.layers import Dense
    >>> x = Input(shape=(4,))
    >>> Model(x, Dense(2)(x)).predict(np.ones((3, 4)), verbose=0).shape
    (3, 2)
"""

from lamina import activations as activations
from lamina import initializers as initializers
from lamina import layers as layers
from lamina import ops as ops
from lamina import random as random
from lamina.core.layer import Layer as Layer
from lamina.core.layer import clear_session as clear_session
from lamina.core.model import Model as Model
from lamina.core.model import Sequential as Sequential
from lamina.core.tensor import Input as Input
from lamina.core.tensor import SymbolicTensor as SymbolicTensor

__version__ = "0.1.0"

_LAZY_MODULES = (
    "backend",
    "callbacks",
    "config",
    "constraints",
    "datasets",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "saving",
    "training",
    "utils",
)


def __getattr__(name: str) -> object:
    # Submodules load on first use, so `import lamina` stays light (PEP 562).
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f"lamina.{name}")
    if name == "load_model":
        return importlib.import_module("lamina.saving").load_model
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")


__all__ = [
    "Input",
    "Layer",
    "Model",
    "Sequential",
    "SymbolicTensor",
    "__version__",
    "activations",
    "clear_session",
    "initializers",
    "layers",
    "ops",
    "random",
]
