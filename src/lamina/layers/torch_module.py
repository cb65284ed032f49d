"""`TorchModuleWrapper`: any `torch.nn.Module` as a layer (Keras 3's name).

The wrapped module's parameters and buffers are the layer's own (trained by `fit`, saved with
the model); its output shapes are inferred on the `meta` device like any layer's. A plain
module called on symbolic tensors is wrapped by itself (`lamina.core.module_calls`), one
wrapper per module (`wrapper_for`). The config holds the module itself: saving writes its
class and constructor arguments (`module_arguments`, read from `__init__`'s signature matched
to the module's attributes) and a load rebuilds a `torch.nn` class from a fixed table
(`torch_nn_classes`, never imported by name) and a user's class when registered, in
`custom_objects` or in `trusted_modules` (`lamina.saving.torch_modules`).
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn

from lamina.core.errors import LayerError
from lamina.core.layer import Layer
from lamina.core.tensor import is_symbolic

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
        arguments[name] = value
    return arguments


def _init_parameters(cls: type) -> Any:
    """The parameters of the first `__init__` in `cls`'s MRO that names them (nn.LSTM's is
    `(*args, **kwargs)`, forwarded to nn.RNNBase's); None when the arguments are only
    `*args` (nn.Sequential's modules), which no attribute names."""
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
        if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
            return None  # (self, *args): positional values nothing records
    return {}


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, nn.Module)):
        return True  # a module is saved as its own class and arguments
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return False


class TorchModuleWrapper(Layer):
    """A `torch.nn.Module` as a layer.

    A plain torch module called on symbolic tensors is wrapped in this class by itself
    (`torch.nn.Conv2d(3, 8, 3)(x)`, see `lamina.core.module_calls`), as is one put in a
    `Sequential`; you may also wrap it yourself. A module has one wrapper: calling it again
    shares its weights, as calling a layer again does.

    Args:
        module: the torch module.
        name: the layer's name (default: the module's class name in snake_case).

    Call arguments:
        inputs: what the module takes: one tensor (or structure), or with `unpack=True` a
            list of its positional arguments followed by the values of `keywords`.
        training: puts the module in train (True) or eval (False) mode for the call;
            `None` follows the layer's own mode (`model.train()` / `model.eval()`).
        unpack: call `module(*inputs[:n], **dict(zip(keywords, inputs[n:])))` rather than
            `module(inputs)`.
        keywords: the names of the keyword arguments that are tensors, with `unpack=True`.
        **kwargs: constant keyword arguments for the module (`need_weights=False`).

    Output shape:
        Whatever the module returns (a tuple such as `nn.LSTM`'s `(output, (h, c))` keeps
        its structure), inferred on the `meta` device.

    Example:
        >>> import torch
        >>> from lamina import Input
        >>> from lamina.layers import TorchModuleWrapper
        >>> layer = TorchModuleWrapper(torch.nn.Linear(4, 2))
        >>> layer(Input(shape=(4,))).shape
        (None, 2)
        >>> output, (h, c) = torch.nn.LSTM(4, 3, batch_first=True)(Input(shape=(5, 4)))
        >>> output.shape, h.shape
        ((None, 5, 3), (1, None, 3))
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
        # The same module as a plain attribute, for `call`: nn.Module.__getattr__, which
        # finds registered submodules, costs more than a small module's own work.
        self.__dict__["_module"] = module
        self.built = True  # the module made its weights when it was constructed
        self.trainable = trainable
        self.ran_on_meta = True  # whether shape inference last ran the module on meta
        _WRAPPERS.setdefault(id(module), self)

    def call(
        self,
        inputs: Any,
        *,
        training: bool | None = None,
        unpack: bool = False,
        keywords: Sequence[str] = (),
        **kwargs: Any,
    ) -> Any:
        # The module's train/eval mode follows the call's `training` (fit: True, predict:
        # False), else the layer's own mode, as lamina's layers do.
        module: nn.Module = self.__dict__["_module"]
        mode = self.training if training is None else training
        if module.training != mode:
            module.train(mode)
        if not unpack:
            return module(inputs, **kwargs)
        n = len(inputs) - len(keywords)
        return module(*inputs[:n], **dict(zip(keywords, inputs[n:])), **kwargs)

    def call_on_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Record the call `module(*args, **kwargs)` on symbolic tensors; its outputs."""
        symbolic = [is_symbolic(a) for a in args]
        count = max((i + 1 for i, s in enumerate(symbolic) if s), default=0)
        if not all(symbolic[:count]):
            shown = [type(a).__name__ for a in args]
            raise LayerError(
                f"TorchModuleWrapper '{self.name}': {type(self.module).__name__} was called "
                f"with positional arguments {shown}; a constant before a symbolic tensor "
                "cannot be recorded. Pass constants by keyword."
            )
        constants = {k: v for k, v in kwargs.items() if not is_symbolic(v)}
        tensors = {k: v for k, v in kwargs.items() if k not in constants}
        if count < len(args):  # constants after the tensors: recorded by their names
            constants.update(self._named_positionals(args, count))
        if count == 1 and not tensors:
            return self(args[0], **constants)
        return self(
            [*args[:count], *tensors.values()], unpack=True, keywords=list(tensors), **constants
        )

    def _named_positionals(self, args: tuple[Any, ...], start: int) -> dict[str, Any]:
        try:
            parameters = list(inspect.signature(self.module.forward).parameters.values())
        except (TypeError, ValueError):
            parameters = []
        named = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(named) < len(args) or any(p.kind == p.POSITIONAL_ONLY for p in named[start:]):
            raise LayerError(
                f"TorchModuleWrapper '{self.name}': the constant positional arguments "
                f"{[type(a).__name__ for a in args[start:]]} of this "
                f"{type(self.module).__name__} call cannot be matched to names of its "
                "forward(); pass them by keyword."
            )
        return {p.name: value for p, value in zip(named[start:], args[start:])}

    def _placeholder_run(
        self, inputs: Any, kwargs: dict[str, Any], size: int, *, meta: bool
    ) -> Any:
        outputs = super()._placeholder_run(inputs, kwargs, size, meta=meta)
        self.ran_on_meta = meta
        return outputs

    def get_config(self) -> dict[str, Any]:
        # The module itself: saving writes its class and constructor arguments
        # (saving/torch_modules.py), and a load rebuilds it only from a fixed table of torch.nn
        # classes, registered classes or trusted modules.
        return {**super().get_config(), "module": self.module}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TorchModuleWrapper:
        config = dict(config)
        module = config.pop("module")
        if isinstance(module, dict):  # written before modules were saved as values
            module = _module_from_entry(module)
        if not isinstance(module, nn.Module):
            raise LayerError(
                f"TorchModuleWrapper '{config.get('name')}': the saved module is a "
                f"{type(module).__name__}, not a module entry written by lamina (Keras pickles "
                "torch modules, which lamina never unpickles). Build the model in code and "
                "load its weights instead."
            )
        return cls(module, **config)

    def extra_repr(self) -> str:
        return repr(self.module)


_WRAPPERS: weakref.WeakValueDictionary[int, TorchModuleWrapper] = weakref.WeakValueDictionary()
# A wrapper holds its module, so while it lives the module's id is its own.


def wrapper_for(module: nn.Module) -> TorchModuleWrapper:
    """The wrapper of `module`: the one made before, while it lives, or a new one."""
    wrapper = _WRAPPERS.get(id(module))
    if wrapper is None or wrapper.module is not module:
        wrapper = TorchModuleWrapper(module)
        _WRAPPERS[id(module)] = wrapper
    return wrapper


def _module_from_entry(entry: dict[str, Any]) -> nn.Module:
    """A module from main's first format, `{"class_name", "config"}` (torch.nn or registered)."""
    from lamina.saving import registry

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
    return cast("nn.Module", module_cls(**arguments))


def wrap_module(module: Any) -> Any:
    """`module` wrapped in a `TorchModuleWrapper` when it is a plain torch module."""
    if isinstance(module, nn.Module) and not isinstance(module, Layer):
        return wrapper_for(module)
    return module


__all__ = [
    "TorchModuleWrapper",
    "module_arguments",
    "torch_nn_classes",
    "wrap_module",
    "wrapper_for",
]
