"""`Lambda`: any function as a layer (`Operation`, which the graph records for operators and
`lamina.ops` calls, is in `operation.py`)."""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from lamina.core.construct import _accepted_keywords
from lamina.core.errors import LayerError, format_shape, warn
from lamina.core.layer import Layer
from lamina.core.shape_inference import Spec
from lamina.core.tensor import map_structure
from lamina.layers.operation import format_constant


def function_label(function: Callable[..., Any]) -> str:
    """A short name for a function: `slice`, or a lambda's own text `lambda x: x * 2`."""
    name = getattr(function, "__name__", None) or type(function).__name__
    if name != "<lambda>":
        return str(name)
    try:
        source = textwrap.dedent(inspect.getsource(function))
        lambdas = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Lambda)]
    except (OSError, TypeError, SyntaxError):
        return name
    if len(lambdas) == 1:
        return ast.get_source_segment(source, lambdas[0]) or name
    return name


class Lambda(Layer):
    """Wrap any function as a layer.

    Args:
        function: called as `function(inputs, **arguments)`, where `inputs` is the tensor (or
            the list/tuple/dict of tensors) the layer is called on. It also receives
            `training=` and `mask=` when it declares them. It may return one tensor or a
            tuple/list/dict of tensors (several outputs).
        output_shape: the declared output shape, without the batch dimension, or a function
            of the input shape (with batch). Only checked: lamina infers the real shape by
            running the function, uses it, and warns once if the declaration differs.
        mask: a mask function `(inputs, mask) -> mask`, or a constant mask.
        arguments: keyword arguments for `function`: Python values, numpy arrays and tensors
            (arrays and tensors become constants that follow the layer's device), and torch
            modules and parameters (tracked: trained by `fit` and saved with the weights).
        name: the layer's name.

    Call arguments:
        inputs: a tensor, or a list/tuple/dict of tensors.
        training: passed to `function` if it declares `training`.
        mask: passed to `function` if it declares `mask`.

    Output shape:
        Whatever `function` returns, inferred on the `meta` device.

    A function that closes over a `torch.nn.Parameter` or `nn.Module` (in its closure, its
    defaults, or the globals it names) has it tracked: the parameters appear in
    `trainable_weights` and are trained by `fit`.

    Example:
        >>> import torch
        >>> from lamina import Input
        >>> from lamina.layers import Lambda
        >>> def slice(x, index):
        ...     return x[:, :, index]
        >>> layer = Lambda(slice, arguments={"index": 0})
        >>> layer
        Lambda(slice, index=0)
        >>> layer(Input(shape=(4, 2))).shape
        (None, 4)
    """

    def __init__(
        self,
        function: Callable[..., Any],
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        trainable: bool = True,
        dtype: torch.dtype | str | None = None,
        input_shape: Any = None,
    ) -> None:
        if not callable(function):
            raise TypeError(
                f"Lambda: expected a callable function, received {type(function).__name__} "
                f"({function!r})."
            )
        super().__init__(name=name, trainable=trainable, dtype=dtype, input_shape=input_shape)
        self.function = function
        self.declared_output_shape = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})
        keywords = _accepted_keywords(function)
        self._pass_training = "training" in keywords
        self._pass_mask = "mask" in keywords
        self._argument_buffers = self._register_constants()
        self._track_captured(function)

    def _register_constants(self) -> list[str]:
        names: list[str] = []
        modules: list[Any] = []

        def register(value: Any) -> Any:
            # Modules and parameters are tracked (trained by fit, saved), never copied.
            if isinstance(value, nn.Module):
                self.add_module(f"argument_module_{len(modules)}", value)
                modules.append(value)
                return value
            if isinstance(value, nn.Parameter):
                self.register_parameter(f"argument_parameter_{len(modules)}", value)
                modules.append(value)
                return value
            if isinstance(value, np.ndarray) and value.dtype != object:
                value = torch.from_numpy(value.copy())
            if isinstance(value, torch.Tensor):
                name = f"argument_{len(names)}"
                self.register_buffer(name, value.detach(), persistent=False)
                names.append(name)
            return value

        map_structure(register, list(self.arguments.values()))
        return names

    def _call_arguments(self) -> dict[str, Any]:
        if not self._argument_buffers:
            return self.arguments
        buffers = iter(getattr(self, name) for name in self._argument_buffers)

        def substitute(value: Any) -> Any:
            if isinstance(value, nn.Parameter):
                return value
            is_constant = isinstance(value, torch.Tensor) or (
                isinstance(value, np.ndarray) and value.dtype != object
            )
            return next(buffers) if is_constant else value

        return cast("dict[str, Any]", map_structure(substitute, self.arguments))

    def _track_captured(self, function: Callable[..., Any]) -> None:
        # A module given as the function is already registered, as the `function` attribute.
        found: dict[str, Any] = {}
        bound = getattr(function, "__self__", None)
        if isinstance(bound, nn.Module):
            found["self"] = bound
        if isinstance(function, functools.partial):
            found.update((f"partial_{i}", v) for i, v in enumerate(function.args))
            found.update((f"partial_{k}", v) for k, v in function.keywords.items())
            function = function.func
        code = getattr(function, "__code__", None)
        closure = getattr(function, "__closure__", None) or ()
        if code is not None:
            found.update(zip(code.co_freevars, (cell.cell_contents for cell in closure)))
            module_globals = getattr(function, "__globals__", {})
            found.update({n: module_globals[n] for n in code.co_names if n in module_globals})
        for i, default in enumerate(getattr(function, "__defaults__", None) or ()):
            found[f"default_{i}"] = default
        for key, value in list(found.items()):  # modules in a list, tuple or dict, one level
            if isinstance(value, (list, tuple, dict)) and len(value) <= 64:
                items = value.items() if isinstance(value, dict) else enumerate(value)
                found.update((f"{key}_{k}", v) for k, v in items if _trainable(v))
        for key, value in found.items():
            key = "".join(c if c.isalnum() or c == "_" else "_" for c in key)
            if isinstance(value, nn.Parameter):
                self.register_parameter(f"captured_{key}", value)
            elif isinstance(value, nn.Module) and not isinstance(value, Lambda):
                self.add_module(f"captured_{key}", value)
            elif isinstance(value, torch.Tensor) and value.requires_grad and value.is_leaf:
                raise LayerError(
                    f"Lambda '{self.name}': {function_label(function)} uses the tensor "
                    f"'{key}', which requires grad but is not a torch.nn.Parameter, so it "
                    "could not be trained. Wrap it in torch.nn.Parameter, or write a Layer "
                    "subclass that creates it with add_weight() in build()."
                )

    def _infer_output_specs(self, inputs: Any, kwargs: dict[str, Any]) -> Any:
        # A function may reach weights through objects lamina does not look into (an
        # attribute of an object it closes over): the run that infers the shapes watches the
        # tensors torch functions receive, and refuses trainable ones the layer does not own,
        # which fit would otherwise silently never train.
        with _UntrackedWeights(self) as watch:
            specs = super()._infer_output_specs(inputs, kwargs)
        untracked = watch.untracked()
        if untracked:
            shapes = ", ".join(format_shape(tuple(t.shape)) for t in untracked[:3])
            raise LayerError(
                f"Lambda '{self.name}': {function_label(self.function)} uses trainable "
                f"tensors the layer does not track (shapes {shapes}), reached through an "
                "object lamina does not look into, so fit would never train them. Pass the "
                "module through arguments={'module': module} or close over the module "
                "itself, or call the module on the symbolic tensor directly (a torch module "
                "becomes a layer)."
            )
        return specs

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if not (self._pass_training or self._pass_mask or self._argument_buffers):
            return self.function(inputs, **self.arguments)
        kwargs = dict(self._call_arguments())
        if self._pass_training:
            kwargs["training"] = self.training if training is None else training
        if self._pass_mask:
            kwargs["mask"] = mask
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def _check_output_spec(self, input_shapes: Any, specs: Any) -> None:
        declared = self.declared_output_shape
        if declared is None or self._warned_output_shape:
            return
        inferred = map_structure(lambda spec: spec.shape, specs)
        try:
            declared = declared(input_shapes) if callable(declared) else declared
        except Exception as error:
            raise LayerError(
                f"Lambda '{self.name}': its output_shape function failed on input shape "
                f"{format_shape(input_shapes)}: {type(error).__name__}: {error}"
            ) from error
        if isinstance(specs, Spec):
            # A function gets and returns full shapes (a fixed batch size included); a
            # declared tuple leaves the batch axis out.
            declared = tuple(declared)
            per_sample = not callable(self.declared_output_shape) and bool(declared)
            if len(declared) != len(inferred) or (per_sample and declared[0] is not None):
                declared = (None, *declared)
        if _shapes_match(declared, inferred):
            return
        self._warned_output_shape = True
        shown = declared if callable(self.declared_output_shape) else self.declared_output_shape
        warn(
            f"Lambda '{self.name}': output_shape={format_shape(shown)} was declared, but "
            f"{function_label(self.function)} returns "
            f"{format_shape(inferred)} for input {format_shape(input_shapes)}; "
            f"using the inferred {format_shape(inferred)}.",
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "function": self.function,
            "output_shape": self.declared_output_shape,
            "mask": self.mask,
            "arguments": self.arguments,
        }

    def extra_repr(self) -> str:
        parts = [function_label(self.function)]
        parts += [f"{k}={format_constant(v)}" for k, v in self.arguments.items()]
        return ", ".join(parts)


def _trainable(value: Any) -> bool:
    return isinstance(value, (nn.Module, nn.Parameter))


class _UntrackedWeights(TorchFunctionMode):
    """Collects the trainable leaf tensors torch functions receive that `layer` does not own.

    `meta` tensors are left out: a meta run swaps the layer's own weights for `meta` copies,
    and sublayers first built by it make theirs there. A weight a sublayer makes during the
    run is the layer's by the end of it, which `untracked` checks.
    """

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.layer = layer
        self.own = {id(t) for t in layer.parameters()}
        self.seen: dict[int, torch.Tensor] = {}

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        for value in (*args, *(kwargs or {}).values()):
            for leaf in value if isinstance(value, (list, tuple)) else (value,):
                if (
                    isinstance(leaf, torch.Tensor)
                    and leaf.requires_grad
                    and leaf.is_leaf
                    and not leaf.is_meta
                    and id(leaf) not in self.own
                ):
                    self.seen[id(leaf)] = leaf
        return func(*args, **(kwargs or {}))

    def untracked(self) -> list[torch.Tensor]:
        own = {id(t) for t in self.layer.parameters()}
        return [t for key, t in self.seen.items() if key not in own]


def _shapes_match(declared: Any, inferred: Any) -> bool:
    declared_leaves, inferred_leaves = _shape_leaves(declared), _shape_leaves(inferred)
    if len(declared_leaves) != len(inferred_leaves):
        return False
    return all(
        len(d) == len(i) and all(a is None or b is None or a == b for a, b in zip(d, i))
        for d, i in zip(declared_leaves, inferred_leaves)
    )


def _shape_leaves(value: Any) -> list[tuple[int | None, ...]]:
    if isinstance(value, tuple) and all(d is None or isinstance(d, int) for d in value):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [leaf for item in value for leaf in _shape_leaves(item)]


__all__ = ["Lambda", "function_label"]
