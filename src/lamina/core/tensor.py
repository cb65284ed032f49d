"""Symbolic tensors, the nodes that connect them, and `Input()`.

A `SymbolicTensor` carries only a shape (batch dimension `None`), a dtype and the `Node` that
produced it. Calling a layer on symbolic tensors records a `Node`; `Model` later sorts the
nodes into a flat execution plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import torch

from lamina.core import module_calls

if TYPE_CHECKING:
    from lamina.core.layer import Layer

Shape = tuple[int | None, ...]


class Node:
    """One call of a layer on symbolic tensors.

    Attributes:
        layer: the layer that was called.
        inputs: the structure the layer was called on (a tensor, list, tuple or dict).
        flat_inputs: the symbolic tensors in `inputs`, in order.
        outputs: the structure the layer returned.
        flat_outputs: the symbolic tensors in `outputs`, in order.
        kwargs: constant keyword arguments of the call (never tensors).
        output_masks: the masks this call computes (`compute_mask`), one per flat output
            (`None` where the output has none or keeps a mask made upstream); `None` when the
            call makes no mask.
    """

    __slots__ = (
        "flat_inputs", "flat_outputs", "inputs", "kwargs", "layer", "output_masks", "outputs",
        "serial",
    )  # fmt: skip

    _count = 0

    def __init__(self, layer: Layer, inputs: Any, outputs: Any, kwargs: dict[str, Any]) -> None:
        # Creation order is a topological order: a node only reads tensors made before it.
        Node._count += 1
        self.serial = Node._count
        self.layer = layer
        self.inputs = inputs
        self.flat_inputs = flatten(inputs)
        self.outputs = outputs
        self.flat_outputs = flatten(outputs)
        self.kwargs = kwargs
        self.output_masks: list[SymbolicTensor | None] | None = None

    @property
    def parents(self) -> list[Node]:
        return [t.node for t in self.flat_inputs]

    def __repr__(self) -> str:
        return f"<Node {self.layer.name}: {len(self.flat_inputs)} in, {len(self.flat_outputs)} out>"


class SymbolicTensor:
    """A placeholder for a tensor in a model being defined.

    Operators (`[]`, arithmetic, comparisons, `@`) record operation layers, so
    `Input(shape=(4, 2))[:, :, 0] * 2` is a valid model output.

    Example:
        >>> from lamina import Input
        >>> x = Input(shape=(4, 2))
        >>> x[:, :, 0].shape
        (None, 4)
    """

    __slots__ = ("_keras_mask", "dtype", "index", "name", "node", "shape")

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        # A torch function reached a symbolic tensor (plain torch modules called on one are
        # wrapped before their forward runs, see core/module_calls.py): say where it belongs.
        name = getattr(func, "__name__", str(func))
        raise TypeError(
            f"torch.{name} received a symbolic tensor: torch functions run on real tensors, "
            "so they belong in a layer: Lambda(function)(x) (lamina.layers.Lambda), or the "
            "lamina.ops function of the same name. (A torch module is wrapped by itself when "
            "called on symbolic tensors made since the last Model(...) was built; on older "
            "ones, wrap it: lamina.layers.TorchModuleWrapper(module)(x).)"
        )

    def dim(self) -> int:
        """The rank, as `torch.Tensor.dim` (torch code checks it before any operation)."""
        raise TypeError(
            f"Symbolic tensor {self.name} reached torch code that runs on real tensors. Put "
            "that code in a Lambda. A torch module is wrapped by itself when called on "
            "symbolic tensors made since the last Model(...) was built; on older ones, wrap "
            "it: lamina.layers.TorchModuleWrapper(module)(x)."
        )

    # Let `ndarray + symbolic` reach our __radd__ instead of numpy broadcasting over us.
    __array_ufunc__ = None

    def __init__(
        self,
        shape: Shape,
        dtype: torch.dtype,
        *,
        name: str,
        node: Node | None = None,
        index: int = 0,
    ) -> None:
        module_calls.arm()  # a model is being defined: plain torch modules become layers
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self.node: Node = node  # type: ignore[assignment]  # set right after creation
        self.index = index
        # The boolean mask (itself symbolic) that travels with this tensor: see core/masking.py.
        self._keras_mask: SymbolicTensor | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        dtype = str(self.dtype).replace("torch.", "")
        return f"<SymbolicTensor name={self.name}, shape={self.shape}, dtype={dtype}>"

    def __len__(self) -> int:
        if not self.shape or self.shape[0] is None:
            raise TypeError(f"len() of symbolic tensor {self.name} with shape {self.shape}")
        return self.shape[0]

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(
            f"Symbolic tensor {self.name} cannot be iterated while building a model; "
            "index it (x[:, 0]) or do the work inside a Lambda."
        )

    def __bool__(self) -> bool:
        raise TypeError(
            f"Symbolic tensor {self.name} has no truth value while building a model; "
            "use ops.where(...) or put the condition inside a Lambda."
        )

    __hash__ = object.__hash__

    def __getitem__(self, key: Any) -> SymbolicTensor:
        return _apply("getitem", self, key)

    def __neg__(self) -> SymbolicTensor:
        return _apply("neg", self)

    def __pos__(self) -> SymbolicTensor:
        return self

    def __abs__(self) -> SymbolicTensor:
        return _apply("abs", self)

    def __invert__(self) -> SymbolicTensor:
        return _apply("invert", self)


module_calls.register_symbolic_type(SymbolicTensor)


def _binary(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def forward(self: SymbolicTensor, other: Any) -> SymbolicTensor:
        return _apply(name, self, other)

    def reflected(self: SymbolicTensor, other: Any) -> SymbolicTensor:
        return _apply(name, other, self)

    return forward, reflected


for _name in (
    "add",
    "sub",
    "mul",
    "truediv",
    "floordiv",
    "mod",
    "pow",
    "matmul",
    "and",
    "or",
    "xor",
):
    _forward, _reflected = _binary(_name)
    setattr(SymbolicTensor, f"__{_name}__", _forward)
    setattr(SymbolicTensor, f"__r{_name}__", _reflected)

for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(SymbolicTensor, f"__{_name}__", _binary(_name)[0])


def _apply(op_name: str, *args: Any) -> SymbolicTensor:
    # Imported here: layers import this module.
    from lamina.layers.operation import Operation

    return Operation.record(op_name, args, {})  # type: ignore[no-any-return]


def Input(
    shape: tuple[int | None, ...] | int | None = None,
    *,
    dtype: torch.dtype | str = torch.float32,
    name: str | None = None,
    batch_size: int | None = None,
    batch_shape: tuple[int | None, ...] | None = None,
    optional: bool = False,
) -> SymbolicTensor:
    """Create a symbolic input for a functional model.

    Args:
        shape: the shape of one sample, without the batch dimension; `None` for a size
            that varies.
        dtype: the dtype of the data fed in (inputs are cast to it by `predict` and `fit`).
        name: the input's name; unique automatic names otherwise (`input_layer`, ...).
        batch_size: a fixed batch size, or `None` for any.
        batch_shape: the full shape, batch dimension first, instead of `shape` and
            `batch_size`.
        optional: whether the model may be called with `None` for this input (the layers
            that read it must accept `None`).

    Returns:
        The symbolic tensor, shape `(batch_size, *shape)`.

    Example:
        >>> from lamina import Input
        >>> Input(shape=(4, 2)).shape
        (None, 4, 2)
    """
    from lamina.layers.core import InputLayer

    layer = InputLayer(
        shape=shape,
        dtype=dtype,
        name=name,
        batch_size=batch_size,
        batch_shape=batch_shape,
        optional=optional,
    )
    return cast("SymbolicTensor", layer.output)


def is_symbolic(x: Any) -> bool:
    """Whether `x` is, or holds at its top level, a symbolic tensor."""
    if isinstance(x, SymbolicTensor):
        return True
    if isinstance(x, (list, tuple)):
        return any(is_symbolic(v) for v in x)
    if isinstance(x, dict):
        return any(is_symbolic(v) for v in x.values())
    return False


def flatten(structure: Any) -> list[Any]:
    """The leaves of nested lists, tuples and dicts, in order (dicts in insertion order)."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for item in structure.values() for leaf in flatten(item)]
    return [structure]


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    """Apply `fn` to every leaf of nested lists, tuples and dicts, keeping the structure."""
    if isinstance(structure, list):
        return [map_structure(fn, item) for item in structure]
    if isinstance(structure, tuple):
        items = [map_structure(fn, item) for item in structure]
        return type(structure)(*items) if hasattr(structure, "_fields") else tuple(items)
    if isinstance(structure, dict):
        return {key: map_structure(fn, item) for key, item in structure.items()}
    return fn(structure)


def pack_like(structure: Any, flat: list[Any]) -> Any:
    """Rebuild `structure` with the leaves taken in order from `flat`."""
    leaves = iter(flat)
    return map_structure(lambda _: next(leaves), structure)
