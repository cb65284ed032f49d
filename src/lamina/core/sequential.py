"""`Sequential`: a `Model` that is a plain stack of layers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from lamina.core.errors import LayerError
from lamina.core.layer import Layer
from lamina.core.model import Model
from lamina.core.tensor import Input, SymbolicTensor, flatten
from lamina.layers.core import InputLayer


class Sequential(Model):
    """A plain stack of layers, each called on the previous one's output.

    Args:
        layers: the layers; the first may be an `Input(...)` (or a layer given
            `input_shape=`), else the model is built on its first call.
        name: the model's name.

    Example:
        >>> import torch
        >>> from lamina import Input, Sequential
        >>> from lamina.layers import Dense
        >>> model = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(1)])
        >>> model(torch.ones(2, 4)).shape
        torch.Size([2, 1])
    """

    def __init__(self, layers: Iterable[Any] | None = None, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._stack: list[Layer] = []
        self._stack_input: SymbolicTensor | None = None
        self._stack_output: SymbolicTensor | None = None
        for layer in layers or ():
            self.add(layer)

    def add(self, layer: Any) -> None:
        """Append a layer (or, first, an `Input`)."""
        self._add(layer, None)

    def _add(self, layer: Any, specs: Any) -> None:
        # `specs`: the layer's output spec when already known (a saved file stores it).
        if isinstance(layer, InputLayer):
            layer = layer.output
        if isinstance(layer, SymbolicTensor):
            if self._stack or self._stack_input is not None:
                raise ValueError(
                    f"Sequential '{self.name}': an Input can only be the first entry; "
                    f"received {layer.name} after {len(self._stack)} layer(s)."
                )
            self._stack_input = self._stack_output = layer
            self._functional = self._dirty = self.built = True
            return
        if not isinstance(layer, nn.Module):
            raise TypeError(
                f"Sequential '{self.name}': expected a Layer, received {type(layer).__name__}."
            )
        if not isinstance(layer, Layer):
            from lamina.layers.torch_module import wrapper_for

            layer = wrapper_for(layer)
        if any(kept.name == layer.name for kept in self._stack):
            raise ValueError(
                f"Sequential '{self.name}': all layers added to a Sequential model should have "
                f"unique names. Name '{layer.name}' is already the name of a layer in this "
                "model. Update the `name` argument to pass a unique name."
            )
        if self._stack_input is None and not self._stack and layer._input_shape_arg is not None:
            self._stack_input = self._stack_output = Input(shape=layer._input_shape_arg)
            self._functional = self.built = True
        self._stack.append(layer)
        # Registered at once, so parameters() and an optimizer made now see its weights.
        self._modules[layer.name] = layer
        if self._stack_output is not None:
            if specs is None:
                self._stack_output = layer(self._stack_output)
            else:
                self._stack_output = layer.record_call(self._stack_output, (), {}, specs)
            if not isinstance(self._stack_output, SymbolicTensor):
                raise ValueError(
                    f"Sequential '{self.name}': layer '{layer.name}' returned several outputs; "
                    "each layer of a Sequential must return one tensor."
                )
            self._dirty = True

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._stack:
            raise IndexError(f"Sequential '{self.name}': pop from an empty model.")
        layer = self._stack.pop()
        if self._stack_input is not None:
            output = self._stack_input
            for kept in self._stack:
                output = kept(output)
            self._stack_output = output
            self._dirty = True
        self._modules.pop(layer.name, None)
        return layer

    def _rebuild_graph(self) -> None:
        self._dirty = False
        assert self._stack_input is not None and self._stack_output is not None
        self._init_graph(self._stack_input, self._stack_output)

    def forward(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if self._stack_input is None:
            self._build_from_values(inputs)
        return super().forward(inputs, training=training)

    def build(self, input_shape: Any) -> None:
        if self._stack_input is None:
            self.add_input(tuple(input_shape[1:]))

    def add_input(self, shape: tuple[int, ...], *, dtype: torch.dtype = torch.float32) -> None:
        """Give a lazily built Sequential its input shape and build its layers."""
        stack = self._stack
        self._stack = []
        self._modules.clear()
        self.add(Input(shape=shape, dtype=dtype))
        for layer in stack:
            self.add(layer)
        if not stack:
            raise LayerError(f"Sequential '{self.name}' has no layers to build.")

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the input layer (as Keras's Sequential)."""
        return list(self._stack)

    def _build_from_values(self, inputs: Any) -> None:
        # The first real batch gives the input's shape, dtype and the weights' device.
        if self._stack_input is None:
            first = flatten(inputs)[0]
            first = torch.as_tensor(first) if not isinstance(first, torch.Tensor) else first
            self.add_input(tuple(first.shape[1:]), dtype=first.dtype)
            if first.device.type not in ("cpu", "meta"):
                self.to(first.device)
        self.built = True
