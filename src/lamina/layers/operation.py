"""`Operation`: a tensor operator (`x[:, 0]`, `x * 2`) or a `lamina.ops` call recorded on
symbolic tensors, saved as its op name and arguments."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lamina import ops
from lamina.core.config import Slot
from lamina.core.layer import Layer, unique_name
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

    # Keras's ops drop a mask (masking.py): an op may move or remove the masked axis.
    drops_masks = True

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


__all__ = ["Operation", "format_constant"]
