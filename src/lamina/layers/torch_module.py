"""`TorchModuleWrapper`: any `torch.nn.Module` as a layer (Keras 3's name).

The wrapped module's parameters and buffers are the layer's own (trained by `fit`, saved with
the model); its output shapes are inferred on the `meta` device like any layer's. A module of
`torch.nn` is rebuilt by a load from its class name (looked up in a fixed table of
`torch.nn`'s classes, never imported by name) and its constructor arguments, read from
`__init__`'s signature matched to the module's attributes when it is wrapped. A module class of
the user's is rebuilt when it is registered (`@lamina.saving.register_serializable`) or passed
in `custom_objects`.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch
from torch import nn

from lamina.core.errors import LayerError
from lamina.core.layer import Layer

_SKIPPED = frozenset({"self", "device", "dtype"})


@functools.lru_cache(maxsize=1)
def torch_nn_classes() -> dict[str, type[nn.Module]]:
    """The module classes `torch.nn` exports, by name: the only ones a load builds unasked."""
    table: dict[str, type[nn.Module]] = {}
    for name in getattr(nn.modules, "__all__", dir(nn)):
        cls = getattr(nn, name, None)
        if isinstance(cls, type) and issubclass(cls, nn.Module) and cls is not nn.Module:
            table[name] = cls
    return table


def module_arguments(module: nn.Module) -> dict[str, Any] | None:
    """The constructor arguments that rebuild `module`, from `__init__`'s parameter names
    matched to its attributes; None when one of them cannot be found or is not a plain value."""
    parameters = _init_parameters(type(module))
    if parameters is None:
        return None
    skipped = _SKIPPED
    if isinstance(module, nn.RNNBase) and type(module) is not nn.RNNBase:
        skipped = skipped | {"mode"}  # nn.LSTM(...) passes its own mode to RNNBase
    arguments: dict[str, Any] = {}
    for name, parameter in parameters.items():
        if name in skipped or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if not hasattr(module, name):
            if parameter.default is inspect.Parameter.empty:
                return None
            continue  # an option the module does not keep: its default rebuilds the same
        value = getattr(module, name)
        if name == "bias" and (value is None or isinstance(value, torch.Tensor)):
            value = value is not None  # Linear/Conv keep the bias tensor, take a bool
        if not _plain(value):
            return None
        arguments[name] = list(value) if isinstance(value, tuple) else value
    return arguments


def _init_parameters(cls: type) -> Any:
    """The parameters of the first `__init__` in `cls`'s MRO that names them (nn.LSTM's is
    `(*args, **kwargs)`, forwarded to nn.RNNBase's)."""
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is nn.Module:
            continue
        try:
            parameters = inspect.signature(klass.__init__).parameters  # type: ignore[misc]
        except (TypeError, ValueError):
            return None
        named = [p for p in parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if len(named) > 1 or len(named) == len(parameters):  # not just (self, *args, **kw)
            return parameters
    return {}


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return False


class TorchModuleWrapper(Layer):
    """A `torch.nn.Module` as a layer.

    Calling a plain torch module on symbolic tensors, or putting it in a `Sequential`, wraps it
    in this class; you may also wrap it yourself.

    Args:
        module: the torch module; called as `module(inputs)`.
        name: the layer's name (default: the module's class name in snake_case).

    Call arguments:
        inputs: what the module takes (one tensor, or a list passed as positional arguments
            when `unpack=True`).

    Output shape:
        Whatever the module returns, inferred on the `meta` device.

    Example:
        >>> import torch
        >>> from lamina import Input
        >>> from lamina.layers import TorchModuleWrapper
        >>> layer = TorchModuleWrapper(torch.nn.Linear(4, 2))
        >>> layer(Input(shape=(4,))).shape
        (None, 2)
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        name: str | None = None,
        trainable: bool = True,
        dtype: torch.dtype | str | None = None,
        input_shape: Any = None,
    ) -> None:
        if not isinstance(module, nn.Module) or isinstance(module, Layer):
            raise TypeError(
                "TorchModuleWrapper: expected a torch.nn.Module that is not a lamina Layer, "
                f"received {type(module).__name__}."
            )
        from lamina.core.layer import snake_case, unique_name

        super().__init__(
            name=name or unique_name(snake_case(type(module).__name__)),
            trainable=trainable,
            dtype=dtype,
            input_shape=input_shape,
        )
        self.module = module
        self.module_arguments = module_arguments(module)
        self.built = True  # the module made its weights when it was constructed
        self.trainable = trainable

    def call(self, inputs: Any) -> Any:
        return self.module(inputs)

    def get_config(self) -> dict[str, Any]:
        cls = type(self.module)
        from lamina.saving import registry

        key = registry.registered_key(cls)
        if key is None and torch_nn_classes().get(cls.__name__) is not cls:
            raise LayerError(
                f"TorchModuleWrapper '{self.name}': its module is a {cls.__qualname__} (from "
                f"'{cls.__module__}'), which is not a torch.nn class, so a load could not "
                "rebuild it. Decorate the class with @lamina.saving.register_serializable("
                "package=...) (and pass custom_objects= when loading), or save only the "
                "weights with model.save_weights()."
            )
        if self.module_arguments is None:
            raise LayerError(
                f"TorchModuleWrapper '{self.name}': the constructor arguments of its "
                f"{cls.__name__} could not be read from its attributes, so a load could not "
                "rebuild it; save only the weights with model.save_weights()."
            )
        return {
            **super().get_config(),
            "module": {"class_name": key or cls.__name__, "config": self.module_arguments},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TorchModuleWrapper:
        from lamina.saving import registry

        config = dict(config)
        entry = config.pop("module")
        class_name = str(entry["class_name"])
        module_cls = registry.get_registered_object(class_name, None) or (
            torch_nn_classes().get(class_name)
        )
        if module_cls is None:
            raise LayerError(
                f"TorchModuleWrapper: the saved module class '{class_name[:80]}' is neither a "
                "torch.nn class nor registered; register it with "
                "@lamina.saving.register_serializable before loading."
            )
        arguments = {k: tuple(v) if isinstance(v, list) else v for k, v in entry["config"].items()}
        return cls(module_cls(**arguments), **config)

    def extra_repr(self) -> str:
        return repr(self.module)


def wrap_module(module: Any) -> Any:
    """`module` wrapped in a `TorchModuleWrapper` when it is a plain torch module."""
    if isinstance(module, nn.Module) and not isinstance(module, Layer):
        return TorchModuleWrapper(module)
    return module


__all__ = ["TorchModuleWrapper", "torch_nn_classes", "wrap_module"]
