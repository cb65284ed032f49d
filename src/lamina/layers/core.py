"""Core layers: `InputLayer`, `Dense`, `Activation`, `Dropout`, `Identity`, and the reshaping
family (`Flatten`, `Reshape`, `Permute`, `RepeatVector`)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lamina import activations, constraints, initializers, regularizers
from lamina.core.construct import _to_dtype
from lamina.core.errors import LayerError, format_shape
from lamina.core.layer import Layer, unique_name
from lamina.core.tensor import Node, Shape, SymbolicTensor


class InputLayer(Layer):
    """The layer behind `Input()`: it holds the model's input and does nothing when called.

    Args:
        shape: the shape of one sample, without the batch dimension.
        batch_size: a fixed batch size, or `None`.
        dtype: the dtype of the input.
        name: the layer's (and the input's) name.
    """

    def __init__(
        self,
        shape: Sequence[int | None] | int | None = None,
        *,
        batch_size: int | None = None,
        dtype: torch.dtype | str = torch.float32,
        name: str | None = None,
        batch_shape: Sequence[int | None] | None = None,
        optional: bool = False,
    ) -> None:
        if batch_shape is not None:
            if shape is not None or batch_size is not None:
                raise ValueError(
                    "InputLayer: you cannot pass both `shape` and `batch_shape` (or "
                    f"`batch_size`) at the same time; received shape={shape}, "
                    f"batch_shape={batch_shape}. Pass one of them."
                )
            batch_shape = _dims(batch_shape)
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if shape is None:
            raise ValueError("InputLayer: expected a shape, received None.")
        shape = _dims((shape,) if isinstance(shape, (int, np.integer)) else shape)
        batch_size = None if batch_size is None else operator.index(batch_size)
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype)
        self.optional = optional  # the model may be called with None for it
        self.batch_shape: Shape = (batch_size, *shape)
        self.input_dtype = _to_dtype(dtype)
        self.built = True
        tensor = SymbolicTensor(self.batch_shape, self.input_dtype, name=self.name)
        tensor.node = Node(self, [], tensor, {})
        self._inbound_nodes.append(tensor.node)

    def call(self, inputs: Any) -> Any:
        return inputs

    def get_config(self) -> dict[str, Any]:
        config = {
            "name": self.name,
            "batch_shape": self.batch_shape,
            "dtype": str(self.input_dtype).replace("torch.", ""),
        }
        return {**config, "optional": True} if self.optional else config


def _dims(shape: Sequence[Any]) -> Shape:
    """A shape of ints (numpy integers too) and None, checked."""
    dims: list[int | None] = []
    for dim in shape:
        if dim is not None and (not isinstance(dim, (int, np.integer)) or dim < 0):
            raise ValueError(
                f"Input: expected a shape of non-negative ints or None, received {tuple(shape)}."
            )
        dims.append(None if dim is None else int(dim))
    return tuple(dims)


class Dense(Layer):
    """A densely connected layer: `activation(inputs @ kernel + bias)`.

    Args:
        units: the size of the output's last axis.
        activation: an activation name (`"relu"`, ...) or function; `None` for none.
        use_bias: whether to add a bias.
        kernel_initializer: initializer of the `(input_dim, units)` kernel.
        bias_initializer: initializer of the bias.
        kernel_regularizer: a regularizer (`lamina.regularizers`) of the kernel.
        bias_regularizer: a regularizer of the bias.
        activity_regularizer: a regularizer of the output.
        kernel_constraint: a constraint (`lamina.constraints`) of the kernel.
        bias_constraint: a constraint of the bias.

    Call arguments:
        inputs: a tensor of shape `(batch, ..., input_dim)`.

    Output shape:
        `(batch, ..., units)`.

    Example:
        >>> import torch
        >>> from lamina.layers import Dense
        >>> Dense(3)(torch.ones(2, 4)).shape
        torch.Size([2, 3])
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: str | Callable[..., Any] | None = None,
        use_bias: bool = True,
        *,
        kernel_initializer: str | dict[str, Any] | Callable[..., Any] = "glorot_uniform",
        bias_initializer: str | dict[str, Any] | Callable[..., Any] = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"Dense: expected a positive int for units, received {units!r}.")
        super().__init__(**kwargs)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.units = units
        self.activation = activations.get(activation)
        self._activate = None if self.activation is activations.linear else self.activation
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise self.incompatible_shape(
                (None, "input_dim"), input_shape, "the last axis must be known"
            )
        self.kernel = self.add_weight(
            "kernel",
            (input_shape[-1], self.units),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = (
            self.add_weight(
                "bias",
                (self.units,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
            if self.use_bias
            else None
        )

    def check_input_shape(self, shapes: Any) -> None:
        input_dim = self.kernel.shape[0]
        if not isinstance(shapes, tuple) or len(shapes) < 2 or shapes[-1] != input_dim:
            raise self.incompatible_shape((None, input_dim), shapes, "last axis")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs = F.linear(inputs, self.kernel.t(), self.bias)
        return outputs if self._activate is None else self._activate(outputs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }

    def extra_repr(self) -> str:
        activation = activations.serialize(self.activation)
        return f"{self.units}" + (f", activation={activation!r}" if activation != "linear" else "")


class Activation(Layer):
    """Apply an activation function.

    Args:
        activation: an activation name or function.

    Example:
        >>> import torch
        >>> from lamina.layers import Activation
        >>> Activation("relu")(torch.tensor([[-1.0, 2.0]]))
        tensor([[0., 2.]])
    """

    supports_masking = True

    def __init__(self, activation: str | Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(inputs)  # type: ignore[no-any-return]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}

    def extra_repr(self) -> str:
        return repr(activations.serialize(self.activation))


class Dropout(Layer):
    """Zero a fraction `rate` of the inputs during training, scaling the rest by `1/(1-rate)`.

    Args:
        rate: the fraction to drop, in `[0, 1)`.
        noise_shape: a shape broadcast against the input (`None` for its own shape), to drop
            whole features or time steps; `None` entries take the input's size.
        seed: a seed for repeatable masks.

    Call arguments:
        training: drop only when true; `None` follows the layer's mode (`fit` turns it on).
    """

    supports_masking = True

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout: expected rate in [0, 1), received {rate!r}.")
        if noise_shape is not None and (
            not isinstance(noise_shape, (list, tuple))
            or not all(d is None or isinstance(d, (int, np.integer)) for d in noise_shape)
        ):
            raise ValueError(
                "Dropout: invalid value received for argument `noise_shape`. Expected a tuple "
                f"or list of integers (None for the input's size). Received: {noise_shape!r}"
            )
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.noise_shape = (
            tuple(None if d is None else int(d) for d in noise_shape)
            if noise_shape is not None
            else None
        )
        self.seed = seed
        self._generator: torch.Generator | None = None

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if training is None:
            training = self.training
        if not training or self.rate == 0:
            return inputs
        if self.noise_shape is None and self.seed is None:
            return F.dropout(inputs, self.rate, True)
        noise_shape = self.noise_shape or tuple(inputs.shape)
        shape = tuple(s if d is None else d for d, s in zip(noise_shape, inputs.shape))
        if self.seed is not None and self._generator is None:
            self._generator = torch.Generator(device=inputs.device).manual_seed(self.seed)
        keep = torch.rand(shape, device=inputs.device, generator=self._generator) >= self.rate
        return inputs * keep.to(inputs.dtype) / (1 - self.rate)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class Identity(Layer):
    """Return the inputs unchanged (a placeholder, or a name in a graph).

    Example:
        >>> import torch
        >>> from lamina.layers import Identity
        >>> Identity()(torch.tensor([1.0, 2.0]))
        tensor([1., 2.])
    """

    supports_masking = True

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


class Flatten(Layer):
    """Flatten all axes but the batch axis: `(batch, 4, 2)` becomes `(batch, 8)`."""

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.reshape(inputs.shape[0], -1)


class Reshape(Layer):
    """Reshape each sample to `target_shape` (the batch axis is kept).

    Args:
        target_shape: the new shape without the batch axis; one entry may be -1.

    Example:
        >>> from lamina import Input
        >>> from lamina.layers import Reshape
        >>> Reshape((4, 1, 1))(Input(shape=(4,))).shape
        (None, 4, 1, 1)
    """

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        target = tuple(int(d) for d in target_shape)
        if target.count(-1) > 1 or any(d < -1 or d == 0 for d in target):
            raise ValueError(
                f"Reshape: expected positive sizes and at most one -1, received {target}."
            )
        super().__init__(**kwargs)
        self.target_shape = target

    def build(self, input_shape: Shape) -> None:
        self.check_input_shape(input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        sizes = shapes[1:]
        if any(d is None for d in sizes):
            return
        count = math.prod(sizes)
        known = math.prod(d for d in self.target_shape if d != -1)
        if (count % known) if -1 in self.target_shape else (count != known):
            wanted = f"a multiple of {known}" if -1 in self.target_shape else str(known)
            raise LayerError(
                f"Reshape '{self.name}': cannot reshape {format_shape(shapes)} into "
                f"{format_shape(self.target_shape)}: {count} values vs {wanted}."
            )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.reshape(inputs.shape[0], *self.target_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The target shape; its -1 is known only when every input size is (Keras's rule)."""
        sizes = input_shape[1:]
        if -1 not in self.target_shape:
            return (input_shape[0], *self.target_shape)
        if any(d is None for d in sizes):
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        known = math.prod(d for d in self.target_shape if d != -1)
        missing = math.prod(sizes) // known  # type: ignore[arg-type]
        return (input_shape[0], *(missing if d == -1 else d for d in self.target_shape))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": self.target_shape}

    def extra_repr(self) -> str:
        return format_shape(self.target_shape)


class Permute(Layer):
    """Permute the non-batch axes; `dims` counts from 1, as in Keras.

    Args:
        dims: a permutation of `1..ndim-1`; `(2, 1)` swaps the two axes of a 3-D input.
    """

    def __init__(self, dims: Sequence[int], **kwargs: Any) -> None:
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: expected a permutation of 1..{len(dims)}, received {dims}.")
        super().__init__(**kwargs)
        self.dims = dims

    def build(self, input_shape: Shape) -> None:
        self.check_input_shape(input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        if len(shapes) != len(self.dims) + 1:
            raise self.incompatible_shape(
                (None,) + ("?",) * len(self.dims), shapes, f"dims={self.dims}"
            )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.permute(0, *self.dims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """Repeat a `(batch, features)` input `n` times: `(batch, n, features)`."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"RepeatVector: expected an integer value for `n`, got {n!r}.")
        if n <= 0:
            raise ValueError(
                f"RepeatVector: argument `n` should be a positive integer. Received: n={n}"
            )
        super().__init__(**kwargs)
        self.n = int(n)

    def build(self, input_shape: Shape) -> None:
        self.check_input_shape(input_shape)

    def check_input_shape(self, shapes: Any) -> None:
        if len(shapes) != 2:
            raise self.incompatible_shape((None, "features"), shapes, "2-D input")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.unsqueeze(1).repeat(1, self.n, 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}
