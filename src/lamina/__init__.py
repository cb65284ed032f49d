"""lamina: Keras-style functional models on PyTorch, where any function is a first-class layer.

Example:
    >>> import numpy as np
    >>> from lamina import Input, Model
    >>> from lamina.layers import Dense
    >>> x = Input(shape=(4,))
    >>> Model(x, Dense(2)(x)).predict(np.ones((3, 4)), verbose=0).shape
    (3, 2)
"""

from typing import TYPE_CHECKING, Any

from lamina import activations as activations
from lamina import initializers as initializers
from lamina import layers as layers
from lamina import mixed_precision as mixed_precision
from lamina import ops as ops
from lamina import random as random
from lamina.core.dtype_policy import DTypePolicy as DTypePolicy
from lamina.core.dtype_policy import InputSpec as InputSpec
from lamina.core.layer import Layer as Layer
from lamina.core.layer import clear_session as clear_session
from lamina.core.model import Model as Model
from lamina.core.sequential import Sequential as Sequential
from lamina.core.tensor import Input as Input
from lamina.core.tensor import SymbolicTensor as SymbolicTensor

__version__ = "0.1.0"

if TYPE_CHECKING:
    # What a type checker sees: every public name with its real type. At run time these
    # load on first use instead (below), so `import lamina` stays light.
    from lamina import backend as backend
    from lamina import callbacks as callbacks
    from lamina import config as config
    from lamina import constraints as constraints
    from lamina import datasets as datasets
    from lamina import distribution as distribution
    from lamina import losses as losses
    from lamina import metrics as metrics
    from lamina import models as models
    from lamina import optimizers as optimizers
    from lamina import regularizers as regularizers
    from lamina import saving as saving
    from lamina import training as training
    from lamina import utils as utils
    from lamina.saving import load_model as load_model
else:
    _LAZY_MODULES = (
        "backend",
        "callbacks",
        "config",
        "constraints",
        "datasets",
        "distribution",
        "losses",
        "metrics",
        "models",
        "optimizers",
        "regularizers",
        "saving",
        "training",
        "utils",
    )

    def __getattr__(name: str) -> Any:
        # PEP 562: submodules load on first use.
        import importlib

        if name in _LAZY_MODULES:
            return importlib.import_module(f"lamina.{name}")
        if name == "load_model":
            return importlib.import_module("lamina.saving").load_model
        raise AttributeError(f"module 'lamina' has no attribute {name!r}")


__all__ = [
    "DTypePolicy",
    "Input",
    "InputSpec",
    "Layer",
    "Model",
    "Sequential",
    "SymbolicTensor",
    "__version__",
    "activations",
    "backend",
    "callbacks",
    "clear_session",
    "config",
    "constraints",
    "datasets",
    "distribution",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "ops",
    "optimizers",
    "random",
    "regularizers",
    "saving",
    "training",
    "utils",
]
