"""Saving and loading models: `.lamina` files, configs, JSON and `.safetensors` weights.

Function layers take part: every callable in a layer's config is stored as a name, a safe
tensor expression, or (trusted only) importable or plain source, never bytecode or pickle (see
`lamina.saving.functions`). Loading is safe by default: nothing in a file runs unless
`safe_mode=False`.

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from lamina import Input, Model, load_model
    >>> from lamina.layers import Lambda
    >>> def slice(x, index):
    ...     return x[:, :, index]
    >>> a = Input(shape=(4, 2))
    >>> model = Model(a, Lambda(slice, arguments={"index": 1})(a))
    >>> path = os.path.join(tempfile.mkdtemp(), "slice.lamina")
    >>> model.save(path)
    >>> load_model(path).predict(np.arange(8.0).reshape(1, 4, 2), verbose=0)
    array([[1., 3., 5., 7.]], dtype=float32)
"""

from lamina.saving.errors import LoadError as LoadError
from lamina.saving.errors import SaveError as SaveError
from lamina.saving.errors import UnknownClassError as UnknownClassError
from lamina.saving.errors import WeightsMismatchError as WeightsMismatchError
from lamina.saving.functions import FunctionDeserializationError as FunctionDeserializationError
from lamina.saving.functions import FunctionSerializationError as FunctionSerializationError
from lamina.saving.functions import UnsafeFunctionError as UnsafeFunctionError
from lamina.saving.graph import model_config as model_config
from lamina.saving.graph import model_to_json as model_to_json
from lamina.saving.keras_format import describe_keras as describe_keras
from lamina.saving.keras_format import load_keras as load_keras
from lamina.saving.limits import LoadLimits as LoadLimits
from lamina.saving.model_loader import load_model as load_model
from lamina.saving.model_loader import load_weights as load_weights
from lamina.saving.model_saver import save_model as save_model
from lamina.saving.model_saver import save_weights as save_weights
from lamina.saving.rebuild import model_from_config as model_from_config
from lamina.saving.registry import custom_object_scope as custom_object_scope
from lamina.saving.registry import get_custom_objects as get_custom_objects
from lamina.saving.registry import get_registered_name as get_registered_name
from lamina.saving.registry import get_registered_object as get_registered_object
from lamina.saving.registry import register_keras_serializable as register_keras_serializable
from lamina.saving.registry import register_serializable as register_serializable
from lamina.saving.report import FileReport as FileReport
from lamina.saving.report import inspect_file as inspect_file

__all__ = [
    "FileReport",
    "FunctionDeserializationError",
    "FunctionSerializationError",
    "LoadError",
    "LoadLimits",
    "SaveError",
    "UnknownClassError",
    "UnsafeFunctionError",
    "WeightsMismatchError",
    "custom_object_scope",
    "describe_keras",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "inspect_file",
    "load_keras",
    "load_model",
    "load_weights",
    "model_config",
    "model_from_config",
    "model_to_json",
    "register_keras_serializable",
    "register_serializable",
    "save_model",
    "save_weights",
]
