"""Function layers: `Lambda` (any function as a layer) and `Operation` (tensor operators and
`lamina.ops` calls on symbolic tensors)."""

from __future__ import annotations

import ast
import inspect
import operator
import textwrap
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from lamina import ops
from lamina.core.config import Slot
from lamina.core.layer import Layer, LayerError, Spec, _accepted_keywords, format_shape, unique_name
from lamina.core.tensor import SymbolicTensor, flatten, map_structure

OPERATORS: dict[str, Callable[..., Any]] = {
    "getitem": operator.getitem,
    "neg": operator.neg,
    "abs": operator.abs,
    "invert": operator.invert,
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "matmul": operator.matmul,
    "and": operator.and_,
    "or": operator.or_,
    "xor": operator.xor,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "ne": operator.ne,
}

_SYMBOLS = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%",
    "pow": "**", "matmul": "@", "and": "&", "or": "|", "xor": "^", "lt": "<", "le": "<=",
    "gt": ">", "ge": ">=", "eq": "==", "ne": "!=",
}  # fmt: skip


def format_constant(value: Any) -> str:
    """Python-like text for a constant in an expression: `:`, `1:3`, `...`, `array(4, 2)`."""
    if isinstance(value, slice):
        parts = ["" if v is None else format_constant(v) for v in (value.start, value.stop)]
        text = ":".join(parts)
        return text + (f":{format_constant(value.step)}" if value.step is not None else "")
    if value is Ellipsis:
        return "..."
    if isinstance(value, Slot):
        return "x" if value.index == 0 else "xyzuvw"[value.index % 6]
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return f"array{tuple(value.shape)}"
    if isinstance(value, tuple):
        return "(" + ", ".join(format_constant(v) for v in value) + ("," * (len(value) == 1)) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(format_constant(v) for v in value) + "]"
    if isinstance(value, torch.dtype):
        return str(value).replace("torch.", "")
    return repr(value)


class _Constant:
    """Where a tensor constant (a buffer of the layer) goes in an `Operation`'s arguments."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Operation(Layer):
    """A tensor operator or `lamina.ops` function applied to symbolic tensors.

    Created by `x[:, 0]`, `x * 2`, `ops.exp(x)` and the like on symbolic tensors; it holds
    the operation's name and its constant arguments, with `Slot`s where the input tensors go.

    Args:
        op: an operator name (`getitem`, `mul`, ...), a `lamina.ops` function name, or
            `activations.<name>` for a `lamina.activations` function.
        args: the positional arguments, with `Slot(i)` (or the symbolic tensors themselves) in
            place of the tensors.
        kwargs: the keyword arguments, likewise.

    Example:
        >>> from lamina import Input
        >>> y = Input(shape=(4, 2))[:, :, 0] * 2
        >>> y.node.layer.label
        '* 2'
    """

    def __init__(
        self,
        op: str,
        args: Any = (),
        kwargs: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        if op not in OPERATORS and op not in ops.RAW:
            raise ValueError(
                f"Unknown operation {op!r}; expected an operator name {sorted(OPERATORS)} or a "
                "lamina.ops function name."
            )
        # `activations.relu` is named `relu`: a dot in a layer name would split state_dict keys.
        super().__init__(name=name or unique_name(op.rpartition(".")[2]), trainable=trainable)
        self.op = op
        tensors: list[SymbolicTensor] = []

        def to_slot(value: Any) -> Any:
            if isinstance(value, SymbolicTensor):
                tensors.append(value)
                return Slot(len(tensors) - 1)
            return value

        constants: list[str] = []

        def to_buffer(value: Any) -> Any:
            # Array constants become buffers, so they follow the layer's device and dtype.
            if isinstance(value, np.ndarray) and value.dtype != object:
                value = torch.from_numpy(value.copy())
            if isinstance(value, torch.Tensor):
                constants.append(f"constant_{len(constants)}")
                self.register_buffer(constants[-1], value.detach(), persistent=False)
                return _Constant(constants[-1])
            return value

        self.args = tuple(map_structure(to_buffer, map_structure(to_slot, list(args))))
        self.kwargs = map_structure(to_buffer, map_structure(to_slot, dict(kwargs or {})))
        self._constants = constants
        self._symbolic_inputs = tensors
        self._function = OPERATORS.get(op) or ops.RAW[op]
        self._fast = self._fast_path()

    @classmethod
    def record(cls, op: str, args: Any, kwargs: dict[str, Any]) -> Any:
        """Create the layer for `op(*args, **kwargs)` and call it on its symbolic tensors."""
        layer = cls(op, args, kwargs)
        tensors = layer._symbolic_inputs
        layer._symbolic_inputs = []
        return layer(tensors[0] if len(tensors) == 1 else tensors)

    def _fast_path(self) -> Callable[[Any], Any] | None:
        fn, args = self._function, self.args
        if self.kwargs or self._constants:
            return None
        if any(isinstance(a, Slot) for a in flatten(list(args[1:]))):
            return None
        if not args or args[0] != Slot(0):
            return None
        rest = args[1:]
        if self.op == "getitem":
            key = rest[0]
            return lambda x: x[key]
        if len(rest) == 1:
            other = rest[0]
            return lambda x: fn(x, other)
        return lambda x: fn(x, *rest)

    def call(self, inputs: Any) -> Any:
        if self._fast is not None:
            return self._fast(inputs)
        tensors = inputs if isinstance(inputs, list) else [inputs]

        def fill(value: Any) -> Any:
            if isinstance(value, Slot):
                return tensors[value.index]
            if isinstance(value, _Constant):
                return getattr(self, value.name)
            return value

        args = map_structure(fill, list(self.args))
        kwargs = map_structure(fill, self.kwargs)
        return self._function(*args, **kwargs)

    @property
    def label(self) -> str:
        """The operation as text: `[:, :, 0]`, `* 2`, `2 - x`, `exp(x)`, `sum(x, axis=1)`."""
        args = self._with_constants(self.args)
        if self.op == "getitem":
            key = args[1] if isinstance(args[1], tuple) else (args[1],)
            text = "[" + ", ".join(format_constant(k) for k in key) + "]"
            return text if args[0] == Slot(0) else format_constant(args[0]) + text
        if self.op in _SYMBOLS:
            left, right = (format_constant(a) for a in args)
            symbol = _SYMBOLS[self.op]
            return (
                f"{symbol} {right}" if left == "x" and right != "y" else f"{left} {symbol} {right}"
            )
        unary = {"neg": "-x", "abs": "abs(x)", "invert": "~x"}
        if self.op in unary:
            return unary[self.op]
        parts = [format_constant(a) for a in args]
        kwargs = self._with_constants(self.kwargs)
        parts += [f"{k}={format_constant(v)}" for k, v in kwargs.items()]
        return f"{self.op}({', '.join(parts)})"

    def _with_constants(self, template: Any) -> Any:
        def value(leaf: Any) -> Any:
            return getattr(self, leaf.name) if isinstance(leaf, _Constant) else leaf

        return map_structure(value, template)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "op": self.op,
            "args": self._with_constants(self.args),
            "kwargs": self._with_constants(self.kwargs),
        }

    def extra_repr(self) -> str:
        return self.label


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
            (arrays and tensors become constants that follow the layer's device).
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

        def register(value: Any) -> Any:
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
            is_constant = isinstance(value, torch.Tensor) or (
                isinstance(value, np.ndarray) and value.dtype != object
            )
            return next(buffers) if is_constant else value

        return map_structure(substitute, self.arguments)

    def _track_captured(self, function: Callable[..., Any]) -> None:
        # A module given as the function is already registered, as the `function` attribute.
        found: dict[str, Any] = {}
        bound = getattr(function, "__self__", None)
        if isinstance(bound, nn.Module):
            found["self"] = bound
        code = getattr(function, "__code__", None)
        closure = getattr(function, "__closure__", None) or ()
        if code is not None:
            found.update(zip(code.co_freevars, (cell.cell_contents for cell in closure)))
            module_globals = getattr(function, "__globals__", {})
            found.update({n: module_globals[n] for n in code.co_names if n in module_globals})
        for i, default in enumerate(getattr(function, "__defaults__", None) or ()):
            found[f"default_{i}"] = default
        for key, value in found.items():
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
            declared = tuple(declared)
            if len(declared) != len(inferred) or (declared and declared[0] is not None):
                declared = (None, *declared)
        if _shapes_match(declared, inferred):
            return
        self._warned_output_shape = True
        warnings.warn(
            f"Lambda '{self.name}': output_shape={format_shape(self.declared_output_shape)} "
            f"was declared, but {function_label(self.function)} returns "
            f"{format_shape(inferred)} for input {format_shape(input_shapes)}; "
            f"using the inferred {format_shape(inferred)}.",
            UserWarning,
            stacklevel=4,
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


__all__ = ["Lambda", "Operation", "format_constant", "function_label"]
